"""Importance re-sorting (Once-for-All's channel re-organisation), on host arrays.

Nested widths use the first channels of every layer, so a supernet should keep
its most important channels first. Importance of a channel is the L1 norm of
the weights that read it (the next layer's input slice); sorting permutes the
producing layer's outputs, their normalisation parameters and statistics, and
the consuming layer's inputs together, so the full-width function is unchanged.
"""
from __future__ import annotations

import numpy as np
from flax import nnx


def l1_importance(kernel, axis: int) -> np.ndarray:
    """L1 norm of `kernel` over every axis but `axis`."""
    kernel = np.abs(np.asarray(kernel))
    return kernel.sum(axis=tuple(a for a in range(kernel.ndim) if a != axis % kernel.ndim))


def descending(importance: np.ndarray) -> np.ndarray:
    """The order putting the most important first (stable, so ties keep their place)."""
    return np.argsort(-importance, kind="stable")


def permute(variable: nnx.Variable, order: np.ndarray, axis: int) -> None:
    variable.set_value(np.take(np.asarray(variable[...]), order, axis=axis))


def permute_channels(module: nnx.Module, order: np.ndarray) -> None:
    """Permute every per-channel variable (last axis) of a norm layer or a conv/dense's outputs."""
    for _, variable in nnx.iter_graph(module):
        if isinstance(variable, nnx.Variable) and np.ndim(variable[...]) >= 1:
            permute(variable, order, -1)
