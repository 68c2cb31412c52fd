"""Classes of decisions: which decisions one step of the conservative controller changes together.

Auto-GNN's guider picks a *class* of decisions (hidden width, attention, aggregation, activation, ...)
and a modifier rewrites that class only, in every layer. Here the class of a decision is read from its
name (`by_suffix`, the default): the last dotted part, with a trailing layer index (`_0`, `3`) dropped,
matched against `CLASSES`' keywords and aliases, so `l0.hidden`, `l1.hidden` and `width_2` are all
`width`, `s1.b0.kernel` is `kernel`. A decision whose name matches none is a class of its own (NB201's
edges, MacroChain's layers), as is every decision under `by_decision`. Any function of a decision name
to a class name may be given instead.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from nas.errors import ConfigError
from nas.space import Space

# class -> the name endings that belong to it (checked in this order; the first match wins).
CLASSES: dict[str, tuple[str, ...]] = {
    "attention": ("attention", "attn"),
    "aggregation": ("aggregation", "aggregator", "aggregate", "aggr"),
    "activation": ("activation", "act"),
    "heads": ("heads", "head"),
    "depth": ("depth", "layers", "num_layers"),
    "kernel": ("kernel", "kernel_size"),
    "expand": ("expand", "mlp_ratio", "ratio"),
    "width": ("width", "hidden", "channels", "units", "dim", "rank"),
}


def _stem(name: str) -> str:
    """The last dotted part of a decision name without a trailing layer index: `l0.hidden_3` -> `hidden`."""
    return re.sub(r"_?\d+$", "", name.rsplit(".", 1)[-1]).lower()


def by_suffix(name: str) -> str:
    """The class of a decision by its name's ending (`CLASSES`), else the decision's own name."""
    stem = _stem(name)
    for klass, endings in CLASSES.items():
        if any(stem == ending or stem.endswith("_" + ending) for ending in endings):
            return klass
    return name


def by_decision(name: str) -> str:
    """Every decision a class of its own."""
    return name


CLASSIFIERS: dict[str, Callable[[str], str]] = {"suffix": by_suffix, "decision": by_decision}


def decision_classes(space: Space, classify: str | Callable[[str], str] = "suffix") -> dict[str, list[int]]:
    """Class name -> positions (into `space.free`) of its decisions, classes in the order they first appear."""
    if isinstance(classify, str):
        if classify not in CLASSIFIERS:
            raise ConfigError(f"unknown decision classes {classify!r}; allowed: {', '.join(CLASSIFIERS)} "
                              "or a function of a decision name returning its class")
        classify = CLASSIFIERS[classify]
    if not callable(classify):
        raise ConfigError(f"decision classes must be {', '.join(CLASSIFIERS)} or a function of a decision name, "
                          f"got {classify!r}")
    classes: dict[str, list[int]] = {}
    for position, decision in enumerate(space.free):
        classes.setdefault(str(classify(decision.name)), []).append(position)
    return classes
