"""Pareto tools: sorting against the definition, hypervolume exact against a brute-force grid."""
import itertools

import numpy as np
import pytest

from nas.errors import ConfigError
from nas.pareto import dominates, hypervolume, hypervolume_history, non_dominated_sort, pareto_front


def brute_force_ranks(points):
    ranks, remaining, rank = np.full(len(points), -1), set(range(len(points))), 0
    while remaining:
        front = {i for i in remaining if not any(dominates(points[j], points[i]) for j in remaining)}
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    return ranks


def brute_force_hypervolume(points, reference):
    """Exact: the grid of all coordinates; each cell counts if some point dominates its lower corner."""
    axes = [np.unique(np.append(points[:, k], reference[k])) for k in range(points.shape[1])]
    axes = [a[a <= reference[k]] for k, a in enumerate(axes)]
    volume = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        corner = np.array([axes[k][c] for k, c in enumerate(cell)])
        if np.any(np.all(points <= corner, axis=1)):
            volume += np.prod([axes[k][c + 1] - axes[k][c] for k, c in enumerate(cell)])
    return volume


@pytest.mark.parametrize("objectives", [2, 3])
def test_sorting_matches_definition(objectives):
    rng = np.random.default_rng(objectives)
    for _ in range(20):
        points = rng.integers(0, 6, size=(rng.integers(1, 25), objectives)).astype(float)  # ties included
        np.testing.assert_array_equal(non_dominated_sort(points), brute_force_ranks(points))
        np.testing.assert_array_equal(pareto_front(points), np.flatnonzero(brute_force_ranks(points) == 0))


@pytest.mark.parametrize("objectives", [2, 3])
def test_hypervolume_exact_against_brute_force(objectives):
    rng = np.random.default_rng(10 + objectives)
    for trial in range(30):
        n = rng.integers(1, 12)
        # Half the cases on a coarse integer grid (ties, shared coordinates), half continuous.
        points = rng.integers(0, 5, (n, objectives)).astype(float) if trial % 2 else rng.random((n, objectives)) * 4
        reference = np.full(objectives, 4.5)
        assert hypervolume(points, reference) == pytest.approx(brute_force_hypervolume(points, reference), rel=1e-12)


def test_hypervolume_known_values_and_bounds():
    assert hypervolume([[1, 1]], [2, 2]) == 1.0
    assert hypervolume([[0, 1], [1, 0]], [2, 2]) == 3.0
    assert hypervolume([[0, 0, 0]], [1, 2, 3]) == 6.0
    assert hypervolume([[3, 0]], [2, 2]) == 0.0  # outside the reference box
    with pytest.raises(ConfigError, match="1, 2 or 3 objectives"):
        hypervolume(np.zeros((2, 4)), np.ones(4))
    with pytest.raises(ConfigError, match="reference point"):
        hypervolume(np.zeros((2, 2)), np.ones(3))


def test_hypervolume_history_is_monotone_and_ends_at_total():
    points = np.random.default_rng(0).random((40, 2))
    history = hypervolume_history(points, [1, 1])
    assert np.all(np.diff(history) >= -1e-12)
    assert history[-1] == pytest.approx(hypervolume(points, [1, 1]))

