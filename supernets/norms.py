"""Normalisation layers whose statistics cover the active width only."""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from nas.hardware import layer_counts
from supernets import init, shape_trace
from supernets.build import abstract, with_values
from supernets.decisions import check_width, evaluate, largest, read
from supernets.masks import mask_last_axis, prefix_mask, statistics_mask
from supernets.relaxed import Relaxed


class ElasticBatchNorm(nnx.Module):
    """BatchNorm over all axes but the last, PyTorch conventions.

    `running = (1 - momentum) * running + momentum * batch`, with the unbiased
    batch variance in the running update and the biased one for normalising.
    In the masked lowering only the active channels' running statistics move.
    """

    cost_type = "batch_norm"

    def __init__(self, channels, *, momentum: float = 0.1, epsilon: float = 1e-5,
                 rngs: nnx.Rngs | None = None):  # no random init; `rngs` for a uniform signature
        self.size = channels  # an int or a declared width (supernets.decisions)
        channels = largest(channels)
        self.channels, self.momentum, self.epsilon = channels, momentum, epsilon
        self.scale = nnx.Param(init.constant((channels,), 1.0))
        self.bias = nnx.Param(init.constant((channels,), 0.0))
        self.mean = nnx.BatchStat(init.constant((channels,), 0.0))
        self.var = nnx.BatchStat(init.constant((channels,), 1.0))

    def __call__(self, x, *, train: bool, width=None, arch=None):
        shape_trace.note(self, x)
        if arch is not None:
            check_width(self, x.shape[-1], self.size, arch)
            width = read(self.size, arch)
        if x.shape[-1] < self.channels:  # statically sliced input: use the leading statistics
            return self._call_prefix(x, train=train)
        if train:
            axes = tuple(range(x.ndim - 1))
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - mean), axis=axes)
            count = x.size // x.shape[-1]
            unbiased = var * (count / max(count - 1, 1))
            new_mean = (1 - self.momentum) * self.mean[...] + self.momentum * mean
            new_var = (1 - self.momentum) * self.var[...] + self.momentum * unbiased
            if width is not None:
                active = statistics_mask(width, self.channels)
                new_mean = jnp.where(active, new_mean, self.mean[...])
                new_var = jnp.where(active, new_var, self.var[...])
            self.mean.set_value(new_mean)
            self.var.set_value(new_var)
        else:
            mean, var = self.mean[...], self.var[...]
        y = (x - mean) * (self.scale[...] * jnp.reciprocal(jnp.sqrt(var + self.epsilon))) + self.bias[...]
        return mask_last_axis(y, width)

    def _call_prefix(self, x, *, train: bool):
        width = x.shape[-1]
        prefix = abstract(ElasticBatchNorm, width, momentum=self.momentum, epsilon=self.epsilon)
        with_values(prefix, **{name: getattr(self, name)[...][:width] for name in ("scale", "bias", "mean", "var")})
        y = prefix(x, train=train)
        if train:
            self.mean.set_value(self.mean[...].at[:width].set(prefix.mean[...]))
            self.var.set_value(self.var[...].at[:width].set(prefix.var[...]))
        return y

    def sliced(self, width: int) -> "ElasticBatchNorm":
        layer = abstract(ElasticBatchNorm, width, momentum=self.momentum, epsilon=self.epsilon)
        return with_values(layer, **{name: getattr(self, name)[...][:width]
                                     for name in ("scale", "bias", "mean", "var")})

    def active(self, values) -> "ElasticBatchNorm":
        return self.sliced(evaluate(self.size, values))

    def cost_sizes(self) -> dict:
        return {"channels": self.size}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        return {"type": self.cost_type, "channels": sizes["channels"], "spatial": list(input_shape[1:-1])}

    @staticmethod
    def count_cost(config: dict) -> tuple[int, int]:
        return 0, layer_counts.norm_params(config["channels"])

    @staticmethod
    def build_for_cost(config: dict, rngs: nnx.Rngs):
        from supernets.timed_layer import InferenceCall

        return InferenceCall(ElasticBatchNorm(config["channels"]), train=False), (*config["spatial"], config["channels"])


class ElasticLayerNorm(nnx.Module):
    """LayerNorm over the last axis, statistics over the first `width` features only."""

    cost_type = "layer_norm"

    def __init__(self, features, *, epsilon: float = 1e-5, rngs: nnx.Rngs | None = None):
        self.size = features  # an int or a declared width (supernets.decisions)
        features = largest(features)
        self.features, self.epsilon = features, epsilon
        self.scale = nnx.Param(init.constant((features,), 1.0))
        self.bias = nnx.Param(init.constant((features,), 0.0))

    def __call__(self, x, width=None, *, arch=None):
        shape_trace.note(self, x)
        if arch is not None:
            check_width(self, x.shape[-1], self.size, arch)
            width = read(self.size, arch)
        if x.shape[-1] < self.features:  # statically sliced input
            return self.sliced(x.shape[-1])(x)
        if isinstance(width, Relaxed):
            # Statistics depend on the width, so no single mask superposes them: the choices'
            # normalised outputs are mixed instead (elementwise work; the matmuls stay shared).
            return width.expect(lambda w: self(x, jnp.int32(w)))
        if width is None:
            mean = jnp.mean(x, axis=-1, keepdims=True)
            var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        else:
            active = prefix_mask(width, self.features)
            count = jnp.asarray(width, x.dtype)
            mean = jnp.sum(jnp.where(active, x, 0.0), axis=-1, keepdims=True) / count
            var = jnp.sum(jnp.where(active, jnp.square(x - mean), 0.0), axis=-1, keepdims=True) / count
        y = (x - mean) * jnp.reciprocal(jnp.sqrt(var + self.epsilon)) * self.scale[...] + self.bias[...]
        return mask_last_axis(y, width)

    def sliced(self, width: int) -> "ElasticLayerNorm":
        layer = abstract(ElasticLayerNorm, width, epsilon=self.epsilon)
        return with_values(layer, scale=self.scale[...][:width], bias=self.bias[...][:width])

    def active(self, values) -> "ElasticLayerNorm":
        return self.sliced(evaluate(self.size, values))

    def cost_sizes(self) -> dict:
        return {"features": self.size}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        return {"type": self.cost_type, "features": sizes["features"], "leading": list(input_shape[1:-1])}

    @staticmethod
    def count_cost(config: dict) -> tuple[int, int]:
        return 0, layer_counts.norm_params(config["features"])

    @staticmethod
    def build_for_cost(config: dict, rngs: nnx.Rngs):
        return ElasticLayerNorm(config["features"]), (*config["leading"], config["features"])
