"""Weights that training never moves: a frozen base model under adapters (Shears, LoNAS).

`Frozen` is a variable type apart from `nnx.Param`. The engine splits a model into
`(graphdef, params, stats)` with `nnx.Param` and `nnx.BatchStat` (`nas.lowering.split`); the
optimizer sees `params` only, and `stats` is state the step threads through unchanged
unless a layer writes it (batch norm). A frozen weight is such state: it subclasses
`nnx.BatchStat`, so it travels with the statistics (checkpointed, restored, sliced, exported)
and is never differentiated, decayed or given momentum; no layer writes it.
So "frozen" is a property of the variable's type, not of an optimizer mask that could miss it.
"""
from __future__ import annotations

from flax import nnx

from supernets import input_norms
from supernets.elastic_dense import ElasticDense


class Frozen(nnx.BatchStat):
    """A weight held fixed: read by the forward pass, never updated by training."""


def freeze(module: nnx.Module) -> nnx.Module:
    """Every `nnx.Param` of `module` (and of the modules inside it) becomes `Frozen`, holding the same value.

    In place; returns `module`. Parameters inside plain containers (a list or dict attribute) are refused:
    the modules weft builds hold their weights as attributes.
    """
    for _, inner in nnx.iter_modules(module):
        for key, value in list(vars(inner).items()):
            if isinstance(value, nnx.Param):
                setattr(inner, key, Frozen(value[...]))
            elif isinstance(value, (list, tuple, dict)) and any(
                    isinstance(v, nnx.Param) for v in (value.values() if isinstance(value, dict) else value)):
                raise TypeError(f"freeze: {type(inner).__name__}.{key} holds parameters in a {type(value).__name__}; "
                                "allowed: parameters held as module attributes")
    return module


class FrozenDense(ElasticDense):
    """A dense layer of the frozen base that keeps no adapter: its kernel and bias `Frozen`.

    It reports its inputs to `supernets.input_norms`, so Wanda prunes it with the adapted layers.
    `active` slices it to an ordinary `ElasticDense` (a standalone model has nothing frozen).
    """

    @classmethod
    def of(cls, dense: ElasticDense, *, in_features=None, out_features=None) -> "FrozenDense":
        """`dense`'s weights, frozen; its sizes unless given (declared widths over the same kernel)."""
        layer = nnx.eval_shape(lambda: cls(dense.in_size if in_features is None else in_features,
                                           dense.out_size if out_features is None else out_features,
                                           use_bias=dense.use_bias, rngs=nnx.Rngs(0)))
        if (layer.in_features, layer.out_features) != tuple(dense.kernel.shape):
            raise ValueError(f"FrozenDense.of: sizes {layer.in_features}x{layer.out_features} do not fit the kernel "
                             f"{tuple(dense.kernel.shape)}")
        layer.kernel = Frozen(dense.kernel[...])
        layer.bias = Frozen(dense.bias[...]) if dense.use_bias else None
        return layer

    def __call__(self, x, out_width=None, *, arch=None):
        input_norms.note(self, x)
        return super().__call__(x, out_width, arch=arch)
