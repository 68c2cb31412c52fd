"""Typed configs: dataclasses checked field by field, one clear error per bad value."""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from nas.errors import ConfigError
from nas.option_bounds import Bounds, bounds_of


def type_ok(value: Any, annotation: Any) -> bool:
    """Whether `value` (as JSON gives it) is of `annotation`: an int is a float, a bool is no int, a list is a tuple."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, arg) for arg in typing.get_args(annotation))
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
        if not type_ok(value, hints[name]):
            raise ConfigError(f"{what}: {name} must be {_describe(hints[name])}, got {value!r}")
    check_finite(values, what)
    values = {name: tuple(value) if isinstance(value, list) and (
        hints[name] is tuple or typing.get_origin(hints[name]) is tuple) else value for name, value in values.items()}
    config = cls(**values)
    check_bounds(config, what)
    check = getattr(config, "check", None)
    if check:
        check()
    return config


def check_finite(values: dict, what: str = "config") -> None:
    """NaN or inf is never a setting: a NaN learning rate would only show up as a diverged run."""
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{what}: {name} must be a finite number, got {value}")


def check_bounds(config, what: str = "config") -> None:
    """Each field annotated `Annotated[..., Bounds(...)]` (nas.option_bounds) within its bounds."""
    for name, bounds in _field_bounds(type(config)).items():
        bounds.check(what, name, getattr(config, name))


def _field_bounds(cls) -> dict:
    hints = typing.get_type_hints(cls, include_extras=True)
    found = {field.name: bounds_of(hints.get(field.name), f"{cls.__qualname__}.{field.name}")
             for field in dataclasses.fields(cls)}
    return {name: bounds for name, bounds in found.items() if bounds is not None}


def _describe(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if args:
        return " or ".join(_describe(a) for a in args)
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def changed_settings(saved: Mapping, wanted: Mapping, keys, defaults: Mapping | None = None) -> list[str]:
    """The `keys` whose value in `saved` (a setting it predates counts at its value in `defaults`) differs
    from `wanted`'s, compared as JSON (a saved list equals the tuple it was written from)."""
    def as_json(value):
        return json.loads(json.dumps(value, default=list))

    defaults = defaults or {}
    return [key for key in keys if as_json(saved.get(key, defaults.get(key))) != as_json(wanted.get(key))]


def setting(default: Any = None, help: str = "", *, choices: tuple | None = None, minimum: float | None = None,
            above: float | None = None, cli: tuple[str, ...] | None = None, separator: str | None = None,
            from_cli: Any = None, default_help: str | None = None, hidden: bool = False, multiple: bool = False):
    """A config field that also declares its command-line option and its checks.

    The dataclass is then the single source: `nas.config_cli.click_options` writes the options (name, type,
    default, help and the allowed values) and `check_settings` the range and choice checks, so the CLI, Python
    and saved configs are checked alike. `cli` overrides the option's names ("--lr", "--x/--no-x");
    `separator` reads a tuple field from one string; `from_cli` converts the option's value (e.g. 0 -> None);
    `default_help` describes a default the field resolves later; `hidden` keeps a field off the CLI;
    `multiple` makes a tuple field a repeatable option (one entry per use).
    """
    if minimum is not None and above is not None:
        raise ConfigError(f"setting: give minimum or above, not both (got {minimum} and {above})")
    # The same Bounds (nas.option_bounds) that space, searcher and experiment options declare.
    bounds = (Bounds(low=minimum) if minimum is not None else
              Bounds(low=above, low_inclusive=False) if above is not None else None)
    metadata = {"help": help, "choices": choices, "bounds": bounds, "cli": cli,
                "separator": separator, "from_cli": from_cli, "default_help": default_help, "hidden": hidden,
                "multiple": multiple}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check_settings(config, what: str = "config") -> None:
    """The declared checks of every field: finite; a `setting` field in its choices and at least / above its
    bound; a field annotated `Annotated[..., Bounds(...)]` (nas.option_bounds) within them."""
    check_finite(to_dict(config), what)
    check_bounds(config, what)
    for field in dataclasses.fields(config):
        meta, value = field.metadata, getattr(config, field.name)
        if value is None or not meta:
            continue
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{what}: {field.name} must be one of {', '.join(map(str, choices))}, got {value!r}")
        bounds = meta.get("bounds")
        if bounds is not None and not bounds.admits(value):
            raise ConfigError(f"{what}: {field.name} must be {bounds.describe()}, got {value}")
