"""What a search optimises and what it must respect: objectives and budgets on metrics.

An objective is a metric and a direction (`accuracy:max`, `params:min`); a constraint
is a budget on a metric (`params<=50000`, `macs<=20M`, `latency<=5ms`). Searchers see
every objective as minimised (`minimised`), and one violation per arch: the budgets'
relative excess, summed (0 when the arch is feasible).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nas.errors import ConfigError

DIRECTIONS = ("max", "min")
# Metrics that are better high; any other metric is a cost (better low).
_MAXIMISED = ("accuracy",)
_SUFFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "ms": 1.0, "us": 1e-3, "s": 1e3}
_TIME_UNITS, _COUNT_SUFFIXES = ("ms", "us", "s"), ("k", "m", "g")
# Metrics measured in time (milliseconds); every other metric is a count or a score.
_TIME_METRICS = ("latency",)
# Former metric names, read wherever a name comes in (the command line, a saved study, its trials' metrics):
# `flops` counted multiply-adds all along, and is now named for it.
METRIC_ALIASES = {"flops": "macs"}


def canonical_metric(name: str) -> str:
    return METRIC_ALIASES.get(name, name)


def canonical_metrics(metrics: dict) -> dict:
    """A trial's metrics with former names read as the current ones."""
    return {canonical_metric(name): value for name, value in metrics.items()}
_BUDGET = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*<=\s*([0-9.eE+-]+)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str = "min"

    def __str__(self) -> str:
        return f"{self.metric}:{self.direction}"


@dataclass(frozen=True)
class Constraint:
    """metric <= budget (latency in milliseconds)."""
    metric: str
    budget: float

    def __str__(self) -> str:
        return f"{self.metric}<={self.budget:g}"


def parse_objective(spec: str | Objective) -> Objective:
    if isinstance(spec, Objective):
        return spec
    metric, _, direction = str(spec).partition(":")
    direction = direction or ("max" if metric in _MAXIMISED else "min")
    if not metric or direction not in DIRECTIONS:
        raise ConfigError(f"objective {spec!r} must look like METRIC or METRIC:max|min, e.g. accuracy:max, params:min")
    return Objective(canonical_metric(metric), direction)


def parse_number(text: str, what: str, metric: str | None = None) -> float:
    """`50000`, `20M`, `1.5k`, `5ms`, `800us` (latency in ms). Given the `metric` the number is for,
    its unit must fit it: a time (ms, us, s) for latency, a count suffix (k, M, G) for any other."""
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([A-Za-z]*)\s*", str(text))
    suffix = match.group(2).lower() if match else ""
    if not match or suffix not in _SUFFIXES:
        raise ConfigError(f"{what} {text!r} is not a number; allowed: 50000, 20M, 1.5k, 5ms, 800us")
    if metric is not None:
        _check_unit(metric, match.group(2), what)
    try:
        return float(match.group(1)) * _SUFFIXES[suffix]
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a number; allowed: 50000, 20M, 1.5k, 5ms, 800us") from None


def _check_unit(metric: str, unit: str, what: str) -> None:
    """A time unit on a count (`macs<=2ms`) or a count suffix on a time (`latency<=5k`) is refused."""
    is_time = metric in _TIME_METRICS
    if not unit or unit.lower() in (_TIME_UNITS if is_time else _COUNT_SUFFIXES):
        return
    allowed = ("ms, us or s (a plain number is ms), e.g. latency<=5ms" if is_time else
               f"a plain number or a k, M or G suffix, e.g. {metric}<=20M (ms, us and s are for latency)")
    raise ConfigError(f"{what}: unit {unit!r} does not fit metric {metric!r}; {metric} takes {allowed}")


def parse_constraint(spec: str | Constraint) -> Constraint:
    """`params<=50000`, `macs<=20M`, `latency<=5ms`; a bare `5ms` means latency<=5ms."""
    if isinstance(spec, Constraint):
        return spec
    text = str(spec)
    if "<=" not in text and re.fullmatch(r"\s*[0-9.eE+-]+\s*(ms|us|s)\s*", text):
        return Constraint("latency", parse_number(text, "budget"))
    match = _BUDGET.match(text)
    if not match:
        raise ConfigError(f"constraint {spec!r} must look like METRIC<=VALUE, e.g. params<=50000, macs<=20M, "
                          "latency<=5ms")
    metric = canonical_metric(match.group(1))
    return Constraint(metric, parse_number(match.group(2) + match.group(3), f"budget {text.strip()!r}", metric))


def check_metrics(objectives: Sequence[Objective], constraints: Sequence[Constraint], available: Iterable[str]) -> None:
    """ConfigError naming the first objective or constraint on a metric the evaluator does not produce."""
    available = list(available)
    for item, kind in [*((o, "objective") for o in objectives), *((c, "constraint") for c in constraints)]:
        if item.metric not in available:
            raise ConfigError(f"{kind} {item} names unknown metric {item.metric!r}; "
                              f"allowed metrics: {', '.join(available)}")


def minimised(objectives: Sequence[Objective], metrics: Sequence[Mapping[str, float]]) -> np.ndarray:
    """float [n, k]: each objective's value, negated where it is maximised."""
    return np.array([[(-1.0 if o.direction == "max" else 1.0) * float(m[o.metric]) for o in objectives]
                     for m in metrics], dtype=np.float64).reshape(len(metrics), len(objectives))


def violation(constraints: Sequence[Constraint], metrics: Mapping[str, float]) -> float:
    """Sum over budgets of max(0, value / budget - 1) (the absolute excess when the budget is 0)."""
    total = 0.0
    for c in constraints:
        value = float(metrics[c.metric])
        total += max(0.0, value / c.budget - 1.0) if c.budget > 0 else max(0.0, value - c.budget)
    return total
