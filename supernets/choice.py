"""Single-path choice: one of a few candidate operations, picked by a decision.

`run_choice(index, module, x, branches)` computes `branches[index](module, x)`:

* `index` a Python int (a fixed arch, or a standalone model): only that branch runs;
* `index` traced (masked lowering): every branch runs on the same input and the
  same batch statistics; the chosen branch's output and updated statistics are
  kept with `jnp.where`, so the other branches get exactly zero gradient and
  leave their statistics where they were. One compile serves every choice.

Branches may share weights (an entangled candidate reads a prefix or a centre of
a larger one) or use separate sub-modules; the choice does not know which.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from supernets.masks import select


def _copy(state):
    # A copy by value: `nnx.state` holds the live variables a branch mutates.
    return jax.tree.map(lambda value: value, state)


def run_choice(index, module: nnx.Module, x, branches: Sequence[Callable]):
    """`branches[index](module, x)`; with a traced `index`, all run and the chosen one is kept."""
    if isinstance(index, int):
        return branches[index](module, x)
    before = _copy(nnx.state(module, nnx.BatchStat))
    y, stats = None, None
    for position, branch in enumerate(branches):
        nnx.update(module, before)
        out = branch(module, x)
        after = _copy(nnx.state(module, nnx.BatchStat))
        if position == 0:
            y, stats = out, after
        else:
            chosen = index == position
            y = jnp.where(chosen, out, y)
            stats = select(chosen, after, stats)
    nnx.update(module, stats)
    return y
