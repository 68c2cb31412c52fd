"""A linear latency model on what an arch's layers cost, per kind of layer: ridge, closed form.

The one-hot model (`linear_predictor`) learns one weight per (decision, choice) and needs many
measured archs before it ranks well; a lookup table needs each layer timed alone. This model sits
between them: layers are grouped by type and input size (a 1x1 convolution at 56x56, a depthwise
convolution at 28x28, a dense layer over 16 tokens), and an arch's features are, per group, the
sum over its present layers of multiply-adds, params and the number of layers. Latency on one core
is close to linear in those (time per multiply-add differs by op and feature-map size; params stand
for weight traffic; the count for per-op overhead), so a few dozen measured archs fit it, and it
needs nothing beyond the space's cost model: it serves imported measurements too.

Features are standardised over the training archs before the ridge fit (the penalty then treats
multiply-adds and counts alike) and the scale folded back into the weights. Prediction is a gather,
a sum and a dot product, pure JAX; the relaxed form is exact, as the model is linear in per-layer
table entries and `LayerTable.expected` is their expectation.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from nas.hardware.counters import CostCounter
from nas.hardware.linear_predictor import ridge_solve
from nas.hardware.tables import config_key

QUANTITIES = ("macs", "params", "layers")


def _input_size(config: Mapping):
    """The input size a layer's config names: its height (convolutions), spatial shape (norms) or tokens."""
    for key in ("h", "spatial", "tokens", "nodes"):
        if key in config:
            value = config[key]
            return tuple(value) if isinstance(value, (list, tuple)) else value
    return None


def layer_groups(counter: CostCounter) -> tuple[list[str], np.ndarray]:
    """(feature names, float32 tables [features, layers, combos]) of a counter's space."""
    groups: dict[str, int] = {}
    for configs in counter.layers.configs:
        for config in configs:
            if config is not None:
                groups.setdefault(config_key({"type": config["type"], "input": _input_size(config)}), len(groups))
    counts = {config_key(c): counter.cost_model.count(c) for c in counter.layers.distinct_configs()}

    def column(group: str, quantity: str):
        def value(config):
            if config_key({"type": config["type"], "input": _input_size(config)}) != group:
                return 0.0
            macs, params = counts[config_key(config)]
            return {"macs": macs / 1e6, "params": params / 1e3, "layers": 1.0}[quantity]
        return counter.layers.table(value, np.float64)

    names = [f"{quantity}:{group}" for quantity in QUANTITIES for group in groups]
    tables = np.stack([column(group, quantity) for quantity in QUANTITIES for group in groups]).astype(np.float32)
    return names, tables


class LayerCostPredictor:
    kind = "layer-cost"

    def __init__(self, counter: CostCounter, weights=None, bias: float = 0.0, alpha: float | None = None):
        self.counter, self.space, self.alpha = counter, counter.space, alpha
        self.feature_names, self._tables = layer_groups(counter)
        size = len(self.feature_names)
        self.params = {"w": jnp.asarray(np.zeros(size) if weights is None else weights, jnp.float32),
                       "b": jnp.asarray(bias, jnp.float32)}
        self._features = jax.jit(self._hard_features)
        self._predict = jax.jit(self.apply)

    def _hard_features(self, vectors):
        index, present = self.counter.layers.index_and_active(vectors)
        tables = jnp.asarray(self._tables)
        entries = tables[:, jnp.arange(tables.shape[1]), index]  # [features, ..., layers]
        return jnp.moveaxis(jnp.sum(jnp.where(present, entries, 0.0), axis=-1), 0, -1)

    def features(self, vectors) -> np.ndarray:
        return np.asarray(self._features(jnp.asarray(vectors, jnp.int32)))

    def apply(self, params, vectors):
        """Latency (ms) of int32 arch vectors [..., D] from explicit params; jittable."""
        return self._hard_features(vectors) @ params["w"] + params["b"]

    def __call__(self, vectors):
        return self._predict(self.params, jnp.asarray(vectors, jnp.int32))

    def expected(self, probs, params=None):
        """Expected latency (ms) under relaxed weights [..., D, C]; exact for this linear model."""
        params = self.params if params is None else params
        layers = self.counter.layers
        per_feature = jax.vmap(lambda table: jnp.sum(layers.expected(table, probs), axis=-1), out_axes=-1)(
            jnp.asarray(self._tables))
        return per_feature @ params["w"] + params["b"]

    def fit(self, vectors, latency_ms, *, alpha: float | None = None) -> "LayerCostPredictor":
        """Ridge on standardised features; `alpha=None` chooses it by leave-one-out."""
        features = self.features(vectors).astype(np.float64)
        scale = features.std(axis=0)
        scale[scale == 0] = 1.0  # a group every arch has alike: its weight is the intercept's
        w, b, self.alpha = ridge_solve(features / scale, latency_ms, alpha)
        self.params = {"w": jnp.asarray(w / scale, jnp.float32), "b": jnp.asarray(b, jnp.float32)}
        return self

    def payload(self) -> dict:
        return {"features": self.feature_names, "weights": np.asarray(self.params["w"]).tolist(),
                "bias": float(self.params["b"]), "alpha": self.alpha}

    @classmethod
    def from_payload(cls, counter: CostCounter, payload: Mapping) -> "LayerCostPredictor":
        predictor = cls(counter, None, payload["bias"], payload.get("alpha"))
        if list(payload["features"]) != predictor.feature_names:
            raise ValueError(f"its {len(payload['features'])} layer groups are not this network's "
                             f"{len(predictor.feature_names)}")
        predictor.params["w"] = jnp.asarray(np.asarray(payload["weights"], np.float32).reshape(-1))
        if predictor.params["w"].shape != (len(predictor.feature_names),):
            raise ValueError(f"{predictor.params['w'].size} weights for {len(predictor.feature_names)} features")
        return predictor
