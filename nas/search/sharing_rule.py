"""Which archs may share weights in a weight-shared evaluation: a sharing rule maps an arch to a group key.

Archs with the same key share one weight store (`nas.search.shared_weights`); archs with different keys
never touch each other's weights. Auto-GNN (Zhou et al. 2019) lets a child inherit weights only from
*homogeneous* archs, those with the same weight shapes and the same attention and activation functions,
so that sharing never crosses incompatible models. The rules, by name (`resolve_rule`):

    all              one group: every arch shares one store (ENAS, one-shot supernets)
    homogeneous      `homogeneous_rule`: archs share when every active decision is equal except the
                     parameter-free ones (`PARAMETER_FREE`: aggregation, by decision name), so weight
                     shapes (widths, heads, depth, kernels), op types (attention, activation, any
                     categorical op) and everything else a space decides must agree
    module:function  any function of an Arch returning its group key (a string), e.g. a rule that also
                     lets activations differ

A decision's kind is read from its name as the conservative controller reads classes
(`searchers.decision_classes.by_suffix`: `l0.aggregation`, `aggregator_1` are aggregation).
`homogeneous_rule(space, parameter_free=())` makes only identical archs share.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from nas.errors import ConfigError
from nas.space import Arch, Space

SharingRule = Callable[[Arch], str]
# Decision classes free of parameters and of op type: Auto-GNN lets homogeneous archs differ in them.
PARAMETER_FREE = ("aggregation",)
RULES = ("all", "homogeneous")


def share_all(arch: Arch) -> str:
    return "all"


def homogeneous_rule(space: Space, parameter_free: Sequence[str] = PARAMETER_FREE) -> SharingRule:
    """arch -> its active decisions as `name=value;...`, less those whose class is in `parameter_free`."""
    from searchers.decision_classes import by_suffix

    kept = [d.name for d in space.free if by_suffix(d.name) not in set(parameter_free)]

    def key(arch: Arch) -> str:
        return ";".join(f"{name}={arch[name]}" for name in kept if name in arch)
    return key


def resolve_rule(spec: str | SharingRule, space: Space) -> SharingRule:
    """A rule by name (`RULES`), a `module:function` naming a function of an Arch, or that function itself."""
    if callable(spec):
        return spec
    if spec == "all":
        return share_all
    if spec == "homogeneous":
        return homogeneous_rule(space)
    if isinstance(spec, str) and ":" in spec:
        from nas.user_code import import_attribute

        function = import_attribute(spec, "sharing rule")
        if not callable(function):
            raise ConfigError(f"sharing rule {spec!r} is not callable; it must be a function of an Arch returning "
                              "its group key")
        return function
    raise ConfigError(f"unknown sharing rule {spec!r}; allowed: {', '.join(RULES)} or module:function (a function "
                      "of an Arch returning its group key)")
