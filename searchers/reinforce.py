"""REINFORCE pieces for tabular categorical policies: a masked softmax, its update, a normalised advantage.

A policy over k values is a logit vector; `allowed` (bool [k]) restricts a draw to some values, and the
update is exact for the distribution the draw used: logits += lr * advantage * (onehot(chosen) - p),
p the masked softmax (zero on the values not allowed, so their logits never move).

`Advantage` turns rewards into advantages as the RL controller does (TuNAS): (reward - baseline) / scale,
the baseline an exponential moving average of the rewards, the scale the root of a moving average of
(reward - baseline)^2, so the step is the same for any scale of the metric.
"""
from __future__ import annotations

import numpy as np


def masked_softmax(logits: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    logits = np.asarray(logits, float)
    allowed = np.ones(len(logits), bool) if allowed is None else np.asarray(allowed, bool)
    if not allowed.any():
        raise ValueError("masked_softmax: no value is allowed")
    shifted = np.where(allowed, logits - logits[allowed].max(), -np.inf)
    weights = np.exp(shifted)
    return weights / weights.sum()


def reinforce(logits: np.ndarray, probabilities: np.ndarray, chosen: int, step: float) -> None:
    """In place: logits += step * grad log p(chosen), p the (masked) distribution the draw used."""
    gradient = -np.asarray(probabilities, float)
    gradient[chosen] += 1.0
    logits += step * gradient


class Advantage:
    def __init__(self, momentum: float = 0.95, normalise: bool = True):
        self.momentum, self.normalise = momentum, normalise
        self.baseline: float | None = None
        self.variance: float | None = None  # EMA of (reward - baseline)^2

    def __call__(self, reward: float) -> float:
        """The advantage of `reward`; then the baseline (and scale) move toward it."""
        baseline = reward if self.baseline is None else self.baseline
        advantage = reward - baseline
        if self.normalise:
            if advantage != 0.0 or self.variance is not None:
                self.variance = advantage ** 2 if self.variance is None else (
                    self.momentum * self.variance + (1 - self.momentum) * advantage ** 2)
            advantage = advantage / np.sqrt(self.variance) if self.variance else 0.0
        self.baseline = self.momentum * baseline + (1 - self.momentum) * reward
        return float(advantage)

    def state(self) -> dict:
        return {"baseline": self.baseline, "variance": self.variance}

    def restore(self, state: dict) -> None:
        self.baseline, self.variance = state["baseline"], state["variance"]
