"""Sampling policies: which archs a training step trains. Plain objects, apart from the step.

A policy is stateless given `(seed, step)`: the archs of step `t` come from
`np.random.default_rng([seed, t])`, so a resumed run samples exactly what an
uninterrupted one would, with no generator state to checkpoint. Every policy is a `SamplingPolicy`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from nas.space import Arch, Space


@runtime_checkable
class SamplingPolicy(Protocol):
    def phase(self, step: int) -> str:
        """The training phase at `step`; the step function is compiled once per distinct phase."""

    def static_archs(self, space: Space, phase: str = "main") -> tuple[Arch | None, Arch | None]:
        """(first, last): archs trained at every step of the phase, sliced inside the jit (None: none);
        `first` is the distillation teacher."""

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        """int32 [n, D]: the sampled archs of `step` (n fixed per phase), from `step_rng(seed, step)` only."""

    def phase_starts(self) -> list[int]:
        """Steps at which a phase begins (learning-rate restarts)."""

    def student_weight(self, step: int) -> float:
        """Loss weight of the non-teacher archs (1.0 but in DεpS)."""


def step_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


class SinglePhase:
    """Mixin: one phase for the whole run, no restarts, full student weight."""

    def phase(self, step: int) -> str:
        return "main"

    def phase_starts(self) -> list[int]:
        return []

    def student_weight(self, step: int) -> float:
        return 1.0


@dataclass(frozen=True)
class UniformSampling(SinglePhase):
    """`num_archs` subnets drawn uniformly (each decision independently, as OFA)."""

    num_archs: int = 1

    def static_archs(self, space: Space, phase: str = "main"):
        """Archs trained at every step, before and after the sampled ones: none."""
        return None, None

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        rng = step_rng(seed, step)
        return np.stack([space.sample(rng).to_vector() for _ in range(self.num_archs)]).astype(np.int32)


class SandwichEnds:
    """Mixin of the sandwich family: the largest (and, with `smallest`, the smallest) arch at every step,
    static (compiled sliced, at their own cost), around `num_random` sampled ones."""

    @property
    def num_archs(self) -> int:
        return self.num_random + 1 + self.smallest

    def static_archs(self, space: Space, phase: str = "main"):
        return space.largest(), space.smallest() if self.smallest else None


@dataclass(frozen=True)
class SandwichSampling(SandwichEnds, SinglePhase):
    """The sandwich rule: largest, `num_random` uniform, smallest (BigNAS/AlphaNet); `archs` returns the
    random middle."""

    num_random: int = 2
    smallest: bool = True   # False: the largest and the random ones only (no smallest-arch bias from the rule)

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        rng = step_rng(seed, step)
        middle = [space.sample(rng).to_vector() for _ in range(self.num_random)]
        return np.array(middle, np.int32).reshape(self.num_random, space.num_decisions)


@dataclass(frozen=True)
class StandaloneSampling(SinglePhase):
    """One fixed subnet trained alone, sliced inside the step: the stand-alone baseline
    that ranking experiments compare supernet-inherited accuracy against."""

    arch: str

    def static_archs(self, space: Space, phase: str = "main"):
        return space.from_string(self.arch), None

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        return np.zeros((0, space.num_decisions), np.int32)
