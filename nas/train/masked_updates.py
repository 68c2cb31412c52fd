"""Freeze what a step did not train: no drift of unused weight slices.

Momentum, Adam's moments and weight decay all move a parameter even when its
gradient is zero. In a supernet that is wrong: the channels and blocks no
sampled subnet used this step would keep drifting (decaying toward zero, or
coasting on old momentum), and small subnets' weights would change while only
large ones trained. `freeze_unused(inner)` wraps any optax transformation:
where the step's summed gradient is exactly zero the update is zero and the
inner state (every state leaf shaped like the parameters) keeps its old value.

"Used" is known exactly for archs fixed for the whole run (the sandwich rule's
largest and smallest): the step passes their usage (`nas.lowering.param_usage`,
computed once on the host) as `always_used`. For the traced archs it is read
from the gradient, because the masked lowering gives weights outside every
active slice an exact zero (masks are `jnp.where`, never multiplications). A
used weight whose gradient is exactly zero is frozen for that step too: a dead
unit, or a weight whose gradient vanishes mathematically (a bias feeding a
train-mode BatchNorm, whose mean subtraction removes it). The latter comes out
as rounding noise or as an exact zero depending on the order of the batch
reduction, so without `always_used` the frozen set, and from there the run,
depends on the number of devices; with the largest subnet in every step every
entry is always used and the freeze is exact.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class FrozenUnusedState(NamedTuple):
    inner: optax.OptState


def _is_param_shaped(tree, params_structure) -> bool:
    try:
        return jax.tree.structure(tree) == params_structure
    except Exception:  # noqa: BLE001 -- an unflattenable node is simply not param-shaped
        return False


def _freeze_state(new, old, used, params_structure):
    """Keep `old` wherever `used` is False, in every param-shaped subtree of an optax state."""
    if _is_param_shaped(new, params_structure):
        return jax.tree.map(lambda n, o, u: jnp.where(u, n, o), new, old, used)
    if isinstance(new, tuple) and type(new) is not tuple and hasattr(new, "_fields"):  # NamedTuple
        return type(new)(*(_freeze_state(n, o, used, params_structure) for n, o in zip(new, old)))
    if isinstance(new, (tuple, list)):
        return type(new)(_freeze_state(n, o, used, params_structure) for n, o in zip(new, old))
    return new  # counts, schedules' step: shared by all parameters


def freeze_unused(inner: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """`inner`, frozen where the step's gradient is exactly zero and `always_used` (bool, params-shaped) is False."""
    def init(params):
        return FrozenUnusedState(inner.init(params))

    def update(grads, state, params=None, *, always_used=None, **extra_args):
        used = jax.tree.map(lambda g: g != 0, grads)
        if always_used is not None:
            used = jax.tree.map(jnp.logical_or, used, always_used)
        updates, new_inner = optax.with_extra_args_support(inner).update(grads, state.inner, params, **extra_args)
        updates = jax.tree.map(lambda u, keep: jnp.where(keep, u, jnp.zeros((), u.dtype)), updates, used)
        new_inner = _freeze_state(new_inner, state.inner, used, jax.tree.structure(grads))
        return updates, FrozenUnusedState(new_inner)

    return optax.GradientTransformationExtraArgs(init, update)
