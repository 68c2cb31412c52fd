"""Bounds on numeric options, declared where the option is: in the signature that takes it.

    def __init__(self, width_mult: Annotated[float, POSITIVE] = 1.0,
                 kernels: Annotated[tuple[int, ...], AT_LEAST_ONE] = (3, 5, 7), *, rngs): ...

`declared_space` reads them from a network's signature and `SearchSpaceDefinition.resolve_options` checks
every option against them; `searchers.registry.make_searcher` does the same for a searcher's constructor. A value no layer can use (zero classes, a negative width multiplier that
`make_divisible` would quietly round up to the minimum width, a negative channel count that reaches
JAX as a negative shape) is then one ConfigError naming the option and what it allows, before anything
is built. A tuple option's bounds hold for each of its numbers; None (an option left unset) is not
checked, nor are values of other types (the option's type is checked apart).
"""
from __future__ import annotations

import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nas.errors import ConfigError


@dataclass(frozen=True)
class Bounds:
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __post_init__(self) -> None:
        for end in (self.low, self.high):
            if end is not None and not (isinstance(end, numbers.Real) and math.isfinite(end)):
                raise ConfigError(f"Bounds ends must be finite numbers or None; got {end!r}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ConfigError(f"Bounds low must be <= high; got low={self.low}, high={self.high}")

    def admits(self, number: float) -> bool:
        """Whether `number` lies within the bounds (NaN never does)."""
        if math.isnan(number):
            return False
        above = self.low is None or (number >= self.low if self.low_inclusive else number > self.low)
        below = self.high is None or (number <= self.high if self.high_inclusive else number < self.high)
        return above and below

    def describe(self) -> str:
        """The bounds as a reader writes them: '> 0', '>= 1', 'in [0, 1)'."""
        if self.low is not None and self.high is not None:
            return (f"in {'[' if self.low_inclusive else '('}{_number(self.low)}, "
                    f"{_number(self.high)}{']' if self.high_inclusive else ')'}")
        if self.low is not None:
            return f"{'>=' if self.low_inclusive else '>'} {_number(self.low)}"
        if self.high is not None:
            return f"{'<=' if self.high_inclusive else '<'} {_number(self.high)}"
        return "any number"

    def check(self, owner: str, key: str, value: Any) -> None:
        """Raises ConfigError when `value` (a number, or a tuple or list holding numbers) breaks the bounds;
        `owner` names what the option belongs to ("space 'mlp'", "searcher 'evolution'")."""
        if isinstance(value, (tuple, list)):
            outside = [element for element in value if _is_number(element) and not self.admits(element)]
            if outside:
                raise ConfigError(f"{owner}: option {key}={tuple(value)!r} holds {_number(outside[0])}; "
                                  f"allowed: each number {self.describe()}")
        elif _is_number(value) and not self.admits(value):
            raise ConfigError(f"{owner}: option {key}={_number(value)} is out of range; "
                              f"allowed: {self.describe()}")


POSITIVE = Bounds(low=0, low_inclusive=False)
AT_LEAST_ONE = Bounds(low=1)
NON_NEGATIVE = Bounds(low=0)
FRACTION_BELOW_ONE = Bounds(low=0, high=1, high_inclusive=False)  # a momentum, a pruned share
PROBABILITY = Bounds(low=0, high=1)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _number(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)


def parameter_hints(function: Callable) -> dict[str, Any]:
    """{parameter: its annotation, resolved} for each annotated parameter of `function`.

    Annotations written as strings (`from __future__ import annotations`) are resolved one by one in the
    function's module, so one only a type checker can resolve (an import under TYPE_CHECKING) is left out
    instead of failing the others."""
    namespace = getattr(function, "__globals__", {})
    hints = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.annotation is not inspect.Parameter.empty:
            hint = _resolved(parameter.annotation, namespace)
            if hint is not _UNRESOLVED:
                hints[name] = hint
    return hints


def bounds_in_signature(function: Callable) -> dict[str, Bounds]:
    """{parameter: Bounds} for each parameter of `function` annotated with them (see `bounds_of`)."""
    found = {}
    for name, hint in parameter_hints(function).items():
        bounds = bounds_of(hint, f"{function.__qualname__}: parameter {name!r}")
        if bounds is not None:
            found[name] = bounds
    return found


def bounds_of(hint: Any, what: str) -> Bounds | None:
    """The Bounds an annotation declares: `Annotated[T, Bounds(...)]`, or one member of a union written that
    way (`PositiveInt | None`); None where it declares none. More than one is an error naming `what`."""
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    declared = [item for member in members if typing.get_origin(member) is typing.Annotated
                for item in member.__metadata__ if isinstance(item, Bounds)]
    if len(declared) > 1:
        raise ConfigError(f"{what} declares {len(declared)} Bounds; allowed: one")
    return declared[0] if declared else None


def without_bounds(hint: Any) -> Any:
    """The annotation with `Annotated[...]` unwrapped, at the top and in a union's members."""
    if typing.get_origin(hint) is typing.Annotated:
        return without_bounds(typing.get_args(hint)[0])
    if _is_union(hint):
        members = tuple(without_bounds(member) for member in typing.get_args(hint))
        return typing.Union[members]  # noqa: UP007 - built from a tuple of members
    return hint


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


_UNRESOLVED = object()


def _resolved(annotation: Any, namespace: Mapping) -> Any:
    def holder() -> None: ...
    holder.__annotations__ = {"value": annotation}
    try:
        return typing.get_type_hints(holder, globalns=dict(namespace), include_extras=True)["value"]
    except Exception:  # noqa: BLE001 - an annotation only a type checker resolves has no runtime meaning
        return _UNRESOLVED


# The annotations shipped spaces and searchers use: `channels: PositiveInt = 16`,
# `kernels: PositiveInts = (3, 5, 7)`, `crossover_prob: Probability = 0.5`.
PositiveInt = typing.Annotated[int, AT_LEAST_ONE]
PositiveInts = typing.Annotated[tuple[int, ...], AT_LEAST_ONE]
PositiveFloat = typing.Annotated[float, POSITIVE]
PositiveNumbers = typing.Annotated[tuple[float, ...], POSITIVE]
NonNegativeInts = typing.Annotated[tuple[int, ...], NON_NEGATIVE]  # depth choices: 0 skips a stack
NonNegativeInt = typing.Annotated[int, NON_NEGATIVE]
NonNegativeFloat = typing.Annotated[float, NON_NEGATIVE]
Probability = typing.Annotated[float, PROBABILITY]
Momentum = typing.Annotated[float, FRACTION_BELOW_ONE]
