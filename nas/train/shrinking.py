"""Shrinking schedules: progressive shrinking (Once-for-All) and delayed shrinking (DεpS).

Both train the full network first and open the space in phases. A phase frees
some decisions (by name pattern, optionally to a subset of their values); every
other decision stays at its largest value. Each phase has its own share of the
steps and restarts the learning-rate schedule (`phase_starts`), as OFA does.
The largest subnet is the static teacher in every phase.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nas.errors import ConfigError
from nas.space import Space
from nas.train.sampling import step_rng


@dataclass(frozen=True)
class Phase:
    """`free`: decision-name pattern -> allowed values (None: all of them)."""
    name: str
    fraction: float
    free: Mapping[str, tuple | None] = field(default_factory=dict)


def allowed_indices(space: Space, free: Mapping[str, tuple | None]) -> list[np.ndarray]:
    """Per free decision, the choice indices a phase may sample (the largest only when fixed)."""
    largest = space.largest().to_vector()
    allowed = []
    for position, decision in enumerate(space.free):
        patterns = [p for p in free if fnmatch.fnmatchcase(decision.name, p)]
        if not patterns:
            allowed.append(np.array([largest[position]]))
            continue
        values = free[patterns[0]]
        if values is None:
            allowed.append(np.arange(len(decision.values)))
            continue
        indices = [i for i, v in enumerate(decision.values) if v in values]
        if not indices:
            raise ConfigError(f"phase frees {decision.name!r} to {values}, none of its values "
                              f"{list(decision.values)}")
        allowed.append(np.array(indices))
    return allowed


def sample_restricted(space: Space, rng: np.random.Generator, allowed: Sequence[np.ndarray]) -> np.ndarray:
    vector = np.array([rng.choice(indices) for indices in allowed], np.int32)
    return space.canonical(vector)


@dataclass(frozen=True)
class PhasedShrinking:
    """Phases in order, each `fraction` of `total_steps`; `num_random` archs per step once shrinking."""
    phases: tuple[Phase, ...]
    total_steps: int
    num_random: int = 2
    ramp_steps: int = 0  # DεpS: student loss weight rises linearly over this many steps per phase start

    def __post_init__(self):
        if not self.phases:
            raise ConfigError("shrinking needs at least one phase")
        if any(p.fraction <= 0 for p in self.phases):
            raise ConfigError("every phase needs a positive fraction of the steps")

    def phase_starts(self) -> list[int]:
        total = sum(p.fraction for p in self.phases)
        starts, acc = [], 0.0
        for phase in self.phases:
            starts.append(int(round(acc / total * self.total_steps)))
            acc += phase.fraction
        return starts

    def _index(self, step: int) -> int:
        starts = self.phase_starts()
        return max(i for i, start in enumerate(starts) if start <= step)

    def phase(self, step: int) -> str:
        return self.phases[self._index(step)].name

    def static_archs(self, space: Space, phase: str = None):
        return space.largest(), None

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        phase = self.phases[self._index(step)]
        if not phase.free:  # the full network alone
            return np.zeros((0, space.num_decisions), np.int32)
        rng = step_rng(seed, step)
        allowed = allowed_indices(space, phase.free)
        return np.stack([sample_restricted(space, rng, allowed) for _ in range(self.num_random)])

    def student_weight(self, step: int) -> float:
        if not self.ramp_steps:
            return 1.0
        since = step - self.phase_starts()[self._index(step)]
        return min(1.0, (since + 1) / self.ramp_steps)


def progressive_shrinking(space: Space, total_steps: int, num_random: int = 2,
                          groups: Sequence[str] = ("kernel", "depth", "expand", "width"),
                          two_step: Sequence[str] = ("depth", "expand", "width")) -> PhasedShrinking:
    """Once-for-All's order: full network, then elastic kernel, depth, expand (width).

    Groups in `two_step` with more than two values open in two sub-phases
    (largest two values first, then all), as OFA's depth {4,3} -> {4,3,2}.
    Groups match decision names containing them; groups the space lacks are skipped.
    """
    phases, free = [Phase("full", 1.0)], {}
    for group in groups:
        names = [d.name for d in space.free if group in d.name]
        if not names:
            continue
        values = sorted({v for d in space.free if group in d.name for v in d.values})
        pattern = f"*{group}*"
        if group in two_step and len(values) > 2:
            phases.append(Phase(f"{group}-partial", 0.5, {**free, pattern: tuple(values[-2:])}))
        free = {**free, pattern: None}
        phases.append(Phase(group, 1.0, dict(free)))
    if len(phases) == 1:
        raise ConfigError(f"space {space.name!r}: no decision matches the shrinking groups {list(groups)}")
    return PhasedShrinking(tuple(phases), total_steps, num_random)


def delayed_shrinking(total_steps: int, delay: float = 0.25, num_random: int = 2,
                      ramp_steps: int = 100) -> PhasedShrinking:
    """DεpS: the full network alone for `delay` of training, then the whole space at once,
    the subnets' loss weight rising over `ramp_steps` (their effective learning rate)."""
    if not 0 < delay < 1:
        raise ConfigError(f"delayed shrinking: delay must be in (0, 1), got {delay}")
    return PhasedShrinking((Phase("full", delay), Phase("shrink", 1 - delay, {"*": None})),
                           total_steps, num_random, ramp_steps)
