"""Constrained Pareto ranking (Deb's constraint domination): the ranks selection compares.

Feasible archs are ranked by non-dominated sorting of their objectives (rank 0 is
their front); every infeasible arch ranks after every feasible one, ordered by
how much it violates its budgets. One objective reduces to sorting by value.
"""
from __future__ import annotations

import numpy as np

from nas.pareto import non_dominated_sort


def constrained_ranks(objectives, violations) -> np.ndarray:
    """float [n]: lower is better; ties share a rank."""
    objectives, violations = np.asarray(objectives, float), np.asarray(violations, float)
    ranks = np.empty(len(objectives))
    feasible = violations <= 0
    if feasible.any():
        ranks[feasible] = non_dominated_sort(objectives[feasible])
    worst = ranks[feasible].max() + 1 if feasible.any() else 0.0
    if (~feasible).any():
        # Distinct violations rank apart; equal violations tie.
        _, dense = np.unique(violations[~feasible], return_inverse=True)
        ranks[~feasible] = worst + dense
    return ranks
