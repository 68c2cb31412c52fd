"""Constrained ranking and tournament selection, the operators evolution composes."""
import numpy as np

from searchers.constrained_ranking import constrained_ranks
from searchers.tournament import tournament


def test_feasible_fronts_then_infeasible_by_violation():
    objectives = np.array([[0, 1], [1, 0], [1, 1], [0, 0], [5, 5]], float)
    violations = np.array([0, 0, 0, 0.5, 0.1])
    ranks = constrained_ranks(objectives, violations)
    assert ranks.tolist() == [0, 0, 1, 3, 2]  # [0, 0] is the best point but infeasible


def test_tournament_returns_the_best_of_its_sample():
    rng = np.random.default_rng(0)
    ranks = np.arange(10.0)
    assert tournament(ranks, 10, rng) == 0
    winners = [tournament(ranks, 2, rng) for _ in range(2000)]
    # With samples of 2 out of 10, member i wins with probability (9 - i) / 45.
    frequencies = np.bincount(winners, minlength=10) / 2000
    np.testing.assert_allclose(frequencies, (9 - np.arange(10)) / 45, atol=0.03)
