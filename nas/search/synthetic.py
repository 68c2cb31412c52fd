"""Synthetic black-box objectives over any space's decisions, with a known optimum: for measuring searchers.

    landscape = NKLandscape(space, k=2, seed=0)   # rugged, one objective: {"accuracy": ...} in percent
    landscape(arch)["accuracy"] <= landscape.optimum == 94.37
    zdt = ZDT1(space)                              # two objectives, known Pareto front: {"f1": ..., "f2": ...}
    zdt.front_hypervolume(reference)

Both read an arch as its decisions' choice indices, an inactive conditional decision as one more
state, "off" (so depth matters through the blocks it switches on).

`NKLandscape` is Kauffman's NK model over the decisions in the space's order: decision i contributes
a random table of (its state, the states of the k decisions before it), uniform in [0, 1), plus
`trend` x its choice index / (choices - 1) (bigger choices better on average, as accuracy grows with
size); the score is their mean. With k >= 1 neighbouring decisions interact, so the landscape has many
local optima (rugged); because each term only spans k+1 consecutive decisions, the best and worst arch
are found exactly by dynamic programming over the decisions in order (the state: the last k states and
the values of condition sources still to be read). The score is mapped linearly onto accuracy in
[`low`, `high`] percent (worst arch -> low, best -> high; NAS-Bench-201's best CIFAR-10 accuracy is
94.37), the scale of tabular NAS benchmarks.

`ZDT1` (Zitzler, Deb and Thiele, 2000) splits the decisions in two: x = the always-active decisions no
condition reads, y = the others (condition sources and the decisions they switch). With u the choice
index / (choices - 1) (0 for an inactive decision), f1 = mean u(x), g = 1 + 9 mean u(y),
f2 = g (1 - sqrt(f1 / g)), both minimised: the Pareto front is every arch with y at its first choices
(g = 1), f2 = 1 - sqrt(f1) over the values f1 can take.
"""
from __future__ import annotations

import numpy as np

from nas.errors import ConfigError
from nas.pareto import hypervolume
from nas.space import Arch, Space


def _states(space: Space, arch: Arch) -> np.ndarray:
    """Choice index per free decision, len(choices) ("off") where the decision is inactive."""
    vector = arch.to_vector()
    return np.array([vector[p] if d.name in arch else len(d) for p, d in enumerate(space.free)])


class NKLandscape:
    def __init__(self, space: Space, *, k: int = 2, trend: float = 0.0, seed: int = 0,
                 low: float = 10.0, high: float = 94.37):
        if k < 0:
            raise ConfigError(f"NK landscape: k must be >= 0, got {k}")
        self.space, self.k, self.low, self.high = space, k, low, high
        free = space.free
        self._position = {d.name: p for p, d in enumerate(free)}
        self._counts = [len(d) + (d.when is not None) for d in free]  # + the "off" state
        rng = np.random.default_rng(seed)
        self._tables = []
        for p, d in enumerate(free):
            table = rng.random(tuple(self._counts[max(0, p - k):p + 1]))
            bonus = np.zeros(self._counts[p])
            bonus[:len(d)] = trend * np.arange(len(d)) / max(len(d) - 1, 1)
            self._tables.append(table + bonus)
        # a condition source is carried in the DP state until its last dependant has been read
        self._last_reader: dict[int, int] = {}
        for p, d in enumerate(free):
            if d.when is not None:
                self._last_reader[self._position[d.when.source]] = p
        self.best_score, self.best_states = self._extreme(max)
        self.worst_score, _ = self._extreme(min)

    @property
    def optimum(self) -> float:
        return self.high

    def optimal_arch(self) -> Arch:
        vector = [s if s < len(d) else 0 for s, d in zip(self.best_states, self.space.free)]
        return self.space.from_vector(np.asarray(vector, np.int32))

    def score(self, arch: Arch) -> float:
        states = _states(self.space, arch)
        return float(sum(table[tuple(states[max(0, p - self.k):p + 1])] for p, table in enumerate(self._tables)))

    def accuracy(self, arch: Arch) -> float:
        fraction = (self.score(arch) - self.worst_score) / (self.best_score - self.worst_score)
        return self.low + (self.high - self.low) * fraction

    def __call__(self, arch: Arch) -> dict:
        return {"accuracy": self.accuracy(arch)}

    def _options(self, p: int, sources: dict) -> range | tuple:
        d = self.space.free[p]
        if d.when is None:
            return range(len(d))
        source = self._position[d.when.source]
        state = sources.get(source)
        source_decision = self.space.free[source]
        active = state is not None and state < len(source_decision) and source_decision.values[state] >= d.when.min_value
        return range(len(d)) if active else (len(d),)

    def _extreme(self, pick) -> tuple[float, tuple]:
        """(best score under `pick` (max or min), its states) by dynamic programming over the decisions."""
        better = (lambda a, b: a > b) if pick is max else (lambda a, b: a < b)
        frontier = {((), ()): (0.0, ())}  # (last k states, carried sources) -> (score, states so far)
        for p, table in enumerate(self._tables):
            following = {}
            for (window, carried), (score, path) in frontier.items():
                sources = dict(carried)
                for state in self._options(p, sources):
                    full = window + (state,)
                    value = score + float(table[full])
                    kept = {s: v for s, v in sources.items() if self._last_reader[s] > p}
                    if self._last_reader.get(p, -1) > p:
                        kept[p] = state
                    key = (full[max(0, len(full) - self.k):] if self.k else (), tuple(sorted(kept.items())))
                    if key not in following or better(value, following[key][0]):
                        following[key] = (value, path + (state,))
            frontier = following
        return pick(frontier.values(), key=lambda item: item[0])


class ZDT1:
    def __init__(self, space: Space):
        readers = {d.when.source for d in space.free if d.when is not None}
        self.space = space
        self.x = [p for p, d in enumerate(space.free) if d.when is None and d.name not in readers]
        self.y = [p for p in range(len(space.free)) if p not in self.x]
        if not self.x or not self.y:
            raise ConfigError(f"ZDT1 needs decisions of both kinds in space {space.name!r}: always-active ones no "
                              "condition reads, and others")
        self._choices = np.array([len(d) for d in space.free])
        self._scale = np.maximum(self._choices - 1, 1).astype(float)

    def __call__(self, arch: Arch) -> dict:
        states = _states(self.space, arch)
        u = np.where(states < self._choices, states / self._scale, 0.0)  # an inactive decision counts 0
        f1 = float(u[self.x].mean())
        g = 1.0 + 9.0 * float(u[self.y].mean())
        return {"f1": f1, "f2": g * (1.0 - np.sqrt(f1 / g))}

    def front_f1(self) -> np.ndarray:
        """Every value f1 takes (the front is f2 = 1 - sqrt(f1) at each)."""
        sums = {0.0}
        for p in self.x:
            steps = np.arange(len(self.space.free[p])) / self._scale[p]
            sums = {round(s + t, 9) for s in sums for t in steps}
        return np.array(sorted(sums)) / len(self.x)

    def front_hypervolume(self, reference) -> float:
        f1 = self.front_f1()
        return hypervolume(np.stack([f1, 1.0 - np.sqrt(f1)], axis=1), np.asarray(reference, float))
