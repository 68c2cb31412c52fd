"""Few-shot NAS (Zhao et al.): K supernets, each owning the archs of some choices of one decision.

`FewShotSupernets(supernet, space, split_decision=NAME, num_supernets=K)` holds
K copies of a supernet (all start from the given one). The decision's choices
are split into K contiguous groups, balanced in size (choice index i of n goes
to supernet i * K // n), so every arch is served by exactly one supernet: the
one owning its value of the decision (an inactive decision reads its first
choice). The assignment is a pure function of the space, the decision and K,
so a checkpoint needs nothing beyond the K supernets' weights to restore it.

Like `MixtureOfSupernets` the wrapper is a supernet itself; how it runs, slices
and trains an arch on its owner alone is `supernets.owned_copies`, which the
learned assignment (`supernets.learned_assignment`) shares. Here the owner of a
fixed arch is a Python int, so a fixed arch runs its own supernet directly.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from flax import nnx

from nas.errors import ConfigError
from nas.space import Space
from supernets.owned_copies import OwnedCopies, copies
from supernets.param_paths import arch_vector, is_fixed


def balanced_assignment(num_choices: int, num_supernets: int) -> tuple[int, ...]:
    """Choice index -> supernet: contiguous groups whose sizes differ by at most one."""
    return tuple(i * num_supernets // num_choices for i in range(num_choices))


class FewShotSupernets(OwnedCopies):
    def __init__(self, supernet: nnx.Module, space: Space, *, split_decision: str, num_supernets: int | None = None):
        free = [d.name for d in space.free]
        if split_decision not in free:
            raise ConfigError(f"space {space.name!r}: split decision {split_decision!r} is not one of its "
                              f"decisions; allowed: {', '.join(free)}")
        num_choices = len(space[split_decision].values)
        num_supernets = num_choices if num_supernets is None else num_supernets
        if not 1 <= num_supernets <= num_choices:
            raise ConfigError(f"space {space.name!r}: decision {split_decision!r} has {num_choices} choices, so "
                              f"the number of supernets must be 1..{num_choices}, got {num_supernets}")
        self.space, self.split_decision = space, split_decision
        self.position = free.index(split_decision)
        self.assignment = balanced_assignment(num_choices, num_supernets)
        self.supernets = copies(supernet, num_supernets)

    def supernet_of(self, arch: Mapping):
        """The index of the supernet serving `arch`: a Python int for a fixed arch, traced otherwise."""
        index = arch_vector(self.space, arch)[self.position]
        if is_fixed(arch):
            return self.assignment[int(index)]
        return jnp.asarray(self.assignment, jnp.int32)[index]

    def endpoints(self) -> list[tuple]:
        """Per supernet, (largest, smallest) of the archs it owns: the space's largest and smallest with the
        split decision at the supernet's largest and smallest choice."""
        largest, smallest = self.space.largest().to_vector(), self.space.smallest().to_vector()
        ends = []
        for owner in range(len(self.supernets)):
            owned = [index for index, group in enumerate(self.assignment) if group == owner]
            top, bottom = largest.copy(), smallest.copy()
            top[self.position], bottom[self.position] = max(owned), min(owned)
            ends.append((self.space.from_vector(top), self.space.from_vector(bottom)))
        return ends
