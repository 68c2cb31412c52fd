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
from nas.train.sampling import SinglePhase, step_rng


@dataclass(frozen=True)
class CostStratifiedSampling(SinglePhase):
    num_random: int
    cost: Callable[[np.ndarray], np.ndarray] = field(compare=False)  # int32 vectors [n, D] -> cost [n] (> 0)
    candidates: int = 32
    smallest: bool = True   # False: no static smallest arch (see nas.train.sampling.SandwichSampling)

    @property
    def num_archs(self) -> int:
        return self.num_random + 1 + self.smallest

    def static_archs(self, space: Space, phase: str = "main"):
        return space.largest(), space.smallest() if self.smallest else None

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        rng = step_rng(seed, step)
        ends = np.log(np.asarray(self.cost(np.stack([space.smallest().to_vector(), space.largest().to_vector()])),
                                 float))
        chosen = []
        for _ in range(self.num_random):
            target = rng.uniform(ends[0], ends[1])
            pool = np.stack([space.sample(rng).to_vector() for _ in range(self.candidates)])
            log_cost = np.log(np.maximum(np.asarray(self.cost(pool), float), 1e-12))
            chosen.append(pool[int(np.argmin(np.abs(log_cost - target)))])
        return np.array(chosen, np.int32).reshape(self.num_random, space.num_decisions)
