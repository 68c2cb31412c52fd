"""A linear latency model on `space.features(arch)`: ridge regression, solved in closed form.

Latency is mostly a sum over layers, and the features are one one-hot per decision (zeros when a
decision is inactive), so `latency_ms ~ features @ w + b` is the model TuNAS uses and the baseline an
MLP on the same features has to beat. The intercept is not penalised; the ridge strength `alpha` is
given, or chosen among `ALPHAS` by leave-one-out error on the training archs (exact for ridge, from one
SVD). Prediction is pure JAX (a matrix-vector product, params passed as arguments); the relaxed form is
exact, since the model is linear in the features and the relaxed features are their expectation.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from nas.hardware.features import RelaxedFeatures
from nas.space import Space

ALPHAS = tuple(10.0 ** p for p in range(-4, 5))


def _linear(params, features):
    return features @ params["w"] + params["b"]


def ridge_fit(features, target, alpha: float, prior=None) -> tuple[np.ndarray, float, float]:
    """(w, b, leave-one-out mean squared error) minimising |X w + b - y|^2 + alpha |w - prior|^2, b unpenalised.

    The leave-one-out error is exact for ridge (residual / (1 - leverage)), from one SVD; NaN below 3 archs.
    """
    x, y = np.asarray(features, np.float64), np.asarray(target, np.float64)
    prior = np.zeros(x.shape[1]) if prior is None else np.asarray(prior, np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc = x - x_mean
    yc = y - y_mean - xc @ prior  # fit the departure from the prior
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    uty = u.T @ yc
    shrink = s ** 2 / (s ** 2 + alpha)
    w = prior + vt.T @ (s / (s ** 2 + alpha) * uty)
    n = len(y)
    loo = float("nan")
    if n > 2:
        residual = yc - u @ (shrink * uty)
        leverage = np.sum(u ** 2 * shrink, axis=1) + 1.0 / n  # the centring is a fitted intercept
        loo = float(np.mean((residual / np.maximum(1.0 - leverage, 1e-9)) ** 2))
    return w, float(y_mean - x_mean @ w), loo


def ridge_solve(features, target, alpha: float | None = None, prior=None) -> tuple[np.ndarray, float, float]:
    """(w, b, alpha) of `ridge_fit`; `alpha=None` picks the alpha of `ALPHAS` with the least leave-one-out
    error (the middle one below 3 archs)."""
    if alpha is not None:
        return (*ridge_fit(features, target, alpha, prior)[:2], float(alpha))
    if len(target) <= 2:
        alpha = ALPHAS[len(ALPHAS) // 2]
        return (*ridge_fit(features, target, alpha, prior)[:2], alpha)
    fits = {a: ridge_fit(features, target, a, prior) for a in ALPHAS}
    alpha = min(ALPHAS, key=lambda a: fits[a][2])
    return fits[alpha][0], fits[alpha][1], float(alpha)


class LinearPredictor:
    kind = "linear"

    def __init__(self, space: Space, weights=None, bias: float = 0.0, alpha: float | None = None):
        self.space, self.alpha = space, alpha
        self.params = {"w": jnp.asarray(np.zeros(space.num_features) if weights is None else weights, jnp.float32),
                       "b": jnp.asarray(bias, jnp.float32)}
        self._relaxed = RelaxedFeatures(space)
        self._predict = jax.jit(self.apply)

    def features(self, vectors) -> np.ndarray:
        return np.asarray(jax.jit(self._relaxed.hard)(np.asarray(vectors, np.int32)))

    def apply(self, params, vectors):
        """Latency (ms) of int32 arch vectors [..., D] from explicit params; jittable, vmappable."""
        return _linear(params, self._relaxed.hard(vectors))

    def __call__(self, vectors):
        """Predicted latency (ms) of int32 arch vectors [..., D] (jitted, params passed as arguments)."""
        return self._predict(self.params, vectors)

    def expected(self, probs, params=None):
        """Expected latency (ms) under relaxed weights [..., D, C] (exact: the model is linear); differentiable."""
        return _linear(self.params if params is None else params, self._relaxed(probs))

    def fit(self, vectors, latency_ms, *, alpha: float | None = None, prior: "LinearPredictor | None" = None,
            ) -> "LinearPredictor":
        """Ridge fit; `alpha=None` chooses it by leave-one-out. With `prior`, the penalty pulls the weights
        towards the prior's instead of zero (adapting a predictor of another device with few archs)."""
        prior_w = None if prior is None else np.asarray(prior.params["w"], np.float64)
        w, b, self.alpha = ridge_solve(self.features(vectors), latency_ms, alpha, prior_w)
        self.params = {"w": jnp.asarray(w, jnp.float32), "b": jnp.asarray(b, jnp.float32)}
        return self

    def payload(self) -> dict:
        return {"weights": np.asarray(self.params["w"]).tolist(), "bias": float(self.params["b"]), "alpha": self.alpha}

    @classmethod
    def from_payload(cls, space: Space, payload: Mapping) -> "LinearPredictor":
        weights = np.asarray(payload["weights"], np.float32)
        if weights.shape != (space.num_features,):
            raise ValueError(f"{weights.size} weights for {space.num_features} features")
        return cls(space, weights, payload["bias"], payload.get("alpha"))
