"""`--supernet`: which supernet `nas train` trains, the plain one or a mixture wrapped around it.

single      the space's supernet
mos-layer   Mixture-of-Supernets, one router softmax over `experts` per kernel (supernets.mixture_of_supernets)
mos-neuron  the same, one softmax per output neuron of each kernel
few-shot    `experts` supernets, each owning some choices of `split_decision` (supernets.few_shot)
mixture     `experts` supernets (default 2), each arch owned by the one a learned router picks, trained to fit
            and balanced by `balance_weight` (supernets.learned_assignment)

A mixture is a supernet to the rest of the engine (training step, evaluation,
search, export), so nothing else needs to know which kind a run trains.
"""
from __future__ import annotations

import jax
from flax import nnx

from nas.space import Space
from supernets.few_shot import FewShotSupernets
from supernets.learned_assignment import RoutedSupernets
from supernets.mixture_of_supernets import MixtureOfSupernets

DEFAULT_EXPERTS = 2  # MoS and mixture; few-shot defaults to one supernet per choice of the split decision
DEFAULT_BALANCE_WEIGHT = 1.0  # mixture


def wrap_supernet(kind: str, space: Space, supernet: nnx.Module, *, experts: int | None = None,
                  split_decision: str | None = None, router_hidden: int = 64, balance_weight: float | None = None,
                  seed: int = 0) -> nnx.Module:
    """`supernet` itself (`single`) or the mixture of `kind` built around it (checked configs only)."""
    if kind == "few-shot":
        return FewShotSupernets(supernet, space, split_decision=split_decision, num_supernets=experts)
    rngs = nnx.Rngs(jax.random.fold_in(jax.random.key(seed), 1))  # a router's: not the supernet's own stream
    if kind == "routed":
        return RoutedSupernets(supernet, space, num_supernets=experts or DEFAULT_EXPERTS, router_hidden=router_hidden,
                               balance_weight=DEFAULT_BALANCE_WEIGHT if balance_weight is None else balance_weight,
                               rngs=rngs)
    if kind in ("mos-layer", "mos-neuron"):
        return MixtureOfSupernets(supernet, space, experts=experts or DEFAULT_EXPERTS,
                                  granularity=kind.removeprefix("mos-"), router_hidden=router_hidden, rngs=rngs)
    return supernet
