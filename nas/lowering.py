"""The two lowerings of a supernet, as pure functions of `(graphdef, params, stats)`.

Masked: `masked_apply` runs any subnetwork with static shapes; the arch is a
traced int32 vector of choice indices, so one compile serves every arch.
Sliced: `slice_subnet` returns a standalone module with exactly the active
shapes (for export, latency and FLOPs); compile it once per arch, never in a loop.
"""
from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from nas.space import Arch, Space


def split(model: nnx.Module):
    """(graphdef, params, batch_stats) of a supernet or standalone model."""
    return nnx.split(model, nnx.Param, nnx.BatchStat)


def masked_apply(graphdef, params, stats, space: Space, x, arch_vector, *, train: bool):
    """Logits of the subnet `arch_vector` (int32 [num_decisions]) and the updated batch stats."""
    model = nnx.merge(graphdef, params, stats, copy=True)
    logits = model(x, train=train, arch=space.values(arch_vector))
    return logits, nnx.state(model, nnx.BatchStat)


def standalone_apply(graphdef, params, stats, x, *, train: bool):
    """Logits of a standalone (sliced or exported) model and its updated batch stats."""
    model = nnx.merge(graphdef, params, stats, copy=True)
    logits = model(x, train=train)
    return logits, nnx.state(model, nnx.BatchStat)


def slice_subnet(supernet: nnx.Module, arch: Arch) -> nnx.Module:
    """Sliced lowering: a standalone copy of the active weights of `arch`."""
    return supernet.get_active_subnet(arch)


def merged(graphdef, params, stats) -> nnx.Module:
    return nnx.merge(graphdef, params, stats)


def count_params(params: Any) -> int:
    return sum(int(leaf.size) for leaf in jax.tree.leaves(params))
