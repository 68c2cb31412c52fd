"""SortedNet-style sorted sampling: nested sub-models on a grid of shared levels.

An axis is a set of decision-name patterns that share one level. Sub-model
level `l` of an axis (0 = smallest, L-1 = largest) takes, in every decision of
the axis, the choice at the same relative position: index
round(l / (L - 1) * (n - 1)) of its n sorted choices, where L is the largest
number of choices on the axis. Several axes (for example depth, and the widths)
make a grid of sub-models, one level per axis (SortedNet's depth x width grid);
decisions on no axis stay at their largest. Sub-models are nested: raising any
axis's level only grows choices. Each step trains `num_models` distinct
sub-models below the largest at once, their gradients accumulated (the step's
scan), plus the largest as the static first arch.
"""
from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass

import numpy as np

from nas.errors import ConfigError
from nas.space import Space
from nas.train.sampling import SinglePhase, step_rng


@dataclass(frozen=True)
class SortedSampling(SinglePhase):
    num_models: int = 2
    axes: tuple[tuple[str, ...], ...] = (("*",),)

    def _axis_positions(self, space: Space) -> list[list[int]]:
        claimed: dict[int, int] = {}
        axes = []
        for index, patterns in enumerate(self.axes):
            positions = [p for p, d in enumerate(space.free)
                         if any(fnmatch.fnmatchcase(d.name, pattern) for pattern in patterns)]
            if not positions:
                names = [d.name for d in space.free]
                raise ConfigError(f"sorted sampling: no decision of space {space.name!r} matches {list(patterns)}; "
                                  f"its decisions are {names}")
            for p in positions:
                if p in claimed:
                    raise ConfigError(f"sorted sampling: decision {space.free[p].name!r} matches axes "
                                      f"{list(self.axes[claimed[p]])} and {list(patterns)}; each decision "
                                      f"belongs to at most one axis")
                claimed[p] = index
            axes.append(positions)
        return axes

    def grid_shape(self, space: Space) -> tuple[int, ...]:
        """Levels per axis."""
        return tuple(max(space.choice_counts[p] for p in positions) for positions in self._axis_positions(space))

    def cells(self, space: Space) -> list[tuple[int, ...]]:
        """Every sub-model's levels, in row-major grid order: the first is the smallest, the last the largest."""
        return list(itertools.product(*(range(n) for n in self.grid_shape(space))))

    def num_levels(self, space: Space) -> int:
        """Number of sub-models (grid cells)."""
        return int(np.prod(self.grid_shape(space)))

    def model(self, space: Space, cell: int | tuple[int, ...]) -> np.ndarray:
        """The index vector of the sub-model at `cell` (levels per axis; an int on a one-axis grid)."""
        levels = (cell,) if isinstance(cell, (int, np.integer)) else tuple(cell)
        shape = self.grid_shape(space)
        if len(levels) != len(shape) or any(not 0 <= level < n for level, n in zip(levels, shape)):
            raise ConfigError(f"sorted sampling: cell {levels} is outside the grid of levels {shape}")
        vector = space.largest().to_vector().copy()
        for level, count, positions in zip(levels, shape, self._axis_positions(space)):
            for p in positions:
                order = np.argsort([float(v) for v in space.free[p].values], kind="stable")
                vector[p] = order[int(round(level / max(count - 1, 1) * (len(order) - 1)))]
        return space.canonical(vector)

    def models(self, space: Space) -> list[np.ndarray]:
        return [self.model(space, cell) for cell in self.cells(space)]

    def static_archs(self, space: Space, phase: str = "main"):
        return space.largest(), None

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        cells = self.cells(space)[:-1]  # the largest is the static first arch
        if self.num_models > len(cells):
            raise ConfigError(f"sorted sampling: {self.num_models} sub-models per step, but space "
                              f"{space.name!r} has only {len(cells)} below the largest")
        chosen = step_rng(seed, step).choice(len(cells), size=self.num_models, replace=False)
        return np.stack([self.model(space, cells[index]) for index in sorted(chosen)])
