"""FLOPs as a latency proxy: `latency ~ scale * MACs + offset`, fitted by least squares."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nas.hardware.counters import CostCounter


class FlopsProxy:
    kind = "flops"

    def __init__(self, counter: CostCounter, ms_per_mmac: float = 1.0, offset_ms: float = 0.0):
        self.counter, self.ms_per_mmac, self.offset_ms = counter, float(ms_per_mmac), float(offset_ms)

    def __call__(self, vectors):
        return self.ms_per_mmac * self.counter.macs(vectors) / 1e6 + self.offset_ms

    def expected(self, probs):
        return self.ms_per_mmac * self.counter.expected_macs(probs) / 1e6 + self.offset_ms

    def fit(self, vectors, latency_ms) -> "FlopsProxy":
        mmacs = np.asarray(self.counter.macs(vectors), float) / 1e6
        design = np.stack([mmacs, np.ones_like(mmacs)], axis=1)
        (scale, offset), *_ = np.linalg.lstsq(design, np.asarray(latency_ms, float), rcond=None)
        self.ms_per_mmac, self.offset_ms = float(scale), float(offset)
        return self

    def payload(self) -> dict:
        return {"ms_per_mmac": self.ms_per_mmac, "offset_ms": self.offset_ms}

    @classmethod
    def from_payload(cls, counter: CostCounter, payload: Mapping) -> "FlopsProxy":
        return cls(counter, payload["ms_per_mmac"], payload["offset_ms"])
