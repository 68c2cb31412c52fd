"""`space.features` for predictors: a fast hard form and a relaxed form, same layout.

Hard: per decision a one-hot of its own width, zero when inactive, concatenated; equal to
`space.features_jax(vectors)` without its [..., D, num_features] intermediate (10,000 archs
of MobileNetV3 would need 135 MB for it). Relaxed: feature `offset[p] + c` is
P(decision p is active) * P(decision p takes choice c); at one-hot weights, the hard form.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from nas.space import Space


class RelaxedFeatures:
    def __init__(self, space: Space):
        counts = self._counts = space.choice_counts
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

    def hard(self, vectors):
        """float32 [..., num_features] of int32 arch vectors [..., D]."""
        vectors = jnp.asarray(vectors, jnp.int32)
        source = vectors[..., self._source]
        active = jnp.take_along_axis(jnp.broadcast_to(self._active_table, (*vectors.shape, self._active_table.shape[1])),
                                     source[..., None], axis=-1)[..., 0]
        active = jnp.where(self._conditional, active, 1.0)
        parts = [(vectors[..., p:p + 1] == jnp.arange(n)).astype(jnp.float32) * active[..., p:p + 1]
                 for p, n in enumerate(self._counts)]
        return jnp.concatenate(parts, axis=-1)
