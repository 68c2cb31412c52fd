"""The searcher protocol every strategy implements, and what the strategies share.

A searcher proposes architectures and learns from their scores; it never
evaluates anything itself. The loop in `nas.search` drives it:

    archs = searcher.ask(n)                        # n candidates (may repeat earlier ones)
    searcher.tell(archs, objectives, violations)   # objectives: float [n, k], every column minimised
    saved = searcher.state()                       # JSON-serialisable
    searcher.restore(saved)                        # continues exactly where `state()` was taken

Objectives are all *minimised* (the loop negates accuracy); `violations` is float [n],
0 for a feasible arch and otherwise how far it exceeds its budgets (relative excess, summed).
`tell` also accepts archs the searcher did not propose (other workers' trials, a replay
after a restart), so that every worker learns from the whole shared history.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from nas.errors import ConfigError
from nas.space import Arch, Space


@runtime_checkable
class Searcher(Protocol):
    space: Space

    def ask(self, n: int) -> list[Arch]: ...

    def tell(self, archs: Sequence[Arch], objectives, violations=None) -> None: ...

    def state(self) -> dict: ...

    def restore(self, state: dict) -> None: ...


def check_told(archs: Sequence[Arch], objectives, violations, num_objectives: int | None = None):
    """(objectives float [n, k], violations float [n]) checked against `archs`."""
    objectives = np.asarray(objectives, dtype=np.float64)
    if objectives.ndim == 1:
        objectives = objectives[:, None]
    if objectives.shape[0] != len(archs):
        raise ConfigError(f"tell got {len(archs)} archs but {objectives.shape[0]} rows of objectives")
    if num_objectives is not None and objectives.shape[1] != num_objectives:
        raise ConfigError(f"tell got {objectives.shape[1]} objectives per arch; this searcher has {num_objectives}")
    violations = np.zeros(len(archs)) if violations is None else np.asarray(violations, dtype=np.float64)
    if violations.shape != (len(archs),) or np.any(violations < 0):
        raise ConfigError(f"violations must be {len(archs)} values >= 0, got {violations!r}")
    return objectives, violations


def check_ask(n: int) -> int:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"ask(n) needs an int n >= 1, got {n!r}")
    return int(n)


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def rng_from_state(state: dict) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def archs_to_strings(archs: Sequence[Arch]) -> list[str]:
    return [arch.to_string() for arch in archs]


def archs_from_strings(space: Space, texts: Sequence[str]) -> list[Arch]:
    return [space.from_string(text) for text in texts]
