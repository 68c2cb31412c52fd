"""Pareto tools: non-dominated sorting, exact hypervolume (2 and 3 objectives), knee points.

Every function takes points as float [n, k] to be *minimised* in every column
(negate a column to maximise it, e.g. accuracy).
"""
from __future__ import annotations

import numpy as np

from nas.errors import ConfigError


def _points(points) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ConfigError(f"points must be a 2-d array [n, objectives], got shape {array.shape}")
    return array


def dominates(a, b) -> bool:
    """a is no worse than b everywhere and better somewhere (minimisation)."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_sort(points) -> np.ndarray:
    """int [n]: the front of each point, 0 for the non-dominated ones (Deb et al.'s fast sort)."""
    points = _points(points)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    no_worse = np.all(points[:, None, :] <= points[None, :, :], axis=-1)
    better = np.any(points[:, None, :] < points[None, :, :], axis=-1)
    dominated_by = no_worse & better  # [i, j]: i dominates j
    counts = dominated_by.sum(axis=0)
    ranks = np.full(n, -1, dtype=np.int64)
    front = np.flatnonzero(counts == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        counts = counts - dominated_by[front].sum(axis=0)
        counts[ranks >= 0] = -1
        front = np.flatnonzero(counts == 0)
        rank += 1
    return ranks


def pareto_front(points) -> np.ndarray:
    """Indices of the non-dominated points (duplicates of a front point are all kept)."""
    return np.flatnonzero(non_dominated_sort(points) == 0)


def _hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by `points` (all strictly better than `reference`): one sweep over x."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    area, best_y = 0.0, reference[1]
    for x, y in points[order]:
        if y < best_y:
            area += (reference[0] - x) * (best_y - y)
            best_y = y
    return area


def _hypervolume_3d(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume by slicing along z: between consecutive z values, the 2-d area of the points below."""
    order = np.argsort(points[:, 2], kind="stable")
    points = points[order]
    volume = 0.0
    for i in range(len(points)):
        top = points[i + 1, 2] if i + 1 < len(points) else reference[2]
        if top > points[i, 2]:
            volume += _hypervolume_2d(points[: i + 1, :2], reference[:2]) * (top - points[i, 2])
    return volume


def hypervolume(points, reference) -> float:
    """Exact volume of the region dominated by `points` and bounded by `reference` (2 or 3 objectives).

    Points not strictly better than the reference in every objective add nothing.
    """
    points, reference = _points(points), np.asarray(reference, dtype=np.float64)
    if reference.shape != (points.shape[1],):
        raise ConfigError(f"reference point has shape {reference.shape}, the points have {points.shape[1]} objectives")
    inside = points[np.all(points < reference, axis=1)]
    if len(inside) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(reference[0] - inside[:, 0].min())
    if points.shape[1] == 2:
        return float(_hypervolume_2d(inside, reference))
    if points.shape[1] == 3:
        return float(_hypervolume_3d(inside, reference))
    raise ConfigError(f"exact hypervolume is implemented for 1, 2 or 3 objectives, got {points.shape[1]}")


def hypervolume_history(points, reference) -> np.ndarray:
    """float [n]: the hypervolume of the first i+1 points, for every i (search progress)."""
    points = _points(points)
    history, front = np.zeros(len(points)), np.zeros((0, points.shape[1]))
    value = 0.0
    for i, point in enumerate(points):
        if np.all(np.isfinite(point)) and not any(dominates(f, point) or np.array_equal(f, point) for f in front):
            front = np.concatenate([front[[not dominates(point, f) for f in front]], point[None]])
            value = hypervolume(front, reference)
        history[i] = value
    return history

