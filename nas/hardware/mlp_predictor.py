"""HAT-style latency predictor: an MLP on `space.features(arch)`, trained with optax.

Features are the one-hot-per-decision vector (zeros when a decision is inactive); the
MLP predicts standardised log-latency, so its squared error is a relative error. The
relaxed form feeds the relaxed features (`RelaxedFeatures`): at one-hot weights it is
the hard prediction exactly; elsewhere it is the MLP at the expected features. An L2 penalty on
the weights keeps a few hundred measured archs from being memorised (`MlpSettings`).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nas.hardware.features import RelaxedFeatures
from nas.space import Space


@dataclass(frozen=True)
class MlpSettings:
    """How the MLP is trained (full batch, Adam with a cosine decay): `nas latency fit --mlp-*`.

    `weight_decay` is an L2 penalty on the weights added to the loss (coupled, not AdamW's decoupled
    decay, which on public latency tables left the MLP fitting its training archs exactly and ranking
    held-out ones below a linear model)."""
    hidden: tuple[int, ...] = (64, 64)
    steps: int = 3000
    learning_rate: float = 1e-2
    weight_decay: float = 1e-2


@functools.partial(jax.jit, static_argnums=(1, 2))
def init_params(key, num_features: int, hidden: tuple[int, ...]) -> list[dict]:
    """Hidden layers, the output layer, and last a linear skip from the features to the output."""
    sizes = [num_features, *hidden, 1]
    keys = jax.random.split(key, len(sizes))
    layers = [{"w": jax.random.normal(k, (i, o)) * jnp.sqrt(2.0 / i), "b": jnp.zeros(o)}
              for k, i, o in zip(keys, sizes, sizes[1:])]
    return layers + [{"w": jnp.zeros((num_features, 1)), "b": jnp.zeros(1)}]


def mlp(params, features):
    """ReLU MLP plus a linear term: latency is mostly additive in the decisions, the MLP learns the rest."""
    *layers, out, skip = params
    h = features
    for layer in layers:
        h = jax.nn.relu(h @ layer["w"] + layer["b"])
    return (h @ out["w"] + out["b"] + features @ skip["w"] + skip["b"])[..., 0]


class MlpPredictor:
    kind = "mlp"

    def __init__(self, space: Space, params, log_mean: float = 0.0, log_std: float = 1.0,
                 hidden: tuple[int, ...] = (64, 64)):
        self.space, self.hidden = space, tuple(hidden)
        self.params = jax.tree.map(jnp.asarray, params)
        self.log_mean, self.log_std = float(log_mean), float(log_std)
        self._relaxed = RelaxedFeatures(space)
        self._predict = jax.jit(lambda params, vectors: self._from_features(params, self._relaxed.hard(vectors)))

    @classmethod
    def create(cls, space: Space, hidden: tuple[int, ...] = (64, 64), seed: int = 0) -> "MlpPredictor":
        return cls(space, init_params(jax.random.key(seed), space.num_features, hidden), hidden=hidden)

    def _from_features(self, params, features):
        return jnp.exp(mlp(params, features) * self.log_std + self.log_mean)

    def __call__(self, vectors):
        """Predicted latency (ms) of int32 arch vectors [..., D] (jitted, params passed as arguments).

        Inside your own jit over many archs, call `apply(predictor.params, vectors)` instead:
        params closed over become constants of the program, which XLA:CPU runs far slower.
        """
        return self._predict(self.params, vectors)

    def apply(self, params, vectors):
        """Pure form of `__call__`: latency (ms) from explicit params; jittable, vmappable."""
        return self._from_features(params, self._relaxed.hard(vectors))

    def expected(self, probs, params=None):
        """Latency (ms) at the relaxed features of weights [..., D, C]; differentiable."""
        return self._from_features(self.params if params is None else params, self._relaxed(probs))

    def fit(self, vectors, latency_ms, *, steps: int = MlpSettings.steps,
            learning_rate: float = MlpSettings.learning_rate, weight_decay: float = MlpSettings.weight_decay,
            seed: int = 0) -> "MlpPredictor":
        """Full-batch Adam on the squared error of standardised log-latency plus `weight_decay` times the
        squared weights (biases free), the skip's included: strong enough, the MLP falls back to a linear
        model in log-latency instead of memorising the training archs."""
        features = jax.jit(self.space.features_jax)(np.asarray(vectors))
        log_latency = np.log(np.asarray(latency_ms, np.float64))
        self.log_mean, self.log_std = float(log_latency.mean()), float(max(log_latency.std(), 1e-6))
        target = jnp.asarray((log_latency - self.log_mean) / self.log_std, jnp.float32)
        params = init_params(jax.random.key(seed), self.space.num_features, self.hidden)
        optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))

        def loss(params):
            penalty = sum(jnp.sum(layer["w"] ** 2) for layer in params)
            return jnp.mean((mlp(params, features) - target) ** 2) + weight_decay * penalty

        @jax.jit
        def train(params):
            def step(carry, _):
                params, state = carry
                grads = jax.grad(loss)(params)
                updates, state = optimizer.update(grads, state, params)
                return (optax.apply_updates(params, updates), state), None
            (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
            return params

        self.params = train(params)
        return self

    def payload(self) -> dict:
        return {"hidden": list(self.hidden), "log_mean": self.log_mean, "log_std": self.log_std,
                "params": [{k: np.asarray(v).tolist() for k, v in layer.items()} for layer in self.params]}

    @classmethod
    def from_payload(cls, space: Space, payload: Mapping) -> "MlpPredictor":
        params = [{k: np.asarray(v, np.float32) for k, v in layer.items()} for layer in payload["params"]]
        return cls(space, params, payload["log_mean"], payload["log_std"], tuple(payload["hidden"]))
