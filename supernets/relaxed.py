"""A relaxed decision: a probability vector over a decision's choices (differentiable search).

The masked lowering reads each decision as a traced int (one choice) and turns it
into masks in `supernets.masks`. A `Relaxed` value is read at the same places:
every mask a choice would give becomes the probability-weighted sum of the
choices' masks (a soft mask). Masking a layer's weights with a soft mask is the
weighted sum of the choices' zero-padded weight slices, so an entangled layer
still runs ONE matmul or convolution on the combined weight: TangleNAS's
superposition. At a one-hot probability vector every soft mask is exactly that
choice's mask, so the relaxed forward equals the masked one.

`per_choice` asks for the other form, the DARTS mixed op: blocks run once per
choice (at its own size) and their outputs are summed with the probabilities
(`supernets.choice.run_per_choice`). It serves as the baseline superposition is
compared with.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp


@jax.tree_util.register_pytree_node_class
class Relaxed:
    """`values` (static Python scalars, one per choice) with traced `probs` (float [n], summing to 1)."""

    def __init__(self, values: Sequence, probs, per_choice: bool = False):
        self.values = tuple(values)
        self.probs = probs
        self.per_choice = per_choice

    def tree_flatten(self):
        return (self.probs,), (self.values, self.per_choice)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(aux[0], children[0], aux[1])

    def __repr__(self) -> str:
        return f"Relaxed(values={self.values}, per_choice={self.per_choice})"

    def expect(self, fn: Callable):
        """sum_i probs[i] * fn(values[i]); `fn` gets each value as a Python scalar (static masks)."""
        total = None
        for value, prob in zip(self.values, self.probs):
            term = prob * fn(value)
            total = term if total is None else total + term
        return total

    def map(self, fn: Callable) -> "Relaxed":
        """The same probabilities over derived values (expand ratio -> channels, heads -> columns)."""
        return Relaxed(tuple(fn(v) for v in self.values), self.probs, self.per_choice)

    def __mul__(self, factor) -> "Relaxed":
        """Scaled values (heads -> columns); with another `Relaxed`, the product of two independent
        decisions (mlp ratio x width): every pair of values, with the product of their probabilities."""
        if not isinstance(factor, Relaxed):
            return self.map(lambda v: v * factor)
        values = tuple(a * b for a in self.values for b in factor.values)
        probs = (self.probs[:, None] * factor.probs[None, :]).reshape(-1)
        return Relaxed(values, probs, self.per_choice or factor.per_choice)

    __rmul__ = __mul__

    def probability(self, predicate: Callable):
        """P(predicate(value)): a traced scalar."""
        picked = [prob for value, prob in zip(self.values, self.probs) if predicate(value)]
        return sum(picked[1:], picked[0]) if picked else jnp.zeros((), jnp.float32)

    def possible(self, fn: Callable):
        """Elementwise: True where `fn(value)` (a bool array) holds for a value of non-zero probability.

        Running statistics move where a choice that reads them may be taken.
        """
        return self.expect(lambda v: jnp.asarray(fn(v), jnp.float32)) > 0

    def restrict(self, keep: Callable):
        """(P(keep), the distribution conditioned on keep(value)) over the kept values only.

        Where P(keep) is 0 the conditioned probabilities are 0 (not NaN), so the
        conditioned branch contributes zero, with finite gradients.
        """
        kept = [(v, p) for v, p in zip(self.values, self.probs) if keep(v)]
        total = sum((p for _, p in kept[1:]), kept[0][1])
        safe = jnp.where(total > 0, total, 1.0)
        probs = jnp.stack([jnp.where(total > 0, p / safe, 0.0) for _, p in kept])
        return total, Relaxed(tuple(v for v, _ in kept), probs, self.per_choice)


def is_relaxed(value) -> bool:
    return isinstance(value, Relaxed)


def soft_select(weights, outputs):
    """sum_i weights[i] * outputs[i] over pytrees of equal structure."""
    def combine(*leaves):
        total = weights[0] * leaves[0]
        for weight, leaf in zip(weights[1:], leaves[1:]):
            total = total + weight * leaf
        return total
    return jax.tree.map(combine, *outputs)
