"""Accuracy of latency predictions on held-out archs."""
from __future__ import annotations

import numpy as np

from nas.rank_metrics import kendall_tau, spearman


def within(predicted, measured, tolerance: float = 0.10) -> float:
    """Fraction of archs whose prediction is within +/- tolerance of the measured latency."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    return float(np.mean(np.abs(predicted - measured) <= tolerance * measured))


def rmse(predicted, measured) -> float:
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    return float(np.sqrt(np.mean((predicted - measured) ** 2)))


def summary(predicted, measured) -> dict:
    """Report figures; tau and rho are None (JSON null, not the invalid NaN) when no pair can be ranked."""
    tau, rho = kendall_tau(predicted, measured), spearman(predicted, measured)
    return {"within_10pct": within(predicted, measured), "rmse_ms": rmse(predicted, measured),
            "kendall_tau": None if np.isnan(tau) else tau, "spearman": None if np.isnan(rho) else rho,
            "n": int(len(measured))}
