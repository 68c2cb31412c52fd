"""Regularized (aging) evolution (Real et al., 2019), multi-objective and constraint-aware.

The population holds the last `population_size` archs told, oldest dropped first
(aging). Each child is: a tournament winner (lowest constrained Pareto rank among
`sample_size` random members), with probability `crossover_prob` crossed uniformly
with a second winner, then mutated (`Space.mutate`). Until the population is full,
archs are sampled uniformly (seed archs first).

Constraints, two ways:
* penalised: an infeasible member (violation > 0) loses every tournament against a
  feasible one, and among infeasible ones the smaller violation wins
  (`constrained_ranks`);
* resampled: with `is_feasible` (a cheap predicate, e.g. params <= budget), a child it
  refuses is drawn again, up to `max_resample` times, before the last draw is kept.
A child may repeat an arch already evaluated; the search loop answers it without a trial
(`searchers.deduplicate`); a repeat of a member still in the population does not join it again (it
would only crowd out the others), a repeat of one aged out does.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Annotated

import numpy as np

from nas.option_bounds import PROBABILITY, PositiveInt, Probability
from nas.space import Arch, Space
from searchers.base import archs_from_strings, archs_to_strings, check_ask, check_told, rng_from_state, rng_state
from searchers.constrained_ranking import constrained_ranks
from searchers.tournament import tournament


class RegularizedEvolution:
    def __init__(self, space: Space, *, population_size: PositiveInt = 20, sample_size: PositiveInt = 5,
                 crossover_prob: Probability = 0.5, mutation_rate: Annotated[float | None, PROBABILITY] = None,
                 seed: int = 0, seeds: Sequence[Arch] = (), is_feasible: Callable[[Arch], bool] | None = None,
                 max_resample: PositiveInt = 20):
        self.space = space
        self.population_size, self.sample_size = population_size, sample_size
        self.crossover_prob, self.mutation_rate = crossover_prob, mutation_rate
        self.is_feasible, self.max_resample = is_feasible, max_resample
        self._rng = np.random.default_rng(seed)
        self._seeds = [space.validate(arch) for arch in seeds]
        # (arch, objectives, violation) of the last population_size archs told.
        self._population: deque = deque(maxlen=population_size)

    # -- proposing ------------------------------------------------------------

    def ask(self, n: int) -> list[Arch]:
        n = check_ask(n)
        archs, self._seeds = self._seeds[:n], self._seeds[n:]
        full = len(self._population) >= self.population_size
        ranks = self._ranks() if full else None
        while len(archs) < n:
            archs.append(self._acceptable(lambda: self._child(ranks) if full else self.space.sample(self._rng)))
        return archs

    def _acceptable(self, draw: Callable[[], Arch]) -> Arch:
        for _ in range(self.max_resample):
            arch = draw()
            if self.is_feasible is None or self.is_feasible(arch):
                return arch
        return arch

    def _ranks(self) -> np.ndarray:
        objectives = np.array([member[1] for member in self._population])
        violations = np.array([member[2] for member in self._population])
        return constrained_ranks(objectives, violations)

    def _child(self, ranks: np.ndarray) -> Arch:
        parent = self._population[tournament(ranks, self.sample_size, self._rng)][0]
        if self._rng.random() < self.crossover_prob:
            other = self._population[tournament(ranks, self.sample_size, self._rng)][0]
            if other != parent:
                parent = self.space.crossover(parent, other, self._rng)
        return self.space.mutate(parent, self._rng, self.mutation_rate)

    # -- learning -------------------------------------------------------------

    def tell(self, archs, objectives, violations=None) -> None:
        objectives, violations = check_told(archs, objectives, violations)
        for arch, values, violation in zip(archs, objectives, violations):
            arch = self.space.validate(arch)
            if any(arch == member[0] for member in self._population):
                continue  # a repeat of a living member adds no information and would crowd out the others
            self._population.append((arch, values.tolist(), float(violation)))

    @property
    def population(self) -> list[tuple[Arch, list[float], float]]:
        return list(self._population)

    def state(self) -> dict:
        return {"rng": rng_state(self._rng), "seeds": archs_to_strings(self._seeds),
                "population": [[a.to_string(), o, v] for a, o, v in self._population]}

    def restore(self, state: dict) -> None:
        self._rng = rng_from_state(state["rng"])
        self._seeds = archs_from_strings(self.space, state["seeds"])
        self._population = deque(((self.space.from_string(a), o, v) for a, o, v in state["population"]),
                                 maxlen=self.population_size)
