"""Any searcher with its repeats answered, never charged a trial (a wrapper, composed around it).

    searcher = Deduplicated(make_searcher("tpe", space, 1))

`ask(n)` returns up to n archs that have neither been told nor asked and not yet told. A proposal
of the inner searcher that repeats one is not returned:

* an arch already told is *answered from the history*: the inner searcher is told its recorded
  objectives at once (Optuna's documented practice: look the parameters up among the finished
  trials and return their value), so a model-based searcher learns that it repeated itself and an
  on-policy one (the RL controller) still gets its update;
* an arch asked twice before its scores came back (in one batch, or a batch still out) is *held*:
  the inner searcher is told the first copy's scores when they arrive.

Then the inner searcher is asked again, up to `max_redraws` proposals per missing arch; what is
still missing is drawn uniformly among archs neither told nor out (`fallbacks`, told to the inner
searcher as archs it did not propose). Fewer than n archs come back only when even those draws keep
repeating (a small space nearly exhausted). `duplicates` counts the proposals answered or held.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from searchers.base import check_ask, check_told, rng_from_state, rng_state


class Deduplicated:
    def __init__(self, searcher, *, max_redraws: int = 10, fallback_tries: int = 100, seed: int = 0):
        self.searcher, self.space = searcher, searcher.space
        self.max_redraws, self.fallback_tries = max_redraws, fallback_tries
        self._rng = np.random.default_rng(seed)
        self._known: dict[str, tuple[list[float], float]] = {}  # arch -> (objectives, violation) told
        self._out: set[str] = set()  # asked, not yet told
        self._held: dict[str, int] = defaultdict(int)  # arch -> repeats proposed while it was out
        self.duplicates = 0
        self.fallbacks = 0

    def ask(self, n: int) -> list:
        n = check_ask(n)
        archs, proposals = [], 0
        while len(archs) < n and proposals < self.max_redraws * n:
            proposed = self.searcher.ask(n - len(archs))
            if not proposed:
                break
            for arch in proposed:
                proposals += 1
                key = arch.to_string()
                if key in self._known:
                    self.duplicates += 1
                    values, violation = self._known[key]
                    self.searcher.tell([arch], np.array([values]), np.array([violation]))
                elif key in self._out:
                    self.duplicates += 1
                    self._held[key] += 1
                else:
                    self._out.add(key)
                    archs.append(arch)
        for _ in range(self.fallback_tries):
            if len(archs) >= n:
                break
            arch = self.space.sample(self._rng)
            key = arch.to_string()
            if key not in self._known and key not in self._out:
                self.fallbacks += 1
                self._out.add(key)
                archs.append(arch)
        return archs

    def tell(self, archs, objectives, violations=None) -> None:
        objectives, violations = check_told(archs, objectives, violations)
        self.searcher.tell(archs, objectives, violations)
        repeats = []
        for arch, values, violation in zip(archs, objectives, violations):
            key = arch.to_string()
            self._known[key] = (values.tolist(), float(violation))
            self._out.discard(key)
            repeats += [(arch, values, violation)] * self._held.pop(key, 0)
        if repeats:
            self.searcher.tell([r[0] for r in repeats], np.array([r[1] for r in repeats]),
                               np.array([r[2] for r in repeats]))

    def state(self) -> dict:
        return {"searcher": self.searcher.state(), "rng": rng_state(self._rng),
                "known": {k: list(v) for k, v in self._known.items()}, "out": sorted(self._out),
                "held": dict(self._held), "duplicates": self.duplicates, "fallbacks": self.fallbacks}

    def restore(self, state: dict) -> None:
        self.searcher.restore(state["searcher"])
        self._rng = rng_from_state(state["rng"])
        self._known = {k: (list(v[0]), float(v[1])) for k, v in state["known"].items()}
        self._out = set(state["out"])
        self._held = defaultdict(int, state["held"])
        self.duplicates, self.fallbacks = state["duplicates"], state["fallbacks"]
