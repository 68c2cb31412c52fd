"""K copies of a supernet, every arch served by exactly one of them (its owner).

What few-shot NAS (`supernets.few_shot`: the owner is fixed by one decision's
value) and the learned assignment (`supernets.learned_assignment`: a router
picks it) share. A subclass sets `self.supernets` (an `nnx.List` of K copies,
all of one structure) and defines `supernet_of(arch)`: a Python int where the
owner is known on the host, a traced int32 otherwise.

The wrapper is a supernet itself. A known owner runs (and slices) its own
supernet directly; a traced one (one compile for every arch) runs supernet 0's
graph on the owner's parameters and batch statistics, selected from the K
copies, and writes the updated statistics back to the owner alone. The other
copies get exactly zero gradient, so `freeze_unused` leaves them still in that
step. The standalone export is the owner's sliced subnet.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from supernets.param_paths import is_fixed, usage_by_name, usage_in_order
from supernets.active_subnet import get_active_subnet


def copy_of(module: nnx.Module) -> nnx.Module:
    """A copy owning its own buffers (`nnx.clone` shares them, and a training step cannot donate one buffer twice)."""
    graphdef, state = nnx.split(module)
    return nnx.merge(graphdef, jax.tree.map(lambda leaf: jnp.asarray(np.array(leaf)), state))


def copies(supernet: nnx.Module, num_supernets: int) -> nnx.List:
    """`supernet` itself and `num_supernets - 1` copies of it."""
    return nnx.List([supernet, *(copy_of(supernet) for _ in range(num_supernets - 1))])


class OwnedCopies(nnx.Module):
    """Base of the wrappers. A subclass sets `self.supernets` and defines `supernet_of(arch)` (the module
    docstring); `usage_outside(name)` it overrides only for leaves outside the copies that every arch reads."""

    @property
    def num_supernets(self) -> int:
        return len(self.supernets)

    def __call__(self, x, *, train: bool = False, arch: Mapping | None = None, **options):
        if arch is None:
            raise ValueError(f"{type(self).__name__} runs a given arch; slice it for a standalone model")
        owner = self.supernet_of(arch)
        model = self.copy_at(owner)
        logits = model(x, train=train, arch=arch, **options)
        if not isinstance(owner, int):
            updated = nnx.state(model, nnx.BatchStat)
            for index, supernet in enumerate(self.supernets):
                nnx.update(supernet, jax.tree.map(lambda new, old, mine=index == owner: jnp.where(mine, new, old),
                                                  updated, nnx.state(supernet, nnx.BatchStat)))
        return logits

    def copy_at(self, index) -> nnx.Module:
        """Supernet `index`: the copy itself for a Python int; for a traced int, supernet 0's graph on that
        copy's parameters and batch statistics, selected from the K copies (a new module: what it updates stays
        in it)."""
        if isinstance(index, int):
            return self.supernets[index]
        graphdef = nnx.graphdef(self.supernets[0])
        states = [nnx.split(s, nnx.Param, ...)[1:] for s in self.supernets]
        # A select rather than indexing the stacked copies: the stack is written out whole in the forward pass
        # and scattered into in the backward pass (an MLP's sandwich step ran at 15 steps/s instead of 29).
        picked = [jax.tree.map(lambda *copies: lax.select_n(index, *copies), *parts) for parts in zip(*states)]
        return nnx.merge(graphdef, *picked)

    def get_active_subnet(self, arch: Mapping) -> nnx.Module:
        if not is_fixed(arch):
            raise ValueError("slicing needs a fixed arch")
        return get_active_subnet(self.supernets[self.supernet_of(arch)], arch)

    def param_usage(self, arch: Mapping) -> list[np.ndarray]:
        """`nas.lowering.param_usage` for the wrapper: the owner's entries its subnet reads, and of the leaves
        outside the copies what `usage_outside(name)` says (nothing, unless a subclass reads them for every arch)."""
        owner = self.supernet_of(arch)
        inner = usage_by_name(self.supernets[owner], arch)

        def used(name: str, shape: tuple):
            head, index, rest = (name.split("/", 2) + ["", ""])[:3]
            if head != "supernets":
                return self.usage_outside(name)
            return inner[rest] if int(index) == owner else False
        return usage_in_order(self, used)

    def usage_outside(self, name: str) -> bool:
        return False
