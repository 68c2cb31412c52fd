"""A latency penalty on architecture weights: the predictor's expected latency under softmax(alpha).

Predictors (`nas latency fit`: lookup table, MLP, FLOPs proxy) have a relaxed form
`expected(probs [D, C])`, differentiable in the probabilities. The penalty is

    weight * E[latency]                      (no budget: trade latency for accuracy), or
    weight * max(E[latency] - budget, 0)     (a hard budget: free below it, a hinge above),

both in milliseconds. Pure and jittable once built.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nas.errors import ConfigError
from nas.space import Space


def probability_matrix(space: Space, probs: dict) -> jax.Array:
    """float32 [D, C] (free decisions in vector order, padded with zeros): the predictors' relaxed input."""
    width = max(space.choice_counts)
    return jnp.stack([jnp.pad(probs[d.name], (0, width - len(d))) for d in space.free])


class LatencyPenalty:
    """`penalty(probs) -> (penalty, expected latency ms)` for a predictor of this space."""

    def __init__(self, predictor, space: Space, weight: float = 1.0, budget_ms: float | None = None):
        if not weight > 0:
            raise ConfigError(f"latency weight must be > 0, got {weight}")
        if budget_ms is not None and not budget_ms > 0:
            raise ConfigError(f"latency budget must be > 0 ms, got {budget_ms}")
        self.predictor, self.space, self.weight, self.budget_ms = predictor, space, float(weight), budget_ms

    def expected_ms(self, probs: dict) -> jax.Array:
        return jnp.asarray(self.predictor.expected(probability_matrix(self.space, probs)), jnp.float32)

    def __call__(self, probs: dict) -> tuple[jax.Array, jax.Array]:
        expected = self.expected_ms(probs)
        excess = expected if self.budget_ms is None else jnp.maximum(expected - self.budget_ms, 0.0)
        return self.weight * excess, expected


def load_latency_penalty(session, path, weight: float = 1.0, budget_ms: float | None = None) -> LatencyPenalty:
    """The penalty from a predictor file fitted on the session's space (else one PredictorError line); one
    fitted at the space's deployment resolution penalises the latency there."""
    from nas.definition import get_definition
    from nas.hardware.predictor_io import load_predictor_for_network

    predictor, _ = load_predictor_for_network(path, session.space, get_definition(session.config.space),
                                              session.config.space_options, session.dataset.input_shape)
    return LatencyPenalty(predictor, session.space, weight, budget_ms)
