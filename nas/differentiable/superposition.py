"""The relaxed lowering: a supernet run on probability vectors over each decision's choices.

The masked lowering reads each decision as a traced choice; here each reads as
a `supernets.relaxed.Relaxed` (its choices' values and their probabilities), and
the very same layers run:

* entangled decisions (nested widths, kernel sizes, expand ratios, heads), which
  the masked lowering expresses as a mask or a zero-padding of the largest
  weight, get the probability-weighted sum of those masks: one matmul or conv on
  the superposed weight (TangleNAS). Norms mix their per-width statistics;
* different op types (NB201 edges, single-path choices) are DARTS mixed ops,
  a weighted sum of each op's output (the edge's two convolutions superposed);
* depth is the weighted sum of the outputs after each candidate depth.

`mixed_op_apply` is the baseline: entangled decisions also run one op per
choice (each at its own size) and sum the outputs. At one-hot probabilities both
equal the masked lowering on that arch.
"""
from __future__ import annotations

import functools

import jax
import numpy as np
from flax import nnx

from nas.space import Space, Tie
from supernets.relaxed import Relaxed


@functools.lru_cache(maxsize=64)
def choice_values(space: Space) -> dict[str, tuple]:
    """Per free decision, what the network reads for each choice (as `Space.values`: ints, else indices)."""
    # One vector per (decision, choice), the others at the largest arch, which keeps every condition
    # true, so each decision is read while active.
    base = space.largest().to_vector()
    vectors = []
    for position, decision in enumerate(space.free):
        for index in range(len(decision)):
            vector = base.copy()
            vector[position] = index
            vectors.append(vector)
    with jax.ensure_compile_time_eval():  # concrete even when first called inside jit
        read = {name: np.asarray(values) for name, values in space.values(np.stack(vectors)).items()}
    table, row = {}, 0
    for decision in space.free:
        table[decision.name] = tuple(int(v) for v in read[decision.name][row:row + len(decision)])
        row += len(decision)
    return table


def relaxed_values(space: Space, probs: dict, *, per_choice: bool = False) -> dict[str, Relaxed]:
    """The `arch` mapping a network reads: per decision (ties read their source) a `Relaxed`."""
    table = choice_values(space)
    free = {d.name: Relaxed(table[d.name], probs[d.name], per_choice) for d in space.free}
    return {d.name: free[d.source if isinstance(d, Tie) else d.name] for d in space.decisions}


def superposed_apply(graphdef, params, stats, space: Space, x, probs: dict, *, train: bool):
    """Logits under `probs` ({decision: [n_choices]}, e.g. softmax(alpha)) and the updated batch stats."""
    return _relaxed_apply(graphdef, params, stats, space, x, probs, train=train, per_choice=False)


def mixed_op_apply(graphdef, params, stats, space: Space, x, probs: dict, *, train: bool):
    """`superposed_apply`, but every decision a weighted sum of one forward per choice (DARTS mixed op)."""
    return _relaxed_apply(graphdef, params, stats, space, x, probs, train=train, per_choice=True)


def _relaxed_apply(graphdef, params, stats, space, x, probs, *, train, per_choice):
    model = nnx.merge(graphdef, params, stats, copy=True)
    logits = model(x, train=train, arch=relaxed_values(space, probs, per_choice=per_choice))
    return logits, nnx.state(model, nnx.BatchStat)
