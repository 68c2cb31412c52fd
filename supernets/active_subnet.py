"""Once-for-All's `get_active_subnet` for any network built from declared layers: no config file.

The subnet is the supernet with each elastic layer replaced by its slice at the arch's sizes
(`layer.active(values)`) and each elastic-depth stack cut to the blocks its depth runs. Called with
`arch=None`, every declared decision reads None, so the result runs as a plain standalone model.
"""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from supernets.elastic_stack import ElasticStack
from supernets.protocol import HasActiveSubnet


def get_active_subnet(supernet: nnx.Module, arch: Mapping) -> nnx.Module:
    """The network's own `get_active_subnet` where it has one, else the derived `active_subnet`."""
    if isinstance(supernet, HasActiveSubnet):
        return supernet.get_active_subnet(arch)
    return active_subnet(supernet, arch)


def active_subnet(supernet: nnx.Module, arch: Mapping) -> nnx.Module:
    """A standalone copy of `supernet` holding exactly the weights `arch` uses."""
    subnet = nnx.clone(supernet)
    _slice(subnet, dict(arch))
    return subnet


def _replacement(child, values):
    if isinstance(child, ElasticStack):
        kept = list(child.blocks)[:child.active_blocks(values)]
        child.blocks, child.depth = nnx.List([_replacement(block, values) for block in kept]), None
        return child
    if isinstance(child, nnx.Module) and callable(getattr(child, "active", None)):
        return child.active(values)
    if isinstance(child, nnx.Module):
        _slice(child, values)
    elif isinstance(child, nnx.List):
        return nnx.List([_replacement(item, values) for item in child])
    return child


def _slice(module: nnx.Module, values: dict) -> None:
    for key, child in list(vars(module).items()):
        if key.startswith("_") or isinstance(child, nnx.Variable):
            continue
        replaced = _replacement(child, values)
        if replaced is not child:
            setattr(module, key, replaced)
