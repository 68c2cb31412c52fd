"""Analytic FLOPs (multiply-adds) and params of any arch: pure, jittable, vmappable.

`CostCounter.macs(vectors)` and `.params(vectors)` take int32 arch vectors [..., D] and
return one count per arch (int32 while the largest total fits, else float32); the
`expected_*` forms take relaxed weights [..., D, C] (differentiable). `count(arch)` is the
exact host-side version in Python ints.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from nas.errors import ConfigError
from nas.hardware.cost_model import CostModel, resolve_cost_model
from nas.data import renamed_input_shape
from nas.hardware.inputs import input_shape as resolve_input_shape
from nas.hardware.tables import LayerTable, config_key
from nas.space import Space

_INT32_MAX = np.iinfo(np.int32).max


class CostCounter:
    def __init__(self, space: Space, cost_model: CostModel):
        self.space, self.cost_model = space, cost_model
        self.layers = LayerTable(space, cost_model.layers)
        counts = {config_key(c): cost_model.count(c) for c in self.layers.distinct_configs()}
        self._macs64 = self.layers.table(lambda c: counts[config_key(c)][0], np.int64)
        self._params64 = self.layers.table(lambda c: counts[config_key(c)][1], np.int64)
        self.macs_table = _narrow(self._macs64)
        self.params_table = _narrow(self._params64)
        # Jitted once per counter (nested inside a caller's jit they simply inline).
        self.macs, self.params = jax.jit(self._macs), jax.jit(self._params)
        self.expected_macs, self.expected_params = jax.jit(self._expected_macs), jax.jit(self._expected_params)

    def _macs(self, vectors) -> jax.Array:
        """Multiply-adds per image of each arch (FLOPs as multiply-adds)."""
        return jnp.sum(self.layers.lookup(self.macs_table, vectors), axis=-1)

    def _params(self, vectors) -> jax.Array:
        return jnp.sum(self.layers.lookup(self.params_table, vectors), axis=-1)

    def _expected_macs(self, probs) -> jax.Array:
        return jnp.sum(self.layers.expected(self._macs64.astype(np.float32), probs), axis=-1)

    def _expected_params(self, probs) -> jax.Array:
        return jnp.sum(self.layers.expected(self._params64.astype(np.float32), probs), axis=-1)

    def count(self, arch: Mapping) -> dict:
        """Exact {"macs", "params", "layers": {name: (macs, params)}} of one arch, in Python ints."""
        vector = self.space.to_vector(arch)
        index, present = self.layers.index_and_active(vector, np)
        per_layer = {layer.name: (int(self._macs64[l, index[l]]), int(self._params64[l, index[l]]))
                     for l, layer in enumerate(self.layers.layers) if present[l]}
        return {"macs": sum(m for m, _ in per_layer.values()), "params": sum(p for _, p in per_layer.values()),
                "layers": per_layer}


def _narrow(table: np.ndarray) -> np.ndarray:
    """int32 when every arch's total fits (exact), else float32 (relative error ~1e-7)."""
    return table.astype(np.int32) if table.max(axis=1).sum() <= _INT32_MAX else table.astype(np.float32)


def load_counter(space_spec: str, options: Mapping | None = None,
                 input_shape: tuple[int, ...] | None = None, *,
                 image_shape: tuple[int, ...] | None = None) -> CostCounter:
    """The counter of a shipped (or `package.module:attr`) space, for inputs of `input_shape`:
    (H, W, C) images (default 28x28x1) or (T,) tokens (default: the space's context).
    `image_shape` is the former name of `input_shape`, still accepted."""
    from nas.definition import get_definition

    input_shape = renamed_input_shape(input_shape, image_shape, "load_counter")
    definition = get_definition(space_spec)
    if input_shape is not None and not isinstance(input_shape, (tuple, list)):
        raise ConfigError(f"input_shape must be a tuple, (H, W, C) or (T,); got {input_shape!r}")
    # Given or not, checked as the CLI checks --input-shape (an image space reads H, W, C).
    input_shape = resolve_input_shape(definition, None if input_shape is None else ",".join(map(str, input_shape)),
                                      options)
    resolved = definition.resolve_options(options, input_shape)
    space = definition.make_space(**resolved)
    return CostCounter(space, resolve_cost_model(definition, resolved, input_shape))
