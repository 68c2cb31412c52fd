"""Search-space DSL: a named, versioned, ordered set of decisions.

An architecture (`Arch`) assigns a value to every *active* decision. It has
three lossless forms:

* a dict ``{name: value}`` for people and JSON;
* a fixed-length int32 vector of choice indices, one per free (non-tie)
  decision, so that JAX traces one program for every architecture;
* a canonical string ``depth=2;width_0=256;act=relu`` for logs and hashing.

Inactive decisions (whose `AtLeast` condition fails) are absent from the dict
and the string, and hold index 0 in the vector. That "canonical" vector makes
equal architectures have equal vectors, so counting, hashing and
de-duplicating can work on vectors alone.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nas.errors import WeftError

# Names must not contain what the canonical string uses as syntax.
_FORBIDDEN_NAME_CHARS = frozenset(';="\\')
# Strings made only of these characters may be written unquoted in the
# canonical string (provided they do not read back as another JSON value).
_BARE_STRING = re.compile(r"[A-Za-z0-9_.+\-/:@]+")
_JSON_DECODER = json.JSONDecoder()
_INT32 = np.iinfo(np.int32)
# Error messages list at most this many allowed values, so they stay one line.
_MAX_LISTED_VALUES = 16


class SpaceError(WeftError):
    """A search space is ill-defined, or something does not belong to it."""


# ---------------------------------------------------------------------------
# Values


def _kind(value: Any) -> str | None:
    """The JSON kind of a scalar; None for anything that is not one.

    bool is tested first because it subclasses int, and a bool must never
    match an int: True is not the width 1.
    """
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else None
    if isinstance(value, str):
        return "str"
    return None


def _is_json_scalar(value: Any) -> bool:
    return _kind(value) is not None


def _is_number(value: Any) -> bool:
    return _kind(value) == "number"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_python_scalar(value: Any) -> Any:
    """Unwraps numpy / JAX 0-d values so that they compare like Python ones."""
    if isinstance(value, (np.generic, np.ndarray, jax.Array)) and np.ndim(value) == 0:
        return np.asarray(value).item()
    return value


def _reads_as_int(values: tuple) -> bool:
    """Whether jitted code can read these values as int32 without ambiguity.

    Mixing bools and ints would read True and 1 alike, so mixes read indices.
    """
    all_ints = all(_is_int(v) and _INT32.min <= v <= _INT32.max for v in values)
    return all_ints or all(isinstance(v, bool) for v in values)


def _value_key(value: Any) -> tuple[str, Any]:
    """Key under which equal values of the same kind collide (3 and 3.0 do)."""
    return (_kind(value), value)


def _encode_value(value: Any) -> str:
    """Encodes a value for the canonical string; `_decode_bare` inverts it."""
    if isinstance(value, str) and _BARE_STRING.fullmatch(value) and _decode_bare(value) == value:
        return value
    return json.dumps(value)


def _decode_bare(token: str) -> Any:
    """Reads an unquoted token: a JSON literal if it is one, else the text itself."""
    try:
        return json.loads(token)
    except ValueError:
        return token


def _format_values(values: tuple) -> str:
    if len(values) <= _MAX_LISTED_VALUES:
        return repr(values)
    head = ", ".join(repr(v) for v in values[: _MAX_LISTED_VALUES // 2])
    tail = ", ".join(repr(v) for v in values[-2:])
    return f"({head}, ..., {tail}) [{len(values)} values]"


def _repr_call(type_name: str, *args: Any, **kwargs: Any) -> str:
    parts = [repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
    return f"{type_name}({', '.join(parts)})"


# ---------------------------------------------------------------------------
# Decisions


@dataclass(frozen=True)
class AtLeast:
    """Condition: a decision exists only while `source`'s value is >= `min_value`."""

    source: str
    min_value: int | float

    def __repr__(self) -> str:
        return _repr_call("AtLeast", self.source, self.min_value)


class _Decision:
    """Behaviour shared by every decision; subclasses are frozen dataclasses."""

    # Sorted overrides this: its smaller widths are prefixes of larger ones.
    nested = False
    type_name = ""

    def __len__(self) -> int:
        return len(self.values)

    def _problem(self) -> str | None:
        """What is wrong with this decision on its own, or None."""
        return None


@dataclass(frozen=True, repr=False)
class Choice(_Decision):
    """Pick one of `values`: JSON scalars (int, float, str or bool)."""

    name: str
    values: tuple
    when: AtLeast | None = None

    type_name = "choice"

    def __post_init__(self) -> None:
        if isinstance(self.values, (list, range)):
            object.__setattr__(self, "values", tuple(self.values))

    def _problem(self) -> str | None:
        if not isinstance(self.values, tuple):
            return f"values must be a tuple or list of JSON scalars (int, float, str, bool), got {self.values!r}"
        if not self.values:
            return "has no values; allowed: a non-empty tuple of JSON scalars (int, float, str, bool)"
        seen = set()
        for value in self.values:
            if not _is_json_scalar(value):
                return f"value {value!r} is not a JSON scalar; allowed: int, finite float, str, bool"
            if _value_key(value) in seen:
                return f"value {value!r} appears twice in {self.values!r}; values must be distinct"
            seen.add(_value_key(value))
        return None

    def __repr__(self) -> str:
        return _repr_call("Choice", self.name, self.values, when=self.when)


@dataclass(frozen=True, repr=False)
class IntRange(_Decision):
    """Integers lo, lo+step, ... up to hi inclusive."""

    name: str
    lo: int
    hi: int
    step: int = 1
    when: AtLeast | None = None
    values: tuple = field(init=False, compare=False)

    type_name = "int_range"

    def __post_init__(self) -> None:
        # An ill-formed range gets no values; Space reports why, naming itself.
        well_formed = all(_is_int(x) for x in (self.lo, self.hi, self.step)) and self.step > 0
        values = tuple(range(self.lo, self.hi + 1, self.step)) if well_formed else ()
        object.__setattr__(self, "values", values)

    def _problem(self) -> str | None:
        if not all(_is_int(x) for x in (self.lo, self.hi, self.step)):
            return f"lo, hi and step must be ints, got lo={self.lo!r}, hi={self.hi!r}, step={self.step!r}"
        if self.step <= 0:
            return f"step must be > 0, got {self.step}"
        if self.lo > self.hi:
            return f"lo must be <= hi, got lo={self.lo}, hi={self.hi}"
        return None

    def __repr__(self) -> str:
        step = None if self.step == 1 else self.step
        return _repr_call("IntRange", self.name, self.lo, self.hi, step=step, when=self.when)


@dataclass(frozen=True, repr=False)
class Sorted(_Decision):
    """Nested widths: each smaller width is a prefix of every larger one.

    Give either explicit `widths` (strictly increasing positive ints) or
    `max` and `steps`, meaning the widths max*i//steps for i = 1..steps.
    """

    name: str
    widths: tuple | None = None
    max: int | None = None
    steps: int | None = None
    when: AtLeast | None = None
    values: tuple = field(init=False, compare=False)

    nested = True
    type_name = "sorted"

    def __post_init__(self) -> None:
        if isinstance(self.widths, (list, range)):
            object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "values", self._derived_widths())

    def _derived_widths(self) -> tuple:
        if isinstance(self.widths, tuple):
            return self.widths
        if _is_int(self.max) and _is_int(self.steps) and self.steps > 0:
            return tuple(self.max * i // self.steps for i in range(1, self.steps + 1))
        return ()

    def _problem(self) -> str | None:
        explicit = self.widths is not None
        derived = self.max is not None or self.steps is not None
        if explicit == derived:
            return "give either widths=(...) or max=... and steps=..., exactly one of the two"
        if explicit and not isinstance(self.widths, tuple):
            return f"widths must be a tuple of strictly increasing positive ints, got {self.widths!r}"
        if derived and not (_is_int(self.max) and _is_int(self.steps) and self.max > 0 and self.steps > 0):
            return f"max and steps must be positive ints, got max={self.max!r}, steps={self.steps!r}"
        widths = self.values
        if not widths:
            return "has no widths; allowed: a non-empty tuple of strictly increasing positive ints"
        increasing = all(a < b for a, b in zip(widths, widths[1:]))
        if not (all(_is_int(w) and w > 0 for w in widths) and increasing):
            origin = "" if explicit else f"max={self.max}, steps={self.steps} gives "
            return f"{origin}widths {widths!r}; widths must be strictly increasing positive ints"
        return None

    def __repr__(self) -> str:
        if self.widths is not None or self.max is None:
            return _repr_call("Sorted", self.name, widths=self.widths, when=self.when)
        return _repr_call("Sorted", self.name, max=self.max, steps=self.steps, when=self.when)


@dataclass(frozen=True, repr=False)
class Tie(_Decision):
    """Always equal to `source`'s value; not a separate entry of the vector.

    A tie inherits its source's values and condition. Both are empty until
    the tie is placed in a Space, which fills them in.
    """

    name: str
    source: str
    values: tuple = field(init=False, default=(), compare=False)
    when: AtLeast | None = field(init=False, default=None, compare=False)

    type_name = "tie"

    def __repr__(self) -> str:
        return _repr_call("Tie", self.name, source=self.source)


def _bind_tie(tie: Tie, source: _Decision) -> Tie:
    bound = Tie(tie.name, tie.source)
    object.__setattr__(bound, "values", source.values)
    object.__setattr__(bound, "when", source.when)
    return bound


_DECISION_TYPES = (Choice, IntRange, Sorted, Tie)


def _check_definition(space_name: str, decisions: Any) -> tuple[_Decision, ...]:
    """Checks a space's decisions and returns them with ties bound to their sources."""

    def fail(decision_name: str | None, problem: str) -> SpaceError:
        where = f"space {space_name!r}" + ("" if decision_name is None else f": decision {decision_name!r}")
        return SpaceError(f"{where}: {problem}")

    if isinstance(decisions, (str, bytes, Mapping)) or not hasattr(decisions, "__iter__"):
        raise fail(None, f"decisions must be a list of Choice, IntRange, Sorted or Tie, got {decisions!r}")
    decisions = list(decisions)
    if not decisions:
        raise fail(None, "has no decisions; a space needs at least one Choice, IntRange or Sorted")

    bound: dict[str, _Decision] = {}
    for position, decision in enumerate(decisions):
        if not isinstance(decision, _DECISION_TYPES):
            raise fail(None, f"item {position} is {decision!r}; allowed: Choice, IntRange, Sorted, Tie")
        name = decision.name
        if not isinstance(name, str) or not name:
            raise fail(None, f"item {position} has name {name!r}; names must be non-empty strings")
        bad = sorted({c for c in name if c in _FORBIDDEN_NAME_CHARS or c.isspace()})
        if bad:
            raise fail(name, f"name contains {''.join(bad)!r}; names may not contain whitespace or any of {''.join(sorted(_FORBIDDEN_NAME_CHARS))!r}")
        if name in bound:
            raise fail(name, "is declared twice; decision names must be unique")
        problem = decision._problem()
        if problem:
            raise fail(name, problem)

        if isinstance(decision, Tie):
            source = _earlier_free_decision(decision.source, bound, "tie source", lambda p: fail(name, p))
            decision = _bind_tie(decision, source)
        elif decision.when is not None:
            _check_condition(decision.when, bound, lambda p: fail(name, p))
        bound[name] = decision
    return tuple(bound.values())


def _earlier_free_decision(source_name: Any, earlier: dict[str, _Decision], role: str, fail) -> _Decision:
    """The earlier non-tie decision called `source_name`, or an error."""
    if not isinstance(source_name, str) or source_name not in earlier:
        known = ", ".join(n for n, d in earlier.items() if not isinstance(d, Tie)) or "none"
        raise fail(f"{role} {source_name!r} is not an earlier decision; allowed: an earlier non-tie decision ({known})")
    source = earlier[source_name]
    if isinstance(source, Tie):
        raise fail(f"{role} {source_name!r} is a tie; allowed: a non-tie decision")
    return source


def _check_condition(when: Any, earlier: dict[str, _Decision], fail) -> None:
    if not isinstance(when, AtLeast):
        raise fail(f"when={when!r}; allowed: None or AtLeast(source, min_value)")
    source = _earlier_free_decision(when.source, earlier, "condition source", fail)
    if source.when is not None:
        raise fail(f"condition source {when.source!r} is itself conditional; allowed: an unconditional decision")
    if not all(_is_number(v) for v in source.values):
        raise fail(f"condition source {when.source!r} has non-numeric values {_format_values(source.values)}; allowed: a numeric decision")
    if not _is_number(when.min_value):
        raise fail(f"AtLeast threshold {when.min_value!r} is not a number")
    if max(source.values) < when.min_value:
        raise fail(
            f"AtLeast({when.source!r}, {when.min_value!r}) can never hold; "
            f"{when.source!r} takes values {_format_values(source.values)}"
        )


# ---------------------------------------------------------------------------
# Architectures


class Arch(Mapping):
    """An immutable, hashable mapping from each active decision to its value.

    Made by `Space` methods (validate, from_vector, sample, ...), which
    guarantee that it is valid and canonical; do not construct one directly.
    """

    __slots__ = ("_space", "_vector", "_items", "_values")

    def __init__(self, space: Space, vector: tuple[int, ...], items: tuple[tuple[str, Any], ...]):
        object.__setattr__(self, "_space", space)
        object.__setattr__(self, "_vector", vector)
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_values", dict(items))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Arch is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Arch is immutable")

    @property
    def space(self) -> Space:
        return self._space

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._items)

    def _key(self) -> tuple:
        # Kinds are part of the key so that True and 1 stay different values.
        items = tuple((name, _kind(value), value) for name, value in self._items)
        return (self._space.name, self._space.version, items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Arch):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def to_vector(self) -> np.ndarray:
        return np.asarray(self._vector, dtype=np.int32)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._items)

    def to_string(self) -> str:
        return ";".join(f"{name}={_encode_value(value)}" for name, value in self._items)

    def to_json(self) -> str:
        return json.dumps({"space": self._space.name, "version": self._space.version, "arch": self.to_dict()})

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"Arch({self._space.name!r} v{self._space.version}: {self.to_string()})"


# ---------------------------------------------------------------------------
# Spaces


class Space:
    """A named, versioned, ordered set of decisions.

    The vector form has one entry per free (non-tie) decision, in
    declaration order. Every jittable method treats the space as static
    data: its tables become constants of the traced program.
    """

    def __init__(self, name: str, decisions: Any, version: int = 1):
        if not isinstance(name, str) or not name:
            raise SpaceError(f"space name must be a non-empty string, got {name!r}")
        if not _is_int(version):
            raise SpaceError(f"space {name!r}: version must be an int, got {version!r}")
        self.name = name
        self.version = version
        self.decisions: tuple[_Decision, ...] = _check_definition(name, decisions)
        self.free: tuple[_Decision, ...] = tuple(d for d in self.decisions if not isinstance(d, Tie))
        self.num_decisions = len(self.free)
        self._by_name = {d.name: d for d in self.decisions}
        self._position = {d.name: p for p, d in enumerate(self.free)}
        self._lookup = {d.name: {_value_key(v): i for i, v in enumerate(d.values)} for d in self.free}
        self._build_tables()
        self._size = self._count()
        self._fingerprint = hashlib.sha256(
            json.dumps(self.describe(), sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()[:16]

    def _build_tables(self) -> None:
        """Precomputes the numpy tables that every vector operation indexes."""
        free = self.free
        self._sizes = np.array([len(d) for d in free], dtype=np.int32)
        widest = int(self._sizes.max())
        # Activity of free decision p is active_table[p, vector[source_of[p]]];
        # unconditional decisions point at themselves through an all-True row.
        self._source_of = np.arange(len(free), dtype=np.int32)
        self._active_table = np.ones((len(free), widest), dtype=bool)
        for p, d in enumerate(free):
            if d.when is not None:
                source_position = self._position[d.when.source]
                source_values = free[source_position].values
                self._source_of[p] = source_position
                self._active_table[p] = False
                self._active_table[p, : len(source_values)] = [v >= d.when.min_value for v in source_values]
        self._conditional = np.array([d.when is not None for d in free])
        # What `values()` reads: the value itself for decisions of only ints
        # (fitting int32) or only bools, else the choice index.
        self._readout = np.tile(np.arange(widest, dtype=np.int32), (len(free), 1))
        for p, d in enumerate(free):
            if _reads_as_int(d.values):
                self._readout[p, : len(d)] = [int(v) for v in d.values]
        self._offsets = np.concatenate([[0], np.cumsum(self._sizes)[:-1]]).astype(np.int32)
        self.num_features = int(self._sizes.sum())

    # -- container protocol -------------------------------------------------

    def __getitem__(self, name: str) -> _Decision:
        if name not in self._by_name:
            raise KeyError(f"space {self.name!r} v{self.version} has no decision {name!r}; known: {', '.join(self._by_name)}")
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[_Decision]:
        return iter(self.decisions)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Space):
            return NotImplemented
        return (self.name, self.version, self._fingerprint) == (other.name, other.version, other._fingerprint)

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def __repr__(self) -> str:
        lines = "".join(f"    {d!r},\n" for d in self.decisions)
        return f"Space({self.name!r}, version={self.version}, decisions=[\n{lines}])"

    def _error(self, message: str) -> SpaceError:
        return SpaceError(f"space {self.name!r} v{self.version}: {message}")

    # -- vectors ------------------------------------------------------------

    def _active_mask(self, vectors, xp):
        """Bool [..., D]: which free decisions are active, for numpy or jnp arrays."""
        table = xp.asarray(self._active_table)
        return table[xp.arange(self.num_decisions), vectors[..., self._source_of]]

    @property
    def choice_counts(self) -> tuple[int, ...]:
        """Number of choices of each free decision, in vector order."""
        return tuple(int(n) for n in self._sizes)

    def canonical(self, vector) -> np.ndarray:
        """int32 vector (numpy) with inactive decisions' indices set to 0."""
        return self._canonical_np(np.asarray(vector, np.int32))

    def _canonical_np(self, vector: np.ndarray) -> np.ndarray:
        return np.where(self._active_mask(vector, np), vector, 0).astype(np.int32)

    def canonicalize_vectors(self, vectors) -> jax.Array:
        """Sets inactive decisions' indices to 0, on [..., D]; jittable."""
        vectors = jnp.asarray(vectors, dtype=jnp.int32)
        return jnp.where(self._active_mask(vectors, jnp), vectors, 0)

    def _arch(self, canonical: np.ndarray) -> Arch:
        """The Arch of a canonical, in-range index vector."""
        active = self._active_mask(canonical, np)
        items = []
        for d in self.decisions:
            p = self._position[d.source if isinstance(d, Tie) else d.name]
            if active[p]:
                items.append((d.name, d.values[canonical[p]]))
        return Arch(self, tuple(int(i) for i in canonical), tuple(items))

    def from_vector(self, vector) -> Arch:
        array = np.asarray(vector)
        if array.shape != (self.num_decisions,):
            raise self._error(f"expected a vector of length {self.num_decisions}, got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            raise self._error(f"expected integer choice indices, got dtype {array.dtype}")
        for p, d in enumerate(self.free):
            if not 0 <= array[p] < len(d):
                raise self._error(f"decision {d.name!r}: index {int(array[p])} out of range; allowed: 0..{len(d) - 1}")
        return self._arch(self._canonical_np(array.astype(np.int32)))

    def to_vector(self, arch: Mapping) -> np.ndarray:
        return self._as_arch(arch).to_vector()

    # -- validation and the other forms -------------------------------------

    def _index_of(self, decision: _Decision, value: Any) -> int:
        lookup = self._lookup[decision.source if isinstance(decision, Tie) else decision.name]
        value = _as_python_scalar(value)
        index = lookup.get(_value_key(value)) if _is_json_scalar(value) else None
        if index is None:
            raise self._error(
                f"decision {decision.name!r}: value {value!r} is not allowed; allowed values: {_format_values(decision.values)}"
            )
        return index

    def validate(self, mapping: Mapping) -> Arch:
        """The Arch that `mapping` (decision name -> value) describes, or SpaceError."""
        if isinstance(mapping, Arch) and mapping.space is self:
            return mapping
        if not isinstance(mapping, Mapping):
            raise self._error(f"an arch must be a mapping from decision name to value, got {type(mapping).__name__}")
        for name in mapping:
            if name not in self._by_name:
                raise self._error(f"unknown decision {name!r}; known decisions: {', '.join(self._by_name)}")

        vector = np.zeros(self.num_decisions, dtype=np.int32)
        # Sources are unconditional and earlier, so one pass in declaration
        # order knows each condition's source index before it is needed.
        for p, d in enumerate(self.free):
            given = d.name in mapping
            index = self._index_of(d, mapping[d.name]) if given else None
            vector[p] = 0 if index is None else index
            active = self._active_table[p, vector[self._source_of[p]]]
            if active and not given:
                raise self._error(f"decision {d.name!r} is missing; allowed values: {_format_values(d.values)}")
            if not active:
                vector[p] = 0

        active = self._active_mask(vector, np)
        for tie in self.decisions:
            if not isinstance(tie, Tie) or tie.name not in mapping:
                continue
            index = self._index_of(tie, mapping[tie.name])
            source_position = self._position[tie.source]
            if active[source_position] and index != vector[source_position]:
                source_value = tie.values[vector[source_position]]
                raise self._error(
                    f"decision {tie.name!r} is tied to {tie.source!r} = {source_value!r} but was given {mapping[tie.name]!r}"
                )
        return self._arch(vector)

    def _as_arch(self, arch: Mapping) -> Arch:
        if isinstance(arch, Arch):
            other = arch.space
            if other is not self and other != self:
                raise self._error(
                    f"arch belongs to space {other.name!r} v{other.version} (fingerprint {other.fingerprint()}), "
                    f"not to this one (fingerprint {self.fingerprint()})"
                )
            return arch if other is self else self._arch(arch.to_vector())
        return self.validate(arch)

    def from_string(self, text: str) -> Arch:
        """Parses `Arch.to_string()` output (pairs `name=value` joined by ';')."""
        if not isinstance(text, str):
            raise self._error(f"expected a string, got {type(text).__name__}")
        mapping: dict[str, Any] = {}
        position = 0
        while position < len(text):
            equals = text.find("=", position)
            if equals < 0:
                raise self._error(f"malformed arch string {text!r}: expected name=value at offset {position}")
            name = text[position:equals]
            position = equals + 1
            if text.startswith('"', position):
                try:
                    value, position = _JSON_DECODER.raw_decode(text, position)
                except ValueError:
                    raise self._error(f"malformed arch string {text!r}: bad quoted value for {name!r}") from None
            else:
                end = text.find(";", position)
                end = len(text) if end < 0 else end
                if "=" in text[position:end]:  # 'a=1,b=2': another separator than ';'
                    raise self._error(f"malformed arch string {text!r}: the value of {name!r} reads "
                                      f"{text[position:end]!r}, which holds another pair; pairs are joined by ';' "
                                      "(name=value;name=value), or quote a value that holds '='")
                value, position = _decode_bare(text[position:end]), end
            if name in mapping:
                raise self._error(f"malformed arch string {text!r}: decision {name!r} appears twice")
            mapping[name] = value
            if position < len(text):
                if text[position] != ";" or position == len(text) - 1:
                    raise self._error(f"malformed arch string {text!r}: expected ';' between pairs at offset {position}")
                position += 1
        return self.validate(mapping)

    def from_json(self, text: str) -> Arch:
        """Parses `Arch.to_json()` output, checking the space's name and version."""
        try:
            document = json.loads(text)
        except (TypeError, ValueError) as error:
            raise self._error(f"arch JSON does not parse: {error}") from None
        if not isinstance(document, dict) or set(document) != {"space", "version", "arch"}:
            raise self._error('arch JSON must be an object with keys "space", "version" and "arch"')
        if (document["space"], document["version"]) != (self.name, self.version):
            raise self._error(
                f"arch JSON is for space {document['space']!r} v{document['version']}, "
                f"not for space {self.name!r} v{self.version}"
            )
        return self.validate(document["arch"])

    # -- sampling and search operators --------------------------------------

    def sample(self, rng: np.random.Generator) -> Arch:
        """Every free decision uniformly and independently (Once-for-All's sampler)."""
        return self._arch(self._canonical_np(rng.integers(0, self._sizes)))

    def sample_vectors(self, key: jax.Array, n: int) -> jax.Array:
        """int32 [n, D] canonical vectors sampled like `sample`; jittable with n static."""
        vectors = jax.random.randint(key, (n, self.num_decisions), 0, jnp.asarray(self._sizes), dtype=jnp.int32)
        return self.canonicalize_vectors(vectors)

    def _different_index(self, rng: np.random.Generator, position: int, current: int) -> int:
        """A uniformly drawn index of decision `position` other than `current`."""
        index = int(rng.integers(self._sizes[position] - 1))
        return index + (index >= current)

    def mutate(self, arch: Mapping, rng: np.random.Generator, rate: float | None = None) -> Arch:
        """Resamples each free decision with probability `rate` to a different choice.

        The result always differs from `arch`: if every resampled decision
        was inactive, one active decision with more than one choice is
        changed. Changing an active decision always changes the arch, since
        it stays active (conditions only depend on unconditional decisions).
        """
        start = self._as_arch(arch).to_vector()
        if self._size == 1:
            raise self._error("has a single architecture, so nothing can mutate it")
        rate = 1.0 / self.num_decisions if rate is None else rate
        if not 0.0 <= rate <= 1.0:
            raise self._error(f"mutation rate must be in [0, 1], got {rate}")

        vector = start.copy()
        resample = (rng.random(self.num_decisions) < rate) & (self._sizes > 1)
        for p in np.flatnonzero(resample):
            vector[p] = self._different_index(rng, p, vector[p])
        vector = self._canonical_np(vector)
        if np.array_equal(vector, start):
            changeable = np.flatnonzero(self._active_mask(vector, np) & (self._sizes > 1))
            p = int(rng.choice(changeable))
            vector[p] = self._different_index(rng, p, vector[p])
            vector = self._canonical_np(vector)
        return self._arch(vector)

    def crossover(self, a: Mapping, b: Mapping, rng: np.random.Generator) -> Arch:
        """Uniform crossover of the two index vectors, canonicalised."""
        vector_a, vector_b = self._as_arch(a).to_vector(), self._as_arch(b).to_vector()
        from_a = rng.random(self.num_decisions) < 0.5
        return self._arch(self._canonical_np(np.where(from_a, vector_a, vector_b)))

    def _extreme(self, numeric_pick, other_pick: int) -> Arch:
        vector = np.array(
            [numeric_pick(d.values) if all(_is_number(v) for v in d.values) else other_pick % len(d) for d in self.free],
            dtype=np.int32,
        )
        return self._arch(self._canonical_np(vector))

    def smallest(self) -> Arch:
        """Per decision the smallest value (the first, for non-numeric ones)."""
        return self._extreme(np.argmin, 0)

    def largest(self) -> Arch:
        """Per decision the largest value (the last, for non-numeric ones)."""
        return self._extreme(np.argmax, -1)

    # -- counting -----------------------------------------------------------

    def _count(self) -> int:
        """Distinct canonical archs, grouping conditional decisions by their source.

        A conditional decision depends only on its (unconditional) source, so
        each source and its dependants form an independent factor:
        sum over the source's values of the product of the dependants' sizes
        that are active at that value.
        """
        total = 1
        for d in self.free:
            if d.when is not None:
                continue
            dependants = [c for c in self.free if c.when is not None and c.when.source == d.name]
            total *= sum(
                math.prod(len(c) if value >= c.when.min_value else 1 for c in dependants) for value in d.values
            )
        return total

    def size(self) -> int:
        return self._size

    def enumerate(self, limit: int = 100_000) -> Iterator[Arch]:
        """Every distinct canonical arch once; SpaceError if there are more than `limit`."""
        if self._size > limit:
            raise self._error(f"has {self._size} architectures, more than the enumeration limit {limit}")
        return self._enumerate()

    def _enumerate(self) -> Iterator[Arch]:
        unconditional = np.flatnonzero(~self._conditional)
        conditional = np.flatnonzero(self._conditional)
        for base in itertools.product(*(range(self._sizes[p]) for p in unconditional)):
            vector = np.zeros(self.num_decisions, dtype=np.int32)
            vector[unconditional] = base
            active = self._active_mask(vector, np)
            for rest in itertools.product(*(range(self._sizes[p] if active[p] else 1) for p in conditional)):
                vector[conditional] = rest
                yield self._arch(vector.copy())

    # -- reading archs inside jit -------------------------------------------

    def values(self, vectors) -> dict[str, jax.Array]:
        """Per decision (ties read their source) an int32 [...] array; jittable.

        Decisions of only ints, or only bools (as 0/1), read their value;
        others (strings, floats, mixtures) read their choice index. Vectors are canonicalised first, so inactive decisions read
        their first value.
        """
        vectors = self.canonicalize_vectors(vectors)
        readout = jnp.asarray(self._readout)[jnp.arange(self.num_decisions), vectors]
        return {
            d.name: readout[..., self._position[d.source if isinstance(d, Tie) else d.name]] for d in self.decisions
        }

    def vectors_of_values(self, values: Mapping) -> jax.Array:
        """The inverse of `values`: int32 [..., D] canonical vectors of what `values` returned; jittable."""
        read = jnp.stack([jnp.asarray(values[d.name], jnp.int32) for d in self.free], axis=-1)
        valid = np.arange(self._readout.shape[1]) < self._sizes[:, None]
        vectors = jnp.argmax((read[..., None] == jnp.asarray(self._readout)) & valid, axis=-1).astype(jnp.int32)
        return self.canonicalize_vectors(vectors)

    def features(self, arch: Mapping) -> np.ndarray:
        """float32 [num_features]: per free decision a one-hot, zeros when inactive."""
        vector = self._as_arch(arch).to_vector()
        active = self._active_mask(vector, np)
        features = np.zeros(self.num_features, dtype=np.float32)
        features[self._offsets[active] + vector[active]] = 1.0
        return features

    def features_jax(self, vectors) -> jax.Array:
        """`features` on int32 [..., D] vectors, batched over leading axes; jittable."""
        vectors = jnp.asarray(vectors, dtype=jnp.int32)
        active = self._active_mask(vectors, jnp)
        one_hot = jax.nn.one_hot(vectors + jnp.asarray(self._offsets), self.num_features, dtype=jnp.float32)
        return (one_hot * active[..., None]).sum(axis=-2)

    # -- identity -----------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description of the space's definition."""

        def entry(d: _Decision) -> dict[str, Any]:
            when = None if d.when is None else {"source": d.when.source, "min_value": d.when.min_value}
            described = {"name": d.name, "type": d.type_name, "values": list(d.values), "nested": d.nested, "when": when}
            if isinstance(d, Tie):
                described["source"] = d.source
            return described

        return {"name": self.name, "version": self.version, "decisions": [entry(d) for d in self.decisions]}

    def fingerprint(self) -> str:
        """Short sha256 of the canonical JSON of `describe()`."""
        return self._fingerprint
