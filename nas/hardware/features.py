"""Relaxed `space.features`: the same one-hot-per-decision layout, from relaxed weights.

Feature `offset[p] + c` is P(decision p is active) * P(decision p takes choice c); with
one-hot weights this is exactly `space.features_jax(vectors)`.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from nas.space import Space


class RelaxedFeatures:
    def __init__(self, space: Space):
        counts = space.choice_counts
        width = max(counts)
        names = [d.name for d in space.free]
        self._decision = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
        self._choice = np.concatenate([np.arange(n) for n in counts]).astype(np.int32)
        self._source = np.arange(len(counts), dtype=np.int32)
        self._active_table = np.ones((len(counts), width), np.float32)
        self._conditional = np.zeros(len(counts), bool)
        for p, d in enumerate(space.free):
            if d.when is None:
                continue
            source = names.index(d.when.source)
            values = space.free[source].values
            self._source[p], self._conditional[p] = source, True
            self._active_table[p] = [float(i < len(values) and values[i] >= d.when.min_value) for i in range(width)]

    def __call__(self, probs):
        """float32 [..., num_features] from relaxed weights [..., D, C]."""
        probs = jnp.asarray(probs, jnp.float32)
        active = jnp.sum(probs[..., self._source, :] * self._active_table, axis=-1)
        active = jnp.where(self._conditional, active, 1.0)
        return active[..., self._decision] * probs[..., self._decision, self._choice]
