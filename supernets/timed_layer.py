"""Standalone modules the lookup-table predictor times for layers whose cost entry is not a plain call.

The predictor splits and jits `module(x)`; these wrap a layer (or none) so that its parameters
stay in the module's state, not baked into the program as constants.
"""
from __future__ import annotations

from flax import nnx


class InferenceCall(nnx.Module):
    """`module(x)` = `layer.<method>(x, **kwargs)` (e.g. BatchNorm in eval mode, a tied output projection)."""

    def __init__(self, layer: nnx.Module, method: str = "__call__", **kwargs):
        self.layer, self.method, self.kwargs = layer, method, tuple(sorted(kwargs.items()))

    def __call__(self, x):
        return getattr(self.layer, self.method)(x, **dict(self.kwargs))


class PlusPositions(nnx.Module):
    """`x + positions(T)`: the learned positions added to a window of T tokens."""

    def __init__(self, positions: nnx.Module):
        self.positions = positions

    def __call__(self, x):
        return x + self.positions(x.shape[1])


class AttentionProducts(nnx.Module):
    """The two token-by-token products of attention on q = k = v = x (no parameters)."""

    def __init__(self, head_dim: int, causal: bool):
        self.head_dim, self.causal = head_dim, causal

    def __call__(self, x):
        from supernets.elastic_attention import attention

        return attention(x, x, x, self.head_dim, self.causal)
