"""Freeze what a step did not train: no drift of unused weight slices.

Momentum, Adam's moments and weight decay all move a parameter even when its
gradient is zero. In a supernet that is wrong: the channels and blocks no
sampled subnet used this step would keep drifting (decaying toward zero, or
coasting on old momentum), and small subnets' weights would change while only
large ones trained. `freeze_unused(inner)` wraps any optax transformation:
where the step's summed gradient is exactly zero the update is zero and the
inner state (every state leaf that belongs to one parameter, found by its key
path, so any chain, `masked` or `multi_transform` is covered) keeps its old value.

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


def _freeze_state(new, old, used, params):
    """Keep `old` wherever `used` is False, in every state leaf that belongs to one parameter.

    A state leaf belongs to parameter p when its key path ends with p's key path and it has p's shape:
    `mu`/`nu`/`trace` of any chain, and the same under `multi_transform`/`masked`, whose per-label
    states hold the parameter tree with the other labels' entries cut out (so the tree's structure
    cannot be compared to the parameters', but each leaf's path can). Anything else (step counts,
    schedules, scalars a transformation shares across parameters) is taken as updated.
    """
    param_paths = {tuple(path): (leaf_used, jnp.shape(leaf)) for (path, leaf), leaf_used in zip(
        jax.tree_util.tree_flatten_with_path(params)[0], jax.tree.leaves(used))}
    longest = max((len(path) for path in param_paths), default=0)

    def keep(path, new_leaf, old_leaf):
        for start in range(max(0, len(path) - longest), len(path)):
            match = param_paths.get(tuple(path[start:]))
            if match is not None and match[1] == jnp.shape(new_leaf):
                return jnp.where(match[0], new_leaf, old_leaf)
        return new_leaf

    return jax.tree_util.tree_map_with_path(keep, new, old)


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
        new_inner = _freeze_state(new_inner, state.inner, used, grads)
        return updates, FrozenUnusedState(new_inner)

    return optax.GradientTransformationExtraArgs(init, update)
