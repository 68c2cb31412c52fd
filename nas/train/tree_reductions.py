"""Whole-pytree reductions (all finite, squared norm) that compile to few kernels.

XLA:CPU compiles every reduction into its own kernel, so reducing a pytree leaf by
leaf costs one kernel per leaf, and a supernet has hundreds of leaves, most of them
small (norm scales and biases, squeeze-excite layers, per-channel statistics). A
training step checks its gradients, parameters, statistics and optimizer state
every step, which made that bookkeeping a large share of the step's compile time.
Here small leaves are concatenated (a copy of a few thousand numbers) and reduced
together; large leaves are reduced one by one, without a copy. Every entry is
still read.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

# Leaves up to this many entries are reduced together: their copy into one array costs
# next to nothing, and a kernel per leaf costs compile time.
SMALL_LEAF = 1 << 14


def _parts(tree) -> list[jax.Array]:
    """The floating leaves of `tree`: large ones as they are, small ones concatenated per dtype."""
    large, small = [], {}
    for leaf in jax.tree.leaves(tree):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            continue
        if jnp.size(leaf) > SMALL_LEAF:
            large.append(leaf)
        else:
            small.setdefault(dtype, []).append(jnp.ravel(leaf))
    return large + [jnp.concatenate(leaves) if len(leaves) > 1 else leaves[0] for leaves in small.values()]


def all_finite(tree) -> jax.Array:
    """One bool: every entry of every floating leaf of `tree` is finite."""
    # x * 0 is 0 for a finite x and NaN for NaN or inf, so one sum per part tells, and the
    # sum cannot overflow on large finite values as a plain sum could.
    sums = [jnp.sum(part * 0, dtype=jnp.float32) for part in _parts(tree)]
    return jnp.isfinite(sum(sums)) if sums else jnp.bool_(True)


def squared_norm(tree) -> jax.Array:
    """The sum of squares of every floating entry of `tree` (float32)."""
    sums = [jnp.sum(jnp.square(part.astype(jnp.float32))) for part in _parts(tree)]
    return sum(sums) if sums else jnp.zeros((), jnp.float32)


def norm(tree) -> jax.Array:
    """The global L2 norm of `tree`, as `optax.tree.norm`, in fewer kernels."""
    return jnp.sqrt(squared_norm(tree))
