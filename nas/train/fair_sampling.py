"""FairNAS strict fairness for single-path spaces.

Each step trains m = (number of choices) archs built from one random
permutation per decision, so every choice of every decision is trained exactly
once per step and all choices receive the same number of updates. Only
defined when every decision is always active and has the same number of choices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.errors import ConfigError
from nas.space import Space
from nas.train.sampling import SinglePhase, step_rng


def check_single_path(space: Space) -> int:
    counts = set(space.choice_counts)
    conditional = [d.name for d in space.free if d.when is not None]
    if conditional:
        raise ConfigError(f"strict fairness needs a single-path space (every decision always active); "
                          f"{space.name!r} has conditional decisions {', '.join(conditional[:3])}...")
    if len(counts) != 1:
        raise ConfigError(f"strict fairness needs the same number of choices per decision; "
                          f"{space.name!r} has {sorted(counts)}")
    return counts.pop()


@dataclass(frozen=True)
class FairSampling(SinglePhase):
    def static_archs(self, space: Space, phase: str = "main"):
        return None, None

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        choices = check_single_path(space)
        rng = step_rng(seed, step)
        return np.stack([rng.permutation(choices) for _ in range(space.num_decisions)], axis=1).astype(np.int32)
