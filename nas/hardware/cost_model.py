"""How a search space describes its layers to the hardware-cost code.

A space's cost hook (`SearchSpaceDefinition.cost_model`) returns a `CostModel`: a list of
`CostLayer`s. A space built with `nas.declared_space` derives it from its layers
(`nas.hardware.derived_cost`); a space written by hand may give the hook, or define
`cost_model` in a sibling module `<space module>_cost`. Each layer
names the few decisions that choose its configuration and, optionally, one decision
whose value switches it on; from those the engine builds per-layer tables indexed by
the arch vector (`nas.hardware.tables`), so that FLOPs, params and lookup-table latency
are jittable gathers, vectorised over archs and differentiable in relaxed weights.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flax import nnx

from nas.errors import WeftError


class CostModelError(WeftError):
    """A space has no cost model, or its cost model does not fit the space."""


@dataclass(frozen=True)
class CostLayer:
    """One layer (or block) of every subnet, as far as cost goes.

    `config(*values)` takes the values of `decisions` (in order) and returns the layer's
    exact-shape JSON config: equal configs are one lookup-table entry. `active_if`
    (decision, allowed values) makes the layer present only when that decision's value
    is among them (e.g. a block past a stage's depth); it must not be in `decisions`.
    """

    name: str
    decisions: tuple[str, ...]
    config: Callable[..., dict]
    active_if: tuple[str, tuple] | None = None


@dataclass(frozen=True)
class CostModel:
    """`count(config) -> (macs, params)`, `build(config, rngs) -> (module, input_shape)`.

    `build` returns a standalone nnx module called as `module(x)` (inference) and the
    per-image input shape; the lookup-table predictor times each distinct config with it.
    `input_shape` is one example's input the counts are for, (H, W, C) or (T,), set by
    `resolve_cost_model` (a latency predictor for another input is refused against it).
    """

    layers: tuple[CostLayer, ...]
    count: Callable[[Mapping], tuple[int, int]]
    build: Callable[[Mapping, nnx.Rngs], tuple[nnx.Module, tuple[int, ...]]]
    input_shape: tuple[int, ...] = ()


def resolve_cost_model(definition: Any, options: Mapping, input_shape: tuple[int, ...]) -> CostModel:
    """The space's cost model for these options and one example's input shape ((H, W, C) or (T,))."""
    hook = getattr(definition, "cost_model", None)
    if hook is None:
        module_name = f"{definition.build_supernet.__module__}_cost"
        try:
            hook = importlib.import_module(module_name).cost_model
        except (ImportError, AttributeError):
            raise CostModelError(
                f"space {definition.name!r} has no cost model; allowed: set SearchSpaceDefinition.cost_model "
                f"or define cost_model in module {module_name}") from None
    model = hook(dict(options), tuple(input_shape))
    if not isinstance(model, CostModel):
        raise CostModelError(f"space {definition.name!r}: cost_model returned {type(model).__name__}, not a CostModel")
    return dataclasses.replace(model, input_shape=tuple(input_shape),
                               count=_checked_count(model.count, definition.name))


def _is_count(value) -> bool:
    """A finite number >= 0: a Python or numpy number, or a 0-d array of one (`jnp.prod(shape)`)."""
    if isinstance(value, (bool, np.bool_)) or not hasattr(np.asarray(value), "dtype"):
        return False
    array = np.asarray(value)
    return (array.ndim == 0 and (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating))
            and bool(np.isfinite(array)) and float(array) >= 0)


def _checked_count(count: Callable[[Mapping], tuple[int, int]], space_name: str):
    """A space's `count`, its answers checked: a negative or NaN count would price every arch wrongly (a
    budget `macs<=0` met by all) or fail far from the hook that gave it."""
    def checked(config: Mapping) -> tuple[int, int]:
        counts = count(config)
        if not (isinstance(counts, (tuple, list)) and len(counts) == 2 and all(map(_is_count, counts))):
            raise CostModelError(f"space {space_name!r}: its cost model's count returned {counts!r} for layer "
                                 f"config {dict(config)}; allowed: (multiply-adds, params), two finite numbers >= 0")
        return counts
    return checked
