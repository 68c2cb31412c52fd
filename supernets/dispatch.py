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
from typing import Protocol

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from supernets.relaxed import Relaxed


def switch_block(index, block: nnx.Module, x, branches: Sequence[Callable], *, remat: bool = False):
    """`branches[index](block, x)` with one compile for all branches; `block`'s stats are updated.

    `remat`: each branch recomputes its forward in the backward pass (`jax.checkpoint`). Under `grad`, a
    switch carries the residuals of every branch (zeros for those not taken) out of the forward; where
    branches hold large intermediates (a graph layer's per-edge messages) writing those zeros costs more
    than the branch itself, while its inputs are all a rematerialised branch needs.
    """
    graphdef, stats, params = nnx.split(block, nnx.BatchStat, ...)

    def lift(branch):
        def run(params, stats, x):
            module = nnx.merge(graphdef, stats, params, copy=True)
            y = branch(module, x)
            return y, nnx.state(module, nnx.BatchStat)
        return jax.checkpoint(run) if remat else run

    y, new_stats = lax.switch(index, [lift(branch) for branch in branches], params, stats, x)
    nnx.update(block, new_stats)
    return y


def choice_index(value, values: Sequence):
    """The position of a traced `value` among static `values` (0 where it is none of them), for `lax.switch`."""
    return sum(jnp.where(value == v, i, 0) for i, v in enumerate(values))


def identity(block: nnx.Module, x):
    """The branch of a block that elastic depth skips."""
    return x


class OpChoiceLayer(Protocol):
    """A layer choosing one of several named ops (an NB201 cell edge, a macro-chain layer).

    It knows how to run each op and how to run a traced or relaxed choice; `call_op_choice` decides
    which of those a given `op` value needs, so every such layer dispatches the same way.
    """

    ops: Sequence[str]  # the ops this layer holds, largest last

    def run_op(self, op: str, x, train: bool): ...

    def run_masked(self, x, op, train: bool): ...

    def run_relaxed(self, x, op: Relaxed, train: bool): ...


def call_op_choice(layer: OpChoiceLayer, x, op, *, train: bool, switch: bool, names: Sequence[str]):
    """`layer` at `op`: None (its largest op), an op name (static: that op alone), a `Relaxed`
    (differentiable search), or a traced index into `names`, run switched (only the chosen op, one
    branch per name) with `switch`, else masked."""
    if op is None:
        op = layer.ops[-1]
    if isinstance(op, str):
        return layer.run_op(op, x, train)
    if isinstance(op, Relaxed):
        return layer.run_relaxed(x, op, train)
    if switch:
        return switch_block(op, layer, x, [lambda module, h, name=name: module.run_op(name, h, train)
                                           for name in names])
    return layer.run_masked(x, op, train)
