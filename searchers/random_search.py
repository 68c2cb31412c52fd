"""Random search: every decision uniform and independent; optional seed archs asked first."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas.space import Arch, Space
from searchers.base import archs_from_strings, archs_to_strings, check_ask, check_told, rng_from_state, rng_state


class RandomSearch:
    def __init__(self, space: Space, *, seed: int = 0, seeds: Sequence[Arch] = ()):
        self.space = space
        self._rng = np.random.default_rng(seed)
        self._seeds = [space.validate(arch) for arch in seeds]
        self.told = 0

    def ask(self, n: int) -> list[Arch]:
        n = check_ask(n)
        archs, self._seeds = self._seeds[:n], self._seeds[n:]
        return archs + [self.space.sample(self._rng) for _ in range(n - len(archs))]

    def tell(self, archs, objectives, violations=None) -> None:
        check_told(archs, objectives, violations)
        self.told += len(archs)

    def state(self) -> dict:
        return {"rng": rng_state(self._rng), "seeds": archs_to_strings(self._seeds), "told": self.told}

    def restore(self, state: dict) -> None:
        self._rng = rng_from_state(state["rng"])
        self._seeds = archs_from_strings(self.space, state["seeds"])
        self.told = state["told"]
