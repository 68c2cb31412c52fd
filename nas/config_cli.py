"""Command-line options written from a config dataclass's `setting` fields (nas.config.setting).

A command takes `@click_options(TrainConfig)` and builds its config with `config_from_options`: names,
types, defaults, allowed values and help come from the dataclass, so the CLI cannot restate a default or
a choice differently from the code. Values are checked by the config (`check_settings`, `check()`), not by
click, so a bad value gets the same one-line error from the CLI as from Python.
"""
from __future__ import annotations

import dataclasses
import types
import typing

import click


def _value_type(annotation) -> type:
    """`int | None` -> int; `tuple` -> str (read with the field's separator)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if annotation is tuple or typing.get_origin(annotation) is tuple:
        return str
    return annotation


def _help(field: dataclasses.Field) -> str:
    meta = field.metadata
    text = meta["help"]
    if meta["default_help"]:
        text += f" [default: {meta['default_help']}]"
    return text


def _default(field: dataclasses.Field):
    value = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    if field.metadata.get("multiple"):
        return value
    if isinstance(value, tuple):
        return field.metadata["separator"].join(value) if field.metadata["separator"] else ""
    return value


def cli_fields(cls) -> list[dataclasses.Field]:
    """The fields of `cls` that are command-line options, in declaration order."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata and not f.metadata["hidden"]]


def click_options(cls):
    """A decorator adding one click option per `setting` field of `cls` (keyword argument = field name)."""
    hints = typing.get_type_hints(cls)

    def decorate(command):
        for field in reversed(cli_fields(cls)):
            value_type, default = _value_type(hints[field.name]), _default(field)
            names = field.metadata["cli"] or ("--" + field.name.replace("_", "-"),)
            if field.metadata.get("multiple"):
                option = click.option(*names, field.name, multiple=True, default=default, help=_help(field))
            elif value_type is bool:
                if not field.metadata["cli"]:
                    names = (f"--{field.name.replace('_', '-')}/--no-{field.name.replace('_', '-')}",)
                option = click.option(*names, field.name, default=default, show_default=True, help=_help(field))
            else:
                choices = field.metadata["choices"]  # shown as click.Choice shows them, checked by the config
                option = click.option(*names, field.name, type=value_type, default=default,
                                      metavar="[" + "|".join(choices) + "]" if choices else None,
                                      show_default=default not in (None, ""), help=_help(field))
            command = option(command)
        return command
    return decorate


def config_from_options(cls, options: dict, what: str, /, **extra):
    """`cls` built from the keyword arguments of `click_options(cls)` (plus `extra` fields), checked."""
    from nas.config import from_dict

    values = dict(extra)
    for field in cli_fields(cls):
        if field.name not in options:
            continue
        value, meta = options[field.name], field.metadata
        if meta.get("multiple"):
            value = tuple(value)
        elif meta["separator"] is not None and value is not None:
            value = tuple(part.strip() for part in value.split(meta["separator"]) if part.strip())
        if meta["from_cli"] is not None:
            value = meta["from_cli"](value)
        values[field.name] = value
    return from_dict(cls, values, what)
