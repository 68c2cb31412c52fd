"""Typed configs: dataclasses checked field by field, one clear error per bad value."""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from nas.errors import ConfigError


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if origin is tuple or annotation is tuple:  # JSON has lists only
        return isinstance(value, (tuple, list))
    return isinstance(value, annotation)


def from_dict(cls, values: dict, what: str = "config"):
    """Build dataclass `cls` from `values`, rejecting unknown keys and wrong types by name."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{what}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if not _type_ok(value, hints[name]):
            raise ConfigError(f"{what}: {name} must be {_describe(hints[name])}, got {value!r}")
    check_finite(values, what)
    values = {name: tuple(value) if isinstance(value, list) and (
        hints[name] is tuple or typing.get_origin(hints[name]) is tuple) else value for name, value in values.items()}
    config = cls(**values)
    check = getattr(config, "check", None)
    if check:
        check()
    return config


def check_finite(values: dict, what: str = "config") -> None:
    """NaN or inf is never a setting: a NaN learning rate would only show up as a diverged run."""
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{what}: {name} must be a finite number, got {value}")


def _describe(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if args:
        return " or ".join(_describe(a) for a in args)
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def to_dict(config) -> dict:
    return dataclasses.asdict(config)
