"""A synthetic two-objective benchmark with a known Pareto front (ZDT1 on a discrete space).

Decisions x0 in 0..15 and x1..x5 in 0..7 (x5 only exists when x0 >= 1). With
f1 = x0 / 15, g = 1 + 3 (x1 + ... + x5) / 35 and f2 = g * (1 - sqrt(f1 / g)), both minimised,
the front is exactly the archs with x1..x5 = 0: f2 = 1 - sqrt(f1), 16 points.
"""
import numpy as np
import pytest

from nas.pareto import hypervolume
from nas.space import AtLeast, Choice, IntRange, Space

REFERENCE = np.array([1.1, 1.1])


def zdt_space() -> Space:
    return Space("zdt1", [IntRange("x0", 0, 15), *[Choice(f"x{i}", list(range(8))) for i in range(1, 5)],
                          Choice("x5", list(range(8)), when=AtLeast("x0", 1))])


def zdt_objectives(arch) -> np.ndarray:
    f1 = arch["x0"] / 15
    g = 1 + 3 * sum(arch.get(f"x{i}", 0) for i in range(1, 6)) / 35
    return np.array([f1, g * (1 - np.sqrt(f1 / g))])


def true_front_hypervolume() -> float:
    f1 = np.arange(16) / 15
    return hypervolume(np.stack([f1, 1 - np.sqrt(f1)], axis=1), REFERENCE)


def run_searcher(searcher, budget: int, batch: int = 10) -> float:
    """Drive ask/tell for `budget` trials; the hypervolume reached, as a share of the true front's."""
    points = []
    while len(points) < budget:
        archs = searcher.ask(min(batch, budget - len(points)))
        values = np.array([zdt_objectives(a) for a in archs])
        searcher.tell(archs, values)
        points.extend(values)
    return hypervolume(np.array(points), REFERENCE) / true_front_hypervolume()


@pytest.fixture
def zdt():
    return zdt_space()
