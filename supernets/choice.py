"""Single-path choice: one of a few candidate operations, picked by a decision.

`run_choice(index, module, x, branches)` computes `branches[index](module, x)`:

* `index` a Python int (a fixed arch, or a standalone model): only that branch runs;
* `index` traced (masked lowering): every branch runs on the same input and the
  same batch statistics; the chosen branch's output and updated statistics are
  kept with `jnp.where`, so the other branches get exactly zero gradient and
  leave their statistics where they were. One compile serves every choice;
* `index` relaxed (`supernets.relaxed.Relaxed` over branch indices): the DARTS
  mixed op, every branch's output weighted by its probability (`mix_branches`).

Branches may share weights (an entangled candidate reads a prefix or a centre of
a larger one) or use separate sub-modules; the choice does not know which.
`run_per_choice` gives entangled decisions the mixed-op form too (one op per
choice), the baseline that superposition is compared with.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import jax.numpy as jnp
from flax import nnx

from supernets.dispatch import switch_block
from supernets.masks import copy_state, select
from supernets.relaxed import Relaxed, soft_select


def run_choice(index, module: nnx.Module, x, branches: Sequence[Callable], *, switch: bool = False,
               remat: bool = False):
    """`branches[index](module, x)`; with a traced `index`, all run and the chosen one is kept, or with
    `switch` only the chosen one runs (`lax.switch`; the branches must return one shape; `remat` as
    `supernets.dispatch.switch_block`)."""
    if isinstance(index, int):
        return branches[index](module, x)
    if isinstance(index, Relaxed):
        weights = [index.probability(lambda value, b=b: value == b) for b in range(len(branches))]
        return mix_branches(weights, module, x, branches)
    if switch:
        return switch_block(index, module, x, branches, remat=remat)
    before = copy_state(nnx.state(module, nnx.BatchStat))
    y, stats = None, None
    for position, branch in enumerate(branches):
        nnx.update(module, before)
        out = branch(module, x)
        after = copy_state(nnx.state(module, nnx.BatchStat))
        if position == 0:
            y, stats = out, after
        else:
            chosen = index == position
            y = jnp.where(chosen, out, y)
            stats = select(chosen, after, stats)
    nnx.update(module, stats)
    return y


def mix_branches(weights, module: nnx.Module, x, branches: Sequence[Callable]):
    """DARTS mixed op: sum_i weights[i] * branches[i](module, x), every branch from the same statistics.

    The updated running statistics are mixed with the same weights (exactly the
    taken branch's at one-hot weights). Outputs narrower than the widest on the
    last axis (a branch run at its own width) are zero-padded to it first.
    """
    before = copy_state(nnx.state(module, nnx.BatchStat))
    outputs, stats = [], []
    for branch in branches:
        nnx.update(module, before)
        outputs.append(branch(module, x))
        stats.append(copy_state(nnx.state(module, nnx.BatchStat)))
    widest = max(out.shape[-1] for out in outputs)
    outputs = [jnp.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, widest - out.shape[-1])]) for out in outputs]
    nnx.update(module, soft_select(weights, stats))
    return soft_select(weights, outputs)


def run_per_choice(module: nnx.Module, x, call: Callable, **decisions):
    """`call(module, x, **decisions)`; with `per_choice` relaxed decisions, one call per joint choice.

    The mixed-op form of entangled decisions: every combination of the relaxed
    decisions' values runs as its own op (static values: each at its own size,
    as a separate candidate op would), weighted by the product of their
    probabilities. Without such decisions the call runs once (superposition, a
    traced or a fixed arch).
    """
    mixed = {name: value for name, value in decisions.items() if isinstance(value, Relaxed) and value.per_choice}
    if not mixed:
        return call(module, x, **decisions)
    names = list(mixed)
    branches, weights = [], []
    for picks in itertools.product(*(range(len(mixed[name].values)) for name in names)):
        fixed = {name: mixed[name].values[i] for name, i in zip(names, picks)}
        weight = mixed[names[0]].probs[picks[0]]
        for name, i in zip(names[1:], picks[1:]):
            weight = weight * mixed[name].probs[i]
        branches.append(lambda m, h, fixed=fixed: call(m, h, **{**decisions, **fixed}))
        weights.append(weight)
    return mix_branches(weights, module, x, branches)
