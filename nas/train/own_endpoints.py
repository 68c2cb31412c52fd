"""Every supernet of a few-shot mixture trains its own largest and smallest arch at every step.

The sandwich rule's fixed largest and smallest archs belong to the supernets owning the split decision's
largest and smallest choices; a supernet in between never trains the ends of its own part of the space,
and its archs' scores drift off the others' scale. This wrapper adds the other supernets' ends to the
archs each step samples (they run masked, beside the random ones), so every supernet gets a sandwich.
The ends are the ones the base policy trains: without its smallest (`--no-smallest`), each supernet trains
its own largest only, so the smallest-arch bias is not repeated once per supernet.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.space import Space
from nas.train.sampling import SamplingPolicy


@dataclass(frozen=True)
class OwnEndpoints:
    base: SamplingPolicy         # a sandwich-style policy (its static archs are the space's largest, smallest)
    extra: tuple                 # int32 vectors of the ends the static archs do not already cover

    @classmethod
    def around(cls, base, space: Space, endpoints) -> "OwnEndpoints":
        first, last = base.static_archs(space)
        static = {arch.to_string() for arch in (first, last) if arch is not None}
        extra = []
        for pair in endpoints:
            for arch in pair if last is not None else pair[:1]:
                if arch.to_string() not in static and all(arch.to_string() != e.to_string() for e in extra):
                    extra.append(arch)
        return cls(base, tuple(tuple(int(i) for i in arch.to_vector()) for arch in extra))

    @property
    def num_archs(self) -> int:
        return self.base.num_archs + len(self.extra)

    def phase(self, step: int) -> str:
        return self.base.phase(step)

    def phase_starts(self) -> list[int]:
        return self.base.phase_starts()

    def student_weight(self, step: int) -> float:
        return self.base.student_weight(step)

    def static_archs(self, space: Space, phase: str = "main"):
        return self.base.static_archs(space, phase)

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        sampled = self.base.archs(space, seed, step)
        if not self.extra:
            return sampled
        return np.concatenate([sampled, np.array(self.extra, np.int32)]).astype(np.int32)
