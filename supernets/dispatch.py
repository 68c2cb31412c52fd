"""Run one of several statically shaped versions of a block, chosen by a traced index.

The masked lowering computes every block at its largest size, so a small
subnet costs as much as the largest. `switch_block` compiles one branch per
choice of a block's width decision (each branch slices the weights statically,
as the sliced lowering does) plus, where depth is elastic, an identity branch;
`lax.switch` then executes only the chosen one. Every arch still shares one
compile, and runs near its sliced cost.

Branches act on the block as an NNX module; its state (parameters and batch
statistics) is threaded through the switch explicitly, so a branch that is not
taken neither moves statistics nor receives gradients.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from flax import nnx
from jax import lax


def switch_block(index, block: nnx.Module, x, branches: Sequence[Callable]):
    """`branches[index](block, x)` with one compile for all branches; `block`'s stats are updated."""
    graphdef, stats, params = nnx.split(block, nnx.BatchStat, ...)

    def lift(branch):
        def run(params, stats, x):
            module = nnx.merge(graphdef, stats, params, copy=True)
            y = branch(module, x)
            return y, nnx.state(module, nnx.BatchStat)
        return run

    y, new_stats = lax.switch(index, [lift(branch) for branch in branches], params, stats, x)
    nnx.update(block, new_stats)
    return y


def identity(block: nnx.Module, x):
    """The branch of a block that elastic depth skips."""
    return x
