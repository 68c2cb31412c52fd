"""Elastic depth: a stage runs its first `depth` blocks; the rest are identity."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp
from flax import nnx

from supernets.dispatch import identity, switch_block
from supernets.masks import copy_state, select
from supernets.relaxed import Relaxed, soft_select


def run_elastic_depth(blocks: Sequence[nnx.Module], x, depth, call: Callable, min_depth: int = 0, *,
                      switch: bool = False):
    """Apply `call(index, block, x)` for each block; blocks at index >= `depth` pass `x` through.

    `depth` None or a Python int: blocks are run or skipped statically. A traced
    depth (masked lowering) runs every block and selects with `jnp.where`; a
    skipped block's running statistics (BatchStat) are restored, so it neither
    moves its weights (zero gradient through `where`) nor its statistics. With
    `switch`, a traced depth runs each block that depth may skip as a `lax.switch`
    with identity (`supernets.dispatch`): a skipped block costs nothing.
    A relaxed depth (`Relaxed` over depths) returns the probability-weighted sum
    of the outputs after each candidate depth (TangleNAS, as DARTS mixes ops).
    """
    if isinstance(depth, Relaxed):
        return _mixed_depth(blocks, x, depth, call, min_depth)
    for index, block in enumerate(blocks):
        if depth is None or index < min_depth:
            x = call(index, block, x)
        elif isinstance(depth, int):
            if index < depth:
                x = call(index, block, x)
        elif switch:
            x = switch_block(jnp.where(index < depth, 1, 0), block, x,
                             [identity, lambda block, h, index=index: call(index, block, h)])
        else:
            active = index < depth
            before = copy_state(nnx.state(block, nnx.BatchStat))
            y = call(index, block, x)
            nnx.update(block, select(active, nnx.state(block, nnx.BatchStat), before))
            x = jnp.where(active, y, x)
    return x


def _mixed_depth(blocks, x, depth: Relaxed, call: Callable, min_depth: int):
    """sum_d P(depth = d) * (output of the first d blocks); blocks no depth of non-zero probability
    runs keep their running statistics (exactly the masked lowering's at a one-hot depth)."""
    outputs = {0: x}
    for index, block in enumerate(blocks):
        if index < min_depth:
            x = call(index, block, x)
        else:
            runs = depth.probability(lambda d, index=index: d > index) > 0
            before = copy_state(nnx.state(block, nnx.BatchStat))
            x = call(index, block, x)
            nnx.update(block, select(runs, nnx.state(block, nnx.BatchStat), before))
        outputs[index + 1] = x
    return soft_select(depth.probs, [outputs[max(d, min_depth)] for d in depth.values])
