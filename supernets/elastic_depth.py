"""Elastic depth: a stage runs its first `depth` blocks; the rest are identity."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from supernets.masks import select


def run_elastic_depth(blocks: Sequence[nnx.Module], x, depth, call: Callable, min_depth: int = 0):
    """Apply `call(index, block, x)` for each block; blocks at index >= `depth` pass `x` through.

    `depth` None or a Python int: blocks are run or skipped statically. A traced
    depth (masked lowering) runs every block and selects with `jnp.where`; a
    skipped block's running statistics (BatchStat) are restored, so it neither
    moves its weights (zero gradient through `where`) nor its statistics.
    """
    for index, block in enumerate(blocks):
        if depth is None or index < min_depth:
            x = call(index, block, x)
        elif isinstance(depth, int):
            if index < depth:
                x = call(index, block, x)
        else:
            active = index < depth
            # A copy by value: `nnx.state` holds the live variables the block mutates.
            before = jax.tree.map(lambda value: value, nnx.state(block, nnx.BatchStat))
            y = call(index, block, x)
            nnx.update(block, select(active, nnx.state(block, nnx.BatchStat), before))
            x = jnp.where(active, y, x)
    return x
