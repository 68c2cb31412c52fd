"""Freeze what a step did not train: no drift of unused weight slices.

Momentum, Adam's moments and weight decay all move a parameter even when its
gradient is zero. In a supernet that is wrong: the channels and blocks no
sampled subnet used this step would keep drifting (decaying toward zero, or
coasting on old momentum), and small subnets' weights would change while only
large ones trained. `freeze_unused(inner)` wraps any optax transformation:
where the step's summed gradient is exactly zero the update is zero and the
inner state (every state leaf shaped like the parameters) keeps its old value.

"Used" is read from the gradient because the masked lowering guarantees that
weights outside every active slice get an exact zero (masks are `jnp.where`,
never multiplications); a used weight whose gradient happens to be exactly
zero for the whole batch (a dead unit) is frozen for that step too, as it
would be in a framework that only updates touched slices.
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


def freeze_unused(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    def init(params):
        return FrozenUnusedState(inner.init(params))

    def update(grads, state, params=None):
        used = jax.tree.map(lambda g: g != 0, grads)
        updates, new_inner = inner.update(grads, state.inner, params)
        updates = jax.tree.map(lambda u, keep: jnp.where(keep, u, jnp.zeros((), u.dtype)), updates, used)
        new_inner = _freeze_state(new_inner, state.inner, used, jax.tree.structure(grads))
        return updates, FrozenUnusedState(new_inner)

    return optax.GradientTransformation(init, update)
