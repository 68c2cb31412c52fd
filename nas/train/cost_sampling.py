"""Sandwich training whose random subnets cover the cost range evenly (AttentiveNAS's targeted sampling).

Uniform samples of a space concentrate at middling cost, so the cheap and expensive ends, where budgeted
searches decide, get few updates of their own. Here each random subnet of a step first draws a target
log cost uniformly between the smallest and the largest arch's, then keeps, of `candidates` uniform
samples, the one whose log cost is nearest the target. The largest and smallest are trained every step,
as in the sandwich rule. Stateless given (seed, step), as every policy (nas.train.sampling).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nas.space import Space
from nas.train.sampling import SandwichEnds, SinglePhase, step_rng


def near_targets(space: Space, rng: np.random.Generator, cost, count: int, pool: int, keep: int) -> np.ndarray:
    """int32 [count, keep, D]: per target log cost (uniform between the smallest's and the largest's), the
    `keep` archs of a fresh `pool` of uniform samples whose log cost is nearest it."""
    ends = np.log(np.asarray(cost(np.stack([space.smallest().to_vector(), space.largest().to_vector()])), float))
    groups = []
    for _ in range(count):
        target = rng.uniform(ends[0], ends[1])
        archs = np.stack([space.sample(rng).to_vector() for _ in range(pool)])
        distance = np.abs(np.log(np.maximum(np.asarray(cost(archs), float), 1e-12)) - target)
        groups.append(archs[np.argsort(distance, kind="stable")[:keep]])
    return np.array(groups, np.int32).reshape(count, keep, space.num_decisions)


@dataclass(frozen=True)
class CostStratifiedSampling(SandwichEnds, SinglePhase):
    num_random: int
    cost: Callable[[np.ndarray], np.ndarray] = field(compare=False)  # int32 vectors [n, D] -> cost [n] (> 0)
    candidates: int = 32
    smallest: bool = True   # False: no static smallest arch (see nas.train.sampling.SandwichSampling)

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        return near_targets(space, step_rng(seed, step), self.cost, self.num_random, self.candidates, 1)[:, 0]
