"""The two lowerings of a supernet, as pure functions of `(graphdef, params, stats)`.

Masked: `masked_apply` runs any subnetwork with static shapes; the arch is a
traced int32 vector of choice indices, so one compile serves every arch.
Sliced: `slice_subnet` returns a standalone module with exactly the active
shapes (for export, latency and FLOPs); compile it once per arch, never in a loop.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nas.space import Arch, Space
from supernets.active_subnet import get_active_subnet
from supernets.protocol import HasAuxiliaryLoss, ReportsParamUsage, SortsChannels


def split(model: nnx.Module):
    """(graphdef, params, batch_stats) of a supernet or standalone model."""
    return nnx.split(model, nnx.Param, nnx.BatchStat)


def masked_apply(graphdef, params, stats, space: Space, x, arch_vector, *, train: bool):
    """Logits of the subnet `arch_vector` (int32 [num_decisions]) and the updated batch stats."""
    model = nnx.merge(graphdef, params, stats, copy=True)
    logits = model(x, train=train, arch=space.values(arch_vector))
    return logits, nnx.state(model, nnx.BatchStat)


def switched_apply(graphdef, params, stats, space: Space, x, arch_vector, *, train: bool):
    """`masked_apply`, but each block runs only its chosen width (`supernets.dispatch`).

    Same function as the masked lowering, near the sliced cost, one compile for all archs.
    """
    model = nnx.merge(graphdef, params, stats, copy=True)
    logits = model(x, train=train, arch=space.values(arch_vector), switch=True)
    return logits, nnx.state(model, nnx.BatchStat)


def static_apply(graphdef, params, stats, x, arch: Arch, *, train: bool):
    """Logits of a fixed arch, sliced inside jit: exact shapes, its own cost, one compile per arch.

    Gradients reach the leading slices of the shared weights, as in the masked lowering.
    """
    model = nnx.merge(graphdef, params, stats, copy=True)
    logits = model(x, train=train, arch=dict(arch))
    return logits, nnx.state(model, nnx.BatchStat)


def auxiliary_loss(graphdef, params, stats):
    """The supernet's own training term, bound to these weights, or None where it defines none.

    The hook: a supernet MAY define `auxiliary_loss(x, *, arch, loss, loss_of) -> scalar` (`arch` fixed or
    traced values, `loss` the arch's task loss the step computed, `loss_of(logits)` that task loss of other
    logits on this batch); the training step adds it to each sampled arch's loss (a learned assignment's
    router learns from it, supernets.learned_assignment).
    Batch statistics it touches are discarded. Whether a supernet has it is known when the step is traced,
    so a supernet without it traces exactly the step it traced before.
    """
    model = nnx.merge(graphdef, params, stats, copy=True)
    return model.auxiliary_loss if isinstance(model, HasAuxiliaryLoss) else None


def standalone_apply(graphdef, params, stats, x, *, train: bool):
    """Logits of a standalone (sliced or exported) model and its updated batch stats."""
    model = nnx.merge(graphdef, params, stats, copy=True)
    logits = model(x, train=train)
    return logits, nnx.state(model, nnx.BatchStat)


def slice_subnet(supernet: nnx.Module, arch: Arch) -> nnx.Module:
    """Sliced lowering: a standalone copy of the active weights of `arch`.

    Slicing runs on host (numpy) copies: eager JAX would dispatch, and compile,
    a few hundred tiny slicing ops per arch.
    """
    graphdef, state = nnx.split(supernet)
    on_host = nnx.merge(graphdef, jax.device_get(state))
    subnet_graphdef, subnet_state = nnx.split(get_active_subnet(on_host, arch))
    return nnx.merge(subnet_graphdef, jax.tree.map(jnp.asarray, subnet_state))


def count_params(params: Any) -> int:
    return sum(int(leaf.size) for leaf in jax.tree.leaves(params))


def param_usage(graphdef, params, stats, arch: Arch):
    """Per parameter leaf, a bool array: True where the sliced subnet of `arch` reads the entry.

    Found by slicing a copy of the supernet whose entries are their own ids, so it
    is exact for any space (kernel transforms included: they read the whole leaf).
    A supernet that computes its weights (a mixture of supernets) answers itself.
    """
    model = nnx.merge(graphdef, params, stats)
    if isinstance(model, ReportsParamUsage):
        return model.param_usage(arch)
    leaves, treedef = jax.tree.flatten(params)
    offsets = np.cumsum([0] + [leaf.size for leaf in leaves])
    if offsets[-1] >= 2 ** 24:
        raise ValueError(f"param_usage tags entries with float32 ids: {offsets[-1]} entries is too many")
    tagged = jax.tree.unflatten(treedef, [np.arange(o, o + leaf.size, dtype=np.float32).reshape(leaf.shape)
                                          for o, leaf in zip(offsets, leaves)])
    subnet_params = split(slice_subnet(nnx.merge(graphdef, tagged, stats), arch))[1]
    ids = np.concatenate([np.asarray(leaf).ravel() for leaf in jax.tree.leaves(subnet_params)]).astype(np.int64)
    used = np.zeros(offsets[-1], bool)
    used[ids] = True
    return [used[o:o + leaf.size].reshape(leaf.shape) for o, leaf in zip(offsets, leaves)]


def sort_channels(graphdef, params, stats):
    """(params, stats) with every elastic layer's channels by importance (OFA re-organisation).

    The largest subnet computes the same function before and after; smaller
    widths then hold the most important channels. Runs on host copies.
    """
    model = nnx.merge(graphdef, jax.device_get(params), jax.device_get(stats), copy=True)
    if not isinstance(model, SortsChannels):
        raise ValueError(f"{type(model).__name__} has no sort_channels(): importance re-sorting is not defined for it")
    model.sort_channels()
    _, new_params, new_stats = split(model)
    return jax.tree.map(jnp.asarray, new_params), jax.tree.map(jnp.asarray, new_stats)
