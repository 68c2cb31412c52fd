"""Hill climbing over sorted choices (SQFT's search for a sub-adapter), behind the ask/tell protocol.

From a start (Shears' middle heuristic by default, or the first seed arch) each turn scores every
neighbour of the current arch, one decision moved one step up or down its sorted values, and moves to
the best neighbour if it beats the current one. Archs compare by budget violation first, then by the
first objective (minimised), so under a budget the climb stays feasible once it is. After `turns`
moves, or at a local optimum, the climb restarts from a random arch (random-restart hill climbing), so
a search longer than one climb keeps exploring. While a turn waits for scores, `ask` pads with random
archs. Every told arch is remembered, other workers' included, and never asked for again by the climb.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas.errors import ConfigError
from nas.option_bounds import PositiveInt
from nas.space import Arch, Space
from searchers.base import check_ask, check_told, rng_from_state, rng_state
from searchers.middle_heuristic import middle_arch, value_order


def neighbours(space: Space, arch: Arch) -> list[Arch]:
    """Archs one step away: one active free decision moved to the next smaller or larger value."""
    vector, found = arch.to_vector(), []
    for position, decision in enumerate(space.free):
        if decision.name not in arch:
            continue  # inactive: moving it changes nothing
        order = value_order(decision)
        rank = order.index(int(vector[position]))
        for step in (-1, 1):
            if 0 <= rank + step < len(order):
                moved = vector.copy()
                moved[position] = order[rank + step]
                found.append(space.from_vector(moved))
    return found


class HillClimbing:
    def __init__(self, space: Space, *, seed: int = 0, seeds: Sequence[Arch] = (), turns: PositiveInt = 10):
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
            raise ConfigError(f"hill climbing: turns must be an int >= 1, got {turns!r}")
        self.space, self.turns = space, turns
        self._rng = np.random.default_rng(seed)
        start = space.validate(seeds[0]) if seeds else middle_arch(space)
        self._scores: dict[str, tuple[float, float]] = {}  # arch string -> (violation, first objective)
        self._current: str | None = None   # the climb's arch, once scored
        self._start = start.to_string()      # the arch the climb (re)starts from, until scored
        self._queue: list[str] = [self._start]
        self._turn = 0
        self.moves: list[str] = []           # every arch the climb stood on, in order

    # -- the climb ---------------------------------------------------------------

    def _key(self, text: str) -> tuple[float, float]:
        return self._scores[text]

    def _advance(self) -> None:
        """Refill the queue from the climb's state, as far as the scores told so far allow."""
        for _ in range(1000):  # each pass returns, moves (at most `turns` times) or restarts
            if self._queue:
                return
            if self._current is None:
                if self._start not in self._scores:
                    return  # asked, not yet told
                self._current = self._start
                self.moves.append(self._current)
            around = [a.to_string() for a in neighbours(self.space, self.space.from_string(self._current))]
            unscored = [text for text in around if text not in self._scores]
            if unscored:
                self._queue = unscored
                return
            best = min(around, key=self._key) if around else self._current
            if around and self._key(best) < self._key(self._current) and self._turn < self.turns:
                self._current, self._turn = best, self._turn + 1
                self.moves.append(best)
            else:  # a local optimum or the last turn: restart
                self._restart()

    def _restart(self) -> None:
        self._current, self._turn = None, 0
        self._start = self.space.sample(self._rng).to_string()
        if self._start not in self._scores:
            self._queue = [self._start]

    # -- protocol ------------------------------------------------------------------

    def ask(self, n: int) -> list[Arch]:
        n = check_ask(n)
        self._advance()
        taken, self._queue = self._queue[:n], self._queue[n:]
        padding = [self.space.sample(self._rng) for _ in range(n - len(taken))]
        return [self.space.from_string(text) for text in taken] + padding

    def tell(self, archs, objectives, violations=None) -> None:
        objectives, violations = check_told(archs, objectives, violations)
        for arch, row, violation in zip(archs, objectives, violations):
            self._scores[self.space.validate(arch).to_string()] = (float(violation), float(row[0]))
        self._advance()

    @property
    def best(self) -> Arch | None:
        """The best arch told so far (violation first, then the first objective)."""
        return self.space.from_string(min(self._scores, key=self._key)) if self._scores else None

    def state(self) -> dict:
        return {"rng": rng_state(self._rng), "scores": {k: list(v) for k, v in self._scores.items()},
                "current": self._current, "start": self._start, "queue": list(self._queue), "turn": self._turn,
                "moves": list(self.moves)}

    def restore(self, state: dict) -> None:
        self._rng = rng_from_state(state["rng"])
        self._scores = {k: (float(v[0]), float(v[1])) for k, v in state["scores"].items()}
        self._current, self._start, self._queue = state["current"], state["start"], list(state["queue"])
        self._turn, self.moves = int(state["turn"]), list(state["moves"])
