"""nn-Meter-style latency predictor: per-layer-config lookup table, summed, plus a fitted overhead.

Each distinct layer config is timed once alone (`collect`, layers.jsonl). An arch's
prediction is `scale * sum(LUT[layer config]) + per_layer_ms * layers + overhead`, the three
fitted by least squares on measured archs: the overhead is what the whole compiled net pays
once (the call), `per_layer_ms` what a layer timed alone pays but a layer inside one compiled
net does not (its own dispatch; at batch 1 on CPU that is most of a small layer's time, so
it comes out negative), the scale what fusion saves. Pure JAX: a gather and a sum.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from nas.hardware.counters import CostCounter
from nas.hardware.cost_model import CostModelError
from nas.hardware.tables import config_key


class LutPredictor:
    kind = "lut"

    def __init__(self, counter: CostCounter, layer_ms: Mapping[str, float], scale: float = 1.0,
                 overhead_ms: float = 0.0, per_layer_ms: float = 0.0):
        self.counter, self.layer_ms = counter, dict(layer_ms)
        missing = [k for k in (config_key(c) for c in counter.layers.distinct_configs()) if k not in self.layer_ms]
        if missing:
            raise CostModelError(f"lookup table lacks {len(missing)} layer configs of space {counter.space.name!r} "
                                 f"(e.g. {missing[0]}); allowed: a table collected for this space and options")
        self.table = counter.layers.table(lambda c: self.layer_ms[config_key(c)], np.float32)
        self.scale, self.overhead_ms, self.per_layer_ms = float(scale), float(overhead_ms), float(per_layer_ms)
        self._layer_count = jax.jit(lambda vectors: jnp.sum(counter.layers.index_and_active(vectors)[1], axis=-1))
        self._layer_sum = jax.jit(lambda vectors: jnp.sum(counter.layers.lookup(self.table, vectors), axis=-1))

    def layer_sum(self, vectors):
        return self._layer_sum(vectors)

    def __call__(self, vectors):
        """Predicted latency (ms) of int32 arch vectors [..., D]; jittable."""
        return self.scale * self.layer_sum(vectors) + self.per_layer_ms * self._layer_count(vectors) + self.overhead_ms

    def expected(self, probs):
        """Expected latency (ms) under relaxed weights [..., D, C] (exact for this additive model)."""
        layers = self.counter.layers
        return (self.scale * jnp.sum(layers.expected(self.table, probs), axis=-1)
                + self.per_layer_ms * jnp.sum(layers.active_probability(probs), axis=-1) + self.overhead_ms)

    def fit(self, vectors, latency_ms) -> "LutPredictor":
        """Least-squares (scale, per-layer overhead, overhead) on measured archs."""
        sums = np.asarray(self.layer_sum(vectors), float)
        counts = np.asarray(self._layer_count(vectors), float)
        design = np.stack([sums, counts, np.ones_like(sums)], axis=1)
        solution, *_ = np.linalg.lstsq(design, np.asarray(latency_ms, float), rcond=None)
        self.scale, self.per_layer_ms, self.overhead_ms = (float(x) for x in solution)
        return self

    def payload(self) -> dict:
        return {"layer_ms": self.layer_ms, "scale": self.scale, "overhead_ms": self.overhead_ms,
                "per_layer_ms": self.per_layer_ms}

    @classmethod
    def from_payload(cls, counter: CostCounter, payload: Mapping) -> "LutPredictor":
        return cls(counter, payload["layer_ms"], payload["scale"], payload["overhead_ms"], payload["per_layer_ms"])
