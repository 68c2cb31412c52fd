"""Where a search starts: archs asked before the searcher's own proposals (a wrapper around any searcher).

    searcher = InitialArchs(make_searcher("rl", space, 2), initial_archs(space, "endpoints"))

`nas search --initial-archs` picks them, the same for every searcher:

* `endpoints` (the default): the smallest and the largest arch, which anchor both ends of an
  accuracy/cost front;
* `smallest` or `largest`: one of them;
* `middle`: every decision at its middle value (Shears' heuristic pick, `searchers.middle_heuristic`);
* `none`: the searcher's own proposals from the first trial.

The initial archs are told to the inner searcher like any arch it did not propose (a population
member for evolution, an added trial for Optuna, ignored by the RL controller's on-policy update).
"""
from __future__ import annotations

from collections.abc import Sequence

from nas.errors import ConfigError
from nas.space import Arch, Space
from searchers.base import archs_from_strings, archs_to_strings, check_ask

CHOICES = ("endpoints", "smallest", "largest", "middle", "none")


def initial_archs(space: Space, spec: str) -> list[Arch]:
    """The archs `spec` (one of CHOICES) names, without repeats."""
    if spec not in CHOICES:
        raise ConfigError(f"unknown initial archs {spec!r}; allowed: {', '.join(CHOICES)}")
    from searchers.middle_heuristic import middle_arch

    archs = {"endpoints": lambda: [space.smallest(), space.largest()], "smallest": lambda: [space.smallest()],
             "largest": lambda: [space.largest()], "middle": lambda: [middle_arch(space)], "none": list}[spec]()
    return list(dict.fromkeys(archs))


class InitialArchs:
    def __init__(self, searcher, archs: Sequence[Arch]):
        self.searcher, self.space = searcher, searcher.space
        self._queue = [searcher.space.validate(arch) for arch in archs]

    def ask(self, n: int) -> list[Arch]:
        n = check_ask(n)
        archs, self._queue = self._queue[:n], self._queue[n:]
        return archs + (self.searcher.ask(n - len(archs)) if len(archs) < n else [])

    def tell(self, archs, objectives, violations=None) -> None:
        self.searcher.tell(archs, objectives, violations)

    def state(self) -> dict:
        return {"searcher": self.searcher.state(), "queue": archs_to_strings(self._queue)}

    def restore(self, state: dict) -> None:
        self.searcher.restore(state["searcher"])
        self._queue = archs_from_strings(self.space, state["queue"])
