"""Squeeze-and-excitation with elastic channels (MobileNetV3)."""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from supernets import ops
from supernets.build import abstract
from supernets.decisions import largest, read
from supernets.elastic_dense import ElasticDense


class ElasticSqueezeExcite(nnx.Module):
    """`channels` and `reduced` ints or declared sizes (`supernets.decisions`)."""

    def __init__(self, channels, reduced, *, rngs: nnx.Rngs):
        self.channels, self.reduced = largest(channels), largest(reduced)
        self.reduce = ElasticDense(channels, reduced, rngs=rngs)
        self.expand = ElasticDense(reduced, channels, rngs=rngs)

    def __call__(self, x, reduced_width=None, *, arch=None):
        if arch is not None:
            reduced_width = read(self.reduce.out_size, arch)
        # Inactive input channels are zero, and the product below keeps them zero.
        squeezed = jnp.mean(x, axis=(1, 2), keepdims=True)
        hidden = ops.relu(self.reduce(squeezed, reduced_width))
        return x * ops.h_sigmoid(self.expand(hidden, x.shape[-1]))

    def sliced(self, channels: int, reduced: int) -> "ElasticSqueezeExcite":
        layer = abstract(ElasticSqueezeExcite, channels, reduced)
        layer.reduce = self.reduce.sliced(channels, reduced)
        layer.expand = self.expand.sliced(reduced, channels)
        return layer
