"""Decisions declared where they are used: a network holds its choices, and its `Space` is derived from it.

A network declares each decision as an attribute of the module that uses it, or passes it as a
layer's size, as NNI's `ValueChoice` and PyGlove's `pg.oneof` do:

    self.conv = ElasticConv2d(3, NestedWidth(max=64, steps=4), kernel_size=OneOf((3, 5)), rngs=rngs)

`name_decisions(model, space_name)` walks the model in attribute order, names each decision by its
module path (`conv.out_size`, unless it was given a `name=`), binds the names into the model (the named
copies are static attributes, so they travel with `nnx.split`/`merge`), and returns the `Space`. One
decision object used in several places (a conv's width read by its norm and the next conv) is one
decision. At call time a layer reads its value with `read(size, arch)`: `arch` maps names to traced
ints (masked lowering), Python ints (a fixed subnet) or `Relaxed` weights, and `None` means the
standalone model, at full size.

Sizes may also be derived: `decision.map(fn)` (an expand ratio times the input channels), `Product`
(an FFN width = MLP ratio x embedding width, two decisions) and `Select` (the width after an
elastic-depth stack, which depends on the depth). Cost and export read these
expressions to know which decisions set each layer's shape (`nas.hardware.derived_cost`).
"""
from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flax import nnx

from nas import space as space_lib
from nas.space import AtLeast, SpaceError
from supernets.masks import lookup


class Declared(abc.ABC):
    """A decision declared in a model. Subclasses are frozen dataclasses; `name` is bound by `name_decisions`."""

    name: str | None
    when: AtLeast | None
    values: tuple

    @abc.abstractmethod
    def to_decision(self, name: str, when: AtLeast | None) -> Any:
        """The `nas.space` decision this declaration becomes under `name`."""

    def _check(self) -> None:
        """A malformed declaration fails where it is written, before any layer is sized from it."""
        label = repr(self.name) if self.name else repr(self)
        if self.when is not None and not isinstance(self.when, AtLeast):
            raise SpaceError(f"decision {label}: when={self.when!r}; allowed: None or AtLeast(decision, value), "
                             "e.g. when=AtLeast(self.depth, 2)")
        problem = self.to_decision(self.name or "_", None)._problem()
        if problem:
            raise SpaceError(f"decision {label}: {problem}")

    def map(self, fn: Callable[[Any], int]) -> "Mapped":
        """A size derived from this decision's value (e.g. channels = ratio * input channels)."""
        return Mapped(self, tuple((value, int(fn(value))) for value in self.values))

    def of(self, arch: Mapping | None):
        """This decision's value in `arch` (None: the standalone model)."""
        if arch is None:
            return None
        if self.name is None:
            raise SpaceError(f"{self!r} was never named: build the network through a SearchSpaceDefinition "
                             "(or call supernets.decisions.name_decisions on it) before calling it with an arch")
        return value_of(self, arch)


@dataclass(frozen=True)
class OneOf(Declared):
    """Pick one of `values` (JSON scalars): an op, a kernel size, an expand ratio."""

    values: tuple
    when: AtLeast | None = None
    name: str | None = None

    def __post_init__(self):
        if isinstance(self.values, (list, range)):
            object.__setattr__(self, "values", tuple(self.values))
        self._check()

    def to_decision(self, name, when):
        return space_lib.Choice(name, self.values, when=when)


@dataclass(frozen=True)
class NestedWidth(Declared):
    """Sorted, nested widths (SortedNet): every smaller width is a prefix of each larger one.

    `widths=(...)` strictly increasing, or `max` and `steps` for max*i//steps, i = 1..steps.
    """

    widths: tuple | None = None
    max: int | None = None
    steps: int | None = None
    when: AtLeast | None = None
    name: str | None = None

    def __post_init__(self):
        if isinstance(self.widths, (list, range)):
            object.__setattr__(self, "widths", tuple(self.widths))
        self._check()

    @property
    def values(self) -> tuple:
        return self.to_decision("_", None).values

    def to_decision(self, name, when):
        return space_lib.Sorted(name, widths=self.widths, max=self.max, steps=self.steps, when=when)


@dataclass(frozen=True)
class Integer(Declared):
    """An integer lo, lo+step, ... hi: a depth, a number of heads."""

    lo: int
    hi: int
    step: int = 1
    when: AtLeast | None = None
    name: str | None = None

    def __post_init__(self):
        self._check()

    @property
    def values(self) -> tuple:
        return self.to_decision("_", None).values

    def to_decision(self, name, when):
        return space_lib.IntRange(name, self.lo, self.hi, self.step, when=when)


@dataclass(frozen=True)
class SameAs(Declared):
    """Always equal to another declared decision (a tie; not a separate entry of the arch vector)."""

    source: Declared
    name: str | None = None
    when: AtLeast | None = None  # a tie takes its source's condition

    @property
    def values(self) -> tuple:
        return self.source.values

    def to_decision(self, name, when):
        return space_lib.Tie(name, self.source.name)


# ---------------------------------------------------------------------------
# Sizes: an int, a declared decision, or an expression of decisions


@dataclass(frozen=True)
class Mapped:
    """A size looked up from a decision's value: `table` pairs (value, size)."""

    source: Declared
    table: tuple


@dataclass(frozen=True)
class Select:
    """The size `cases[v]` where decision `by` has value v (the width after an elastic-depth stack)."""

    by: Declared
    cases: tuple  # ((value, size expression), ...)


@dataclass(frozen=True)
class Product:
    """The size `a * b` of two sizes, each an int, a declared decision or `Mapped` (an FFN width = MLP ratio
    x embedding width). Read at call time, traced values multiply, and two `Relaxed` values give every
    pair of choices with the product of their probabilities (`Relaxed.__mul__`)."""

    a: Any
    b: Any

    def __post_init__(self):
        for factor in (self.a, self.b):
            if not (isinstance(factor, (Declared, Mapped))
                    or (isinstance(factor, int) and not isinstance(factor, bool))):
                raise SpaceError(f"Product({self.a!r}, {self.b!r}): each factor must be an int, a declared decision "
                                 f"or Mapped, got {factor!r}")


Size = Any  # int | Declared | Mapped | Select | Product


@dataclass(frozen=True)
class In:
    """A module's presence: only while decision `source` takes one of `values` (a candidate of an op choice).

    Containers yield it from `conditioned_children`; it sets what derived cost and export count, not
    which decisions exist (a decision declared inside an op's candidate is not supported).
    """

    source: Declared
    values: tuple


def possible_values(size: Size) -> tuple:
    """Every value a size can take."""
    if isinstance(size, int):
        return (size,)
    if isinstance(size, Declared):
        return tuple(size.values)
    if isinstance(size, Mapped):
        return tuple(s for _, s in size.table)
    if isinstance(size, Select):
        return tuple(v for _, case in size.cases for v in possible_values(case))
    if isinstance(size, Product):
        return tuple(a * b for a in possible_values(size.a) for b in possible_values(size.b))
    raise TypeError(f"a size must be an int, a declared decision, Mapped or Select; got {size!r}")


def sources(size: Size) -> tuple[Declared, ...]:
    """The declared decisions a size depends on, in first-use order, each once."""
    found: list[Declared] = []

    def visit(node):
        if isinstance(node, Declared):
            if not any(node is seen for seen in found):
                found.append(node)
        elif isinstance(node, Mapped):
            visit(node.source)
        elif isinstance(node, Select):
            visit(node.by)
            for _, case in node.cases:
                visit(case)
        elif isinstance(node, Product):
            visit(node.a)
            visit(node.b)

    visit(size)
    return tuple(found)


def largest(size: Size) -> int:
    """The largest value a size can take: what a layer allocates."""
    if isinstance(size, int):
        return size
    if isinstance(size, Declared):
        return max(size.values)
    if isinstance(size, Mapped):
        return max(s for _, s in size.table)
    if isinstance(size, Select):
        return max(largest(case) for _, case in size.cases)
    if isinstance(size, Product):
        return largest(size.a) * largest(size.b)  # sizes are >= 0
    raise TypeError(f"a size must be an int, a declared decision, Mapped, Select or Product; got {size!r}")


def value_of(declared: "Declared", values: Mapping[str, Any]) -> Any:
    """A named decision's value in an arch (or any mapping of values by name)."""
    if not isinstance(values, Mapping):
        raise SpaceError(f"an arch is a mapping of decision values by name (an Arch or a dict), not a "
                         f"{type(values).__name__}; allowed: space.from_vector(vector) for a vector of indices")
    if declared.name not in values:
        condition = declared.when or getattr(getattr(declared, "source", None), "when", None)  # a tie: its source's
        source_value = values.get(condition.source) if condition is not None else None
        holds = isinstance(source_value, (int, float)) and source_value >= condition.min_value
        if condition is None or holds:
            raise SpaceError(f"the arch lacks decision {declared.name!r}, which this arch runs; allowed: a complete "
                             "arch (space.validate(mapping) names what is missing)")
        # conditional, its condition false, yet read by a layer that runs
        raise SpaceError(f"decision {declared.name!r} is read by a layer that runs in this arch, but the arch leaves "
                         f"it out (its condition {condition!r} does not hold); allowed: a condition only on "
                         "decisions of layers that run just when it holds (declare the layer in the ElasticStack "
                         "block or op choice it belongs to, or drop when=)")
    value = values[declared.name]
    if isinstance(value, (int, float, str)) and value not in declared.values:  # a fixed arch given by hand
        raise SpaceError(f"decision {declared.name!r}: value {value!r} is not allowed; allowed values: "
                         f"{', '.join(map(repr, declared.values))}")
    return value


def evaluate(size: Size, values: Mapping[str, Any]) -> int:
    """A size's value given every decision's value by name (Python ints: cost tables, slicing)."""
    if isinstance(size, int):
        return size
    if isinstance(size, Declared):
        return value_of(size, values)
    if isinstance(size, Mapped):
        return dict(size.table)[value_of(size.source, values)]
    if isinstance(size, Select):
        return evaluate(dict(size.cases)[value_of(size.by, values)], values)
    if isinstance(size, Product):
        return evaluate(size.a, values) * evaluate(size.b, values)
    raise TypeError(f"a size must be an int, a declared decision, Mapped, Select or Product; got {size!r}")


def read(size: Size, arch: Mapping | None):
    """A layer's active size at call time: None (full size) for a constant or a standalone model,
    else the arch's value (traced, static or relaxed), mapped through a table where derived."""
    if arch is None or isinstance(size, int):
        return None
    if isinstance(size, Declared):
        return size.of(arch)
    if isinstance(size, Mapped):
        return lookup(size.source.of(arch), dict(size.table))
    if isinstance(size, Product):
        factors = [factor if isinstance(factor, int) else read(factor, arch) for factor in (size.a, size.b)]
        for factor in factors:
            if factor is None or isinstance(factor, (bool, float, str)):
                raise SpaceError(f"{size!r}: a factor reads {factor!r}; allowed: an int, a traced int or a Relaxed "
                                 "value for each of its decisions")
        return factors[0] * factors[1]
    raise TypeError(f"{size!r} cannot be read at call time; a layer's own size is an int, a decision, Mapped or "
                    "Product")


# ---------------------------------------------------------------------------
# Naming: the Space derived from the model


def _children(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, nnx.Module):
        yield from vars(value).items()
    elif isinstance(value, (list, tuple, nnx.List)):
        yield from ((str(i), v) for i, v in enumerate(value))
    elif isinstance(value, dict):
        yield from ((str(k), v) for k, v in value.items())


def _walk(value: Any, path: tuple[str, ...], conditions: tuple, seen: set) -> Iterator[tuple[tuple[str, ...], Any, tuple]]:
    """(path, node, container conditions) for every module (once) and every declared decision or size
    expression, in attribute order."""
    if isinstance(value, nnx.Module):
        if id(value) in seen:
            return
        seen.add(id(value))
        yield path, value, conditions
        # A container whose children exist conditionally (an elastic-depth stack, an op choice) says which:
        # it yields (key, child, conditions); any other module's children are its attributes, in order.
        conditioned = getattr(value, "conditioned_children", None)
        children = conditioned() if conditioned else ((k, c, ()) for k, c in _children(value))
        for key, child, extra in children:
            if key.startswith("_") or isinstance(child, nnx.Variable):
                continue
            yield from _walk(child, path + tuple(key.split(".")), conditions + tuple(extra), seen)
    elif isinstance(value, (Declared, Mapped, Select, Product)):
        yield path, value, conditions
    elif isinstance(value, (list, tuple, nnx.List, dict)):
        for key, child in _children(value):
            yield from _walk(child, path + (key,), conditions, seen)


def modules_in(model: nnx.Module) -> Iterator[tuple[str, nnx.Module, tuple]]:
    """Every module of `model` once: (path name, module, conditions of the containers it sits in)."""
    for path, node, conditions in _walk(model, (), (), set()):
        if isinstance(node, nnx.Module):
            yield ".".join(path), node, conditions


def declared_in(model: nnx.Module) -> list[tuple[str, Declared, tuple]]:
    """Every declared decision of `model`: (path name, decision, conditions of the containers it sits in)."""
    found: list[tuple[str, Declared, tuple]] = []
    for path, value, conditions in _walk(model, (), (), set()):
        if isinstance(value, nnx.Module):
            continue
        candidates = (value,) if isinstance(value, Declared) else sources(value)
        for declared in candidates:
            if isinstance(declared, SameAs) and not any(declared.source is d for _, d, _ in found):
                found.append((".".join(path) + ".source", declared.source, conditions))
            if not any(declared is d for _, d, _ in found):
                found.append((".".join(path), declared, conditions))
    return found


def name_decisions(model: nnx.Module, space_name: str, version: int = 1) -> space_lib.Space:
    """Name every declared decision of `model` in place and return the `Space` they form."""
    found = declared_in(model)
    if not found:
        raise SpaceError(f"space {space_name!r}: the model declares no decision; declare OneOf, NestedWidth, "
                         "Integer or SameAs in its layers or as its attributes")
    named: dict[int, Declared] = {}
    for path, declared, conditions in found:
        name = declared.name or path
        when = declared.when
        if any(isinstance(c, In) for c in conditions):
            raise SpaceError(f"space {space_name!r}: decision {name!r} is declared inside one candidate of an op "
                             "choice; allowed: decisions declared outside op choices")
        if isinstance(declared, SameAs):
            when = None
        elif conditions:
            if when is not None and when not in conditions:
                raise SpaceError(f"space {space_name!r}: decision {name!r} has its own condition {when!r} inside "
                                 f"a container that sets {conditions[-1]!r}; allowed: one condition")
            when = conditions[-1]
        replacement = dataclasses.replace(declared, name=name)
        object.__setattr__(replacement, "when", _renamed_condition(when, named, space_name, name))
        if isinstance(declared, SameAs):
            object.__setattr__(replacement, "source", named.get(id(declared.source), declared.source))
        named[id(declared)] = replacement
    decisions = [d.to_decision(d.name, d.when if not isinstance(d, SameAs) else None) for d in named.values()]
    space = space_lib.Space(space_name, decisions, version=version)
    _rebind(model, named, set())
    return space


def _renamed_condition(when, named: dict, space_name: str, name: str):
    if when is None:
        return None
    source = when.source
    if isinstance(source, str):
        return when
    if id(source) not in named:
        raise SpaceError(f"space {space_name!r}: decision {name!r} is conditional on {source!r}, which is not "
                         "declared in the model before it; allowed: a decision declared earlier in the model")
    return AtLeast(named[id(source)].name, when.min_value)


def _rebound(value: Any, named: dict) -> Any:
    """`value` with every declared decision replaced by its named copy."""
    if isinstance(value, Declared):
        return named.get(id(value), value)
    if isinstance(value, Mapped):
        return Mapped(_rebound(value.source, named), value.table)
    if isinstance(value, Select):
        return Select(_rebound(value.by, named), tuple((v, _rebound(c, named)) for v, c in value.cases))
    if isinstance(value, Product):
        return Product(_rebound(value.a, named), _rebound(value.b, named))
    return value


def _rebind(value: Any, named: dict, seen: set) -> None:
    if isinstance(value, nnx.Module):
        if id(value) in seen:
            return
        seen.add(id(value))
        for key, child in list(vars(value).items()):
            if isinstance(child, (Declared, Mapped, Select, Product)):
                setattr(value, key, _rebound(child, named))
            elif isinstance(child, (list, tuple)) and any(isinstance(c, (Declared, Mapped, Select, Product))
                                                          for c in child):
                setattr(value, key, type(child)(_rebound(c, named) for c in child))
            else:
                _rebind(child, named, seen)
    elif isinstance(value, (list, nnx.List, tuple)):
        for child in value:
            _rebind(child, named, seen)
    elif isinstance(value, dict):
        for child in value.values():
            _rebind(child, named, seen)


def check_width(layer, got: int, size: Size, arch: Mapping | None, what: str = "input") -> None:
    """In a fixed arch (static values: exact shapes) the width reaching a layer must be the one it declares.

    Elastic layers slice their weights to the input they get, so a layer declared with another width (a norm
    with its own NestedWidth, a fixed in_channels after a nested width) would otherwise run, and be priced and
    exported, with the wrong shape without a word. Traced archs (the masked lowering) pass full widths and are
    not checked here; the output check traces fixed archs before training starts.
    """
    if arch is None or not _static(arch):
        return
    expected = evaluate(size, arch)  # any size (a stack's Select included), in a fixed arch
    if type(expected) is int and got != expected:
        declared = (f"{expected}" if isinstance(size, int) else
                    f"{size.name if isinstance(size, Declared) and size.name else repr(size)} = {expected} in this arch")
        raise SpaceError(f"layer {type(layer).__name__} is declared with {what} size {declared} but gets {got} "
                         "channels; allowed: the width of the layer before it (that layer's out_size, or the very same "
                         "NestedWidth)")


def _static(arch: Mapping) -> bool:
    """Every value a plain Python value (a fixed arch), none traced or relaxed."""
    return all(isinstance(value, (int, float, str, bool)) for value in arch.values())
