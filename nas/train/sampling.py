"""Sampling policies: which archs a training step trains. Plain objects, apart from the step.

A policy is stateless given `(seed, step)`: the archs of step `t` come from
`np.random.default_rng([seed, t])`, so a resumed run samples exactly what an
uninterrupted one would, with no generator state to checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.space import Space


def _rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


@dataclass(frozen=True)
class UniformSampling:
    """`num_archs` subnets drawn uniformly (each decision independently, as OFA)."""

    num_archs: int = 1

    def static_archs(self, space: Space):
        """Archs trained at every step, before and after the sampled ones: none."""
        return None, None

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        rng = _rng(seed, step)
        return np.stack([space.sample(rng).to_vector() for _ in range(self.num_archs)]).astype(np.int32)


@dataclass(frozen=True)
class SandwichSampling:
    """The sandwich rule: largest, `num_random` uniform, smallest (BigNAS/AlphaNet).

    Largest and smallest are the same at every step, so they are `static_archs`
    (compiled sliced, at their own cost); `archs` returns the random middle.
    """

    num_random: int = 2

    @property
    def num_archs(self) -> int:
        return self.num_random + 2

    def static_archs(self, space: Space):
        return space.largest(), space.smallest()

    def archs(self, space: Space, seed: int, step: int) -> np.ndarray:
        rng = _rng(seed, step)
        middle = [space.sample(rng).to_vector() for _ in range(self.num_random)]
        return np.array(middle, np.int32).reshape(self.num_random, space.num_decisions)


POLICIES = {"uniform": UniformSampling, "sandwich": SandwichSampling}


def make_policy(name: str, **kwargs):
    try:
        return POLICIES[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown sampling policy {name!r}; allowed: {', '.join(POLICIES)}") from None
