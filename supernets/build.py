"""Building standalone layers from slices without paying for a random init."""
from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

from flax import nnx

M = TypeVar("M", bound=nnx.Module)


@functools.lru_cache(maxsize=4096)
def _abstract_cached(cls: type, args: tuple, kwargs: tuple) -> nnx.Module:
    return nnx.eval_shape(lambda: cls(*args, **dict(kwargs), rngs=nnx.Rngs(0)))


def abstract(cls: type[M], *args: Any, **kwargs: Any) -> M:
    """`cls(*args, **kwargs, rngs=...)` with shape-only variables: no init is computed.

    `nnx.eval_shape` traces the initialisers (tens of ms per layer), and a
    subnet's layer shapes repeat across archs, so abstract modules are cached
    by their (hashable) constructor arguments and cloned.
    """
    return nnx.clone(_abstract_cached(cls, args, tuple(sorted(kwargs.items()))))


@functools.lru_cache(maxsize=256)
def _abstract_from_json(cls: type, config_json: str) -> nnx.Module:
    return nnx.eval_shape(lambda: cls(json.loads(config_json), rngs=nnx.Rngs(0)))


def abstract_from_config(cls: type[M], config: dict) -> M:
    """`cls(config, rngs=...)` with shape-only variables, cached by the config's JSON."""
    return nnx.clone(_abstract_from_json(cls, json.dumps(config, sort_keys=True)))


def with_values(module: M, **values) -> M:
    """Set each named variable of `module` to a concrete array; returns the module."""
    for name, value in values.items():
        getattr(module, name).set_value(value)
    return module
