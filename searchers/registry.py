"""Searchers by name, with their options checked: what `nas search --searcher NAME --option k=v` builds."""
from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Mapping, Sequence

from nas.errors import ConfigError
from nas.option_bounds import Bounds, bounds_in_signature, parameter_hints, without_bounds
from nas.space import Arch, Space


def _random(space, num_objectives, **options):
    from searchers.random_search import RandomSearch
    return RandomSearch(space, **options)


def _evolution(space, num_objectives, **options):
    from searchers.regularized_evolution import RegularizedEvolution
    return RegularizedEvolution(space, **options)


def _optuna(sampler):
    def build(space, num_objectives, **options):
        from searchers.optuna_search import OptunaSearch
        return OptunaSearch(space, num_objectives, sampler=sampler, **options)
    return build


def _rl(space, num_objectives, **options):
    from searchers.rl_controller import RLController
    return RLController(space, **options)


def _hill_climbing(space, num_objectives, **options):
    from searchers.hill_climbing import HillClimbing
    return HillClimbing(space, **options)


def _conservative_rl(space, num_objectives, **options):
    from searchers.conservative_rl import ConservativeRL
    return ConservativeRL(space, **options)


def _classes() -> dict[str, type]:
    from searchers.optuna_search import OptunaSearch
    from searchers.random_search import RandomSearch
    from searchers.regularized_evolution import RegularizedEvolution
    from searchers.rl_controller import RLController
    from searchers.hill_climbing import HillClimbing
    from searchers.conservative_rl import ConservativeRL
    return {"random": RandomSearch, "evolution": RegularizedEvolution, "optuna": OptunaSearch,
            "nsga2": OptunaSearch, "tpe": OptunaSearch, "rl": RLController, "hill-climbing": HillClimbing,
            "conservative-rl": ConservativeRL}


SEARCHERS: dict[str, Callable] = {"random": _random, "evolution": _evolution, "optuna": _optuna("auto"),
                                  "nsga2": _optuna("nsga2"), "tpe": _optuna("tpe"), "rl": _rl,
                                  "hill-climbing": _hill_climbing, "conservative-rl": _conservative_rl}
# Set by the loop, not by users' --option.
_RESERVED = {"space", "num_objectives", "sampler", "self"}


def searcher_options(name: str) -> list[str]:
    parameters = inspect.signature(_classes()[name].__init__).parameters
    return [p for p in parameters if p not in _RESERVED]


def make_searcher(name: str, space: Space, num_objectives: int, *, seed: int = 0, seeds: Sequence[Arch] = (),
                  options: Mapping | None = None):
    """A searcher by name; unknown names or options are a ConfigError naming what is allowed."""
    if name not in SEARCHERS:
        raise ConfigError(f"unknown searcher {name!r}; allowed: {', '.join(SEARCHERS)}")
    options = dict(options or {})
    allowed = searcher_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"searcher {name!r}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    constructor = _classes()[name].__init__
    parameters, hints, bounds = (inspect.signature(constructor).parameters, parameter_hints(constructor),
                                 bounds_in_signature(constructor))
    for key, value in options.items():
        options[key] = _checked_option(name, key, value, parameters[key], hints.get(key), bounds.get(key),
                                       num_objectives)
    if "seeds" in allowed:
        options.setdefault("seeds", seeds)
    try:
        return SEARCHERS[name](space, num_objectives, seed=seed, **options)
    except (TypeError, ValueError) as error:
        given = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "seeds")
        raise ConfigError(f"searcher {name!r}: bad option ({given}): {error}") from None


def _checked_option(searcher: str, key: str, value, parameter: inspect.Parameter, hint, bounds: Bounds | None,
                    num_objectives: int):
    """A scalar option checked against the constructor's signature: its type (int, float, bool; `| None` allows
    None; a whole float such as 1e2 is taken as an int), a finite value, and its range. The range is the
    parameter's declared Bounds (nas.option_bounds); without them, a number whose default is >= 0 (a size,
    a rate) may not be negative. An option named `*_index` picks an objective: it must be one of the
    search's `num_objectives`, counted from the end when negative (-1 is the last). Before these checks, a
    wrong value surfaced as a raw error mid-search, after trials were written."""
    kinds = _kinds(hint) if hint is not None else set(str(parameter.annotation).replace(" ", "").split("|"))
    if value is None and "None" in kinds:
        return value
    expected = next((kind for kind in ("bool", "int", "float") if kind in kinds), None)
    if expected is None:
        return value  # sequences, callables, strings: checked by the searcher itself
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "int" and numeric and float(value).is_integer():
        value = int(value)
    fits = {"bool": isinstance(value, bool), "int": numeric and isinstance(value, int), "float": numeric}[expected]
    if not fits:
        wanted = {"bool": "true or false", "int": "a whole number", "float": "a number"}[expected]
        raise ConfigError(f"searcher {searcher!r}: option {key} must be {wanted}, got {value!r}")
    if expected == "bool":
        return value
    if not math.isfinite(value):
        raise ConfigError(f"searcher {searcher!r}: option {key} must be a finite number, got {value!r}")
    if key.endswith("_index"):
        if not -num_objectives <= value < num_objectives:
            raise ConfigError(f"searcher {searcher!r}: option {key}={value} names no objective; the search has "
                              f"{num_objectives}, so allowed: {-num_objectives} to {num_objectives - 1}")
    elif bounds is not None:
        bounds.check(f"searcher {searcher!r}", key, value)
    elif isinstance(parameter.default, (int, float)) and parameter.default >= 0 and value < 0:
        raise ConfigError(f"searcher {searcher!r}: option {key} must be >= 0, got {value!r}")
    return value


def _kinds(hint) -> set[str]:
    """Names of the types an annotation allows: {'float', 'None'} for `float | None`."""
    hint = without_bounds(hint)
    members = typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,)
    return {"None" if member is type(None) else getattr(member, "__name__", str(member)) for member in members}
