"""Wanda unstructured pruning (Sun et al. 2023): weights by |W| x input-activation norm, per output.

A weight W_ij (input feature i, output j; kernels are [in, out]) scores |W_ij| * ||X_i||_2, the norm
of feature i over every calibration token. Each output's weights compete among themselves (Wanda's
per-output-row comparison group): the floor(ratio * in) lowest scores of every output column are
set to zero, so every column, and the kernel, holds exactly that share of zeros.

Layers are pruned in groups, in order (Wanda goes block by block): each group's input norms come
from a forward pass of the calibration inputs through the model with the groups before it already
pruned. A layer takes part if it has a `kernel` variable and reports its inputs to
`supernets.input_norms` (`ElasticLoRADense` does: Shears sparsifies the base under the adapters).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nas.errors import ConfigError
from supernets import input_norms


def check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise ConfigError(f"sparsity ratio must be a number in [0, 1), got {ratio!r}")
    return float(ratio)


def keep_mask(kernel, square_sums, ratio: float) -> np.ndarray:
    """bool [in, out]: False at the floor(ratio * in) lowest-scoring weights of every output column."""
    kernel = np.asarray(kernel, np.float32)
    pruned = int(kernel.shape[0] * check_ratio(ratio))
    score = np.abs(kernel) * np.sqrt(np.asarray(square_sums, np.float32))[:, None]
    order = np.argsort(score, axis=0, kind="stable")  # ascending per column; ties by input index
    keep = np.ones(kernel.shape, bool)
    np.put_along_axis(keep, order[:pruned], False, axis=0)
    return keep


def sparsity(kernel) -> float:
    """The share of exact zeros in a kernel."""
    kernel = np.asarray(kernel)
    return float(np.mean(kernel == 0))


def record_input_norms(model: nnx.Module, inputs, call: Callable) -> Callable[[], dict]:
    """A function returning {module path: sum of squares of its inputs} for `call(model, inputs)` now.

    One jitted pass over the current weights (re-read at each call, so pruned groups are seen).
    """
    graphdef = nnx.graphdef(model)

    @jax.jit
    def sums_of(state, inputs):
        merged = nnx.merge(graphdef, state)
        paths = {id(module): path for path, module in nnx.iter_modules(merged)}
        with input_norms.recording() as sums:
            call(merged, inputs)
        return {"/".join(map(str, paths[key])): value for key, value in sums.items()}

    return lambda: sums_of(nnx.state(model), inputs)


def sparsify(model: nnx.Module, groups: Sequence[Sequence[nnx.Module]], inputs, ratio: float,
             call: Callable = lambda model, x: model(x)) -> None:
    """Prune each layer of each group in place (its `kernel` variable), groups in order.

    A network may sparsify its base in its constructor: inside a shape-only construction (`nnx.eval_shape`:
    some weights are traced) nothing is computed, as pruning changes values, never shapes.
    """
    ratio = check_ratio(ratio)
    if ratio == 0 or any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(nnx.state(model))):
        return
    paths = {id(module): "/".join(map(str, path)) for path, module in nnx.iter_modules(model)}
    record = record_input_norms(model, inputs, call)
    for group in groups:
        sums = record()
        for layer in group:
            path = paths.get(id(layer))
            if path not in sums:
                raise ValueError(f"wanda: layer {path or type(layer).__name__} saw no calibration input; allowed: "
                                 "layers of the model that the calibration call runs and that note their inputs")
            kernel = np.asarray(layer.kernel[...])
            layer.kernel.set_value(jnp.asarray(np.where(keep_mask(kernel, sums[path], ratio), kernel, 0), kernel.dtype))
