"""AttentiveNAS's best-up / worst-up sampling (Wang et al. 2021), on the minibatch loss.

Each random subnet of the sandwich step first draws a target log cost uniformly (as
`nas.train.cost_sampling`), takes the `candidates` archs of its uniform pool nearest that cost, and then
keeps the candidate the current supernet finds easiest (`best`, "BestUp") or hardest (`worst`,
"WorstUp") on the step's own batch: the lowest or highest loss, in evaluation mode. AttentiveNAS reported
WorstUp improving the Pareto front's weakest models; it costs `candidates` forward passes per random
subnet per step. The choice depends on the weights, so a resumed run chooses exactly as an uninterrupted
one only from the restored state, which the checkpoint holds.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import jax
import numpy as np

from nas.lowering import masked_apply
from nas.space import Space
from nas.train.losses import cross_entropy
from nas.train.cost_sampling import near_targets
from nas.train.sampling import SamplingPolicy, SandwichEnds, SinglePhase, step_rng


@runtime_checkable
class LossAwareSampling(SamplingPolicy, Protocol):
    """A policy whose choice reads the current weights: the loop scores its candidates on the step's batch."""

    def candidate_archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        """int32 [groups, candidates, D]."""

    def choose(self, candidates: np.ndarray, losses: np.ndarray) -> np.ndarray:
        """int32 [groups, D]: one candidate per group, given the candidates' losses (flattened)."""


@dataclass(frozen=True)
class AttentiveSampling(SandwichEnds, SinglePhase):
    num_random: int
    cost: Callable[[np.ndarray], np.ndarray] = field(compare=False)
    pick: str = "worst"          # worst | best
    candidates: int = 4
    pool: int = 32
    smallest: bool = True

    def __post_init__(self):
        if self.pick not in ("worst", "best"):
            raise ValueError(f"AttentiveSampling: pick must be worst or best, got {self.pick!r}")
        if not 1 <= self.candidates <= self.pool:
            raise ValueError(f"AttentiveSampling: need 1 <= candidates <= pool, got {self.candidates}, {self.pool}")

    def candidate_archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        """int32 [num_random, candidates, D]: per random subnet, the pool archs nearest its target cost."""
        return near_targets(space, step_rng(seed, step), self.cost, self.num_random, self.pool, self.candidates)

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        """Without losses (config checks): each group's nearest candidate."""
        return self.candidate_archs(space, seed, step)[:, 0]

    def choose(self, candidates: np.ndarray, losses: np.ndarray) -> np.ndarray:
        """int32 [num_random, D]: per group, the candidate with the highest (worst) or lowest (best) loss."""
        losses = np.asarray(losses, float).reshape(candidates.shape[:2])
        index = np.argmax(losses, axis=1) if self.pick == "worst" else np.argmin(losses, axis=1)
        return candidates[np.arange(len(candidates)), index].astype(np.int32)


def make_candidate_losses(graphdef, space: Space):
    """jit: (params, stats, images, labels, vectors [n, D]) -> eval-mode cross-entropy [n] on that batch."""
    def losses(params, stats, images, labels, vectors):
        def one(vector):
            logits, _ = masked_apply(graphdef, params, stats, space, images, vector, train=False)
            return cross_entropy(logits, labels)
        return jax.lax.map(one, vectors)
    return jax.jit(losses)
