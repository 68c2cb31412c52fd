"""Accuracy of latency predictions on held-out archs."""
from __future__ import annotations

import numpy as np


def within(predicted, measured, tolerance: float = 0.10) -> float:
    """Fraction of archs whose prediction is within +/- tolerance of the measured latency."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    return float(np.mean(np.abs(predicted - measured) <= tolerance * measured))


def rmse(predicted, measured) -> float:
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    return float(np.sqrt(np.mean((predicted - measured) ** 2)))


def kendall_tau(a, b) -> float:
    """Kendall's tau-b (ties in either ranking handled), O(n^2) over pairs."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    upper = np.triu_indices(len(a), k=1)
    da = np.sign(a[:, None] - a[None, :])[upper]
    db = np.sign(b[:, None] - b[None, :])[upper]
    pairs_a, pairs_b = np.sum(da != 0), np.sum(db != 0)
    if pairs_a == 0 or pairs_b == 0:
        return float("nan")
    return float(np.sum(da * db) / np.sqrt(pairs_a * pairs_b))


def summary(predicted, measured) -> dict:
    """Report figures; tau is None (JSON null, not the invalid NaN) when no pair can be ranked."""
    tau = kendall_tau(predicted, measured)
    return {"within_10pct": within(predicted, measured), "rmse_ms": rmse(predicted, measured),
            "kendall_tau": None if np.isnan(tau) else tau, "n": int(len(measured))}
