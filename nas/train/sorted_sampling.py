"""SortedNet-style sorted sampling: nested sub-models by a shared level.

Sub-model `level` (0 = smallest, L-1 = largest) takes, in every decision that
matches `decisions` (name patterns; default: all), the choice at the same
relative position: index round(level / (L - 1) * (n - 1)) of its n sorted
choices; other decisions stay at their largest. So the sub-models are nested
prefixes of each other and L = the largest number of choices. Each step trains
`num_models` distinct levels at once, their gradients accumulated (the step's
scan), plus the largest as the static first arch.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np

from nas.errors import ConfigError
from nas.space import Space
from nas.train.sampling import SinglePhase, step_rng


@dataclass(frozen=True)
class SortedSampling(SinglePhase):
    num_models: int = 2
    decisions: tuple[str, ...] = ("*",)

    def _positions(self, space: Space) -> list[int]:
        positions = [p for p, d in enumerate(space.free)
                     if any(fnmatch.fnmatchcase(d.name, pattern) for pattern in self.decisions)]
        if not positions:
            raise ConfigError(f"sorted sampling: no decision of space {space.name!r} matches {list(self.decisions)}")
        return positions

    def num_levels(self, space: Space) -> int:
        return max(space.choice_counts[p] for p in self._positions(space))

    def model(self, space: Space, level: int) -> np.ndarray:
        """The index vector of sorted sub-model `level` (values ascending in each decision)."""
        levels = self.num_levels(space)
        vector = space.largest().to_vector().copy()
        for p in self._positions(space):
            decision = space.free[p]
            order = np.argsort([float(v) for v in decision.values], kind="stable")
            vector[p] = order[int(round(level / max(levels - 1, 1) * (len(order) - 1)))]
        return space.canonical(vector)

    def models(self, space: Space) -> list[np.ndarray]:
        return [self.model(space, level) for level in range(self.num_levels(space))]

    def static_archs(self, space: Space, phase: str = "main"):
        return space.largest(), None

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        levels = self.num_levels(space)
        if self.num_models > levels - 1:
            raise ConfigError(f"sorted sampling: {self.num_models} sub-models per step, but space "
                              f"{space.name!r} has only {levels - 1} below the largest")
        chosen = step_rng(seed, step).choice(levels - 1, size=self.num_models, replace=False)
        return np.stack([self.model(space, int(level)) for level in sorted(chosen)])
