"""The one place that turns active sizes into masks.

Every elastic layer receives each active size in one of three forms:

* a traced int32 scalar: masked lowering, static shapes, one compile for every arch;
* a Python int: static slicing inside jit -- the layer computes with the
  leading slice of its weights and returns exactly-shaped outputs, so a fixed
  arch (the sandwich rule's largest and smallest) runs at its own cost, and
  gradients flow into the slice of the shared weights;
* `None`: the layer is used at its full size (standalone model);
* a `Relaxed` probability vector over the choices (differentiable search,
  `supernets.relaxed`): each mask becomes the probability-weighted sum of the
  choices' masks, so one matmul or convolution runs on the superposed weight.

A layer's input width is always read from the input's shape. Masking
is always `jnp.where`, never a multiplication, so that no value (not even inf
or NaN) leaks out of an inactive channel and inactive weights get exactly zero
gradient. Only soft masks multiply: there the product with the probabilities is
the point (it is the superposition, and it carries alpha's gradient).
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from supernets.relaxed import Relaxed


def prefix_mask(active, size: int):
    """bool[size]: True for the first `active` entries."""
    return jnp.arange(size) < active


def is_traced(active) -> bool:
    return active is not None and not isinstance(active, int)


def static_width(active, size: int) -> int:
    """How many channels to compute: the static width, else all of them."""
    return active if isinstance(active, int) else size


def soft_prefix_mask(active: Relaxed, size: int):
    """float[size]: the expected prefix mask, P(width > i) for channel i."""
    return active.expect(lambda width: prefix_mask(width, size).astype(jnp.float32))


def mask_last_axis(x, active):
    """Zero every channel at or beyond a traced `active` (static or None: nothing to mask).

    A relaxed width scales channel i by P(width > i): the superposition of the
    choices' zero-padded outputs (masking stays a `where` for traced ints).
    """
    if isinstance(active, Relaxed):
        return x * soft_prefix_mask(active, x.shape[-1]).astype(x.dtype)
    if not is_traced(active):
        return x
    return jnp.where(prefix_mask(active, x.shape[-1]), x, jnp.zeros((), x.dtype))


def statistics_mask(active, size: int):
    """bool[size]: the channels whose running statistics a traced or relaxed width moves."""
    if isinstance(active, Relaxed):
        return active.possible(lambda width: prefix_mask(width, size))
    return prefix_mask(active, size)


def lookup(value, table: Mapping[int, int]):
    """Map a decision value to a derived size (e.g. expand ratio -> channels).

    Static ints map through the dict; traced values through a `jnp.select`
    over the (few) table entries.
    """
    if value is None:
        return None
    if isinstance(value, int):
        return table[value]
    if isinstance(value, Relaxed):
        return value.map(table.__getitem__)
    keys = list(table)
    return jnp.select([value == k for k in keys], [jnp.int32(table[k]) for k in keys],
                      default=jnp.int32(table[keys[-1]]))


def copy_state(state):
    """A copy by value: `nnx.state` holds the live variables a module call mutates."""
    return jax.tree.map(lambda value: value, state)


def select(active, new, old):
    """Elementwise choose `new` where `active` (a traced bool scalar) else `old`; a pytree."""
    return jax.tree.map(lambda n, o: jnp.where(active, n, o), new, old)
