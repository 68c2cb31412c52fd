"""Optuna samplers behind the searcher protocol: NSGA-II for several objectives, TPE for one.

The searcher keeps its own in-memory Optuna study (every objective minimised).
`ask` runs define-by-run suggestions: one per active free decision, the choice
index as an int for numeric decisions (ordered: TPE models neighbours) or as a
categorical otherwise; a conditional decision is suggested only when its source
makes it active. Seeds (e.g. smallest and largest) go in with `enqueue_trial`.
Violations are each trial's constraint (`set_constraint`; feasible first, as in
Deb's constrained NSGA-II, and TPE's c-TPE split). Archs it did not propose are added with `add_trial`, with
an NSGA-II generation by arrival order, so replays and other workers' trials count.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from nas.errors import ConfigError
from nas.option_bounds import Bounds, NonNegativeInt
from nas.optuna_private import FIXED_PARAMS_KEY, constraint_key, generation_key
from nas.space import Arch, Space, _is_number
from searchers.base import archs_from_strings, archs_to_strings, check_ask, check_told

SAMPLERS = ("auto", "nsga2", "tpe")


# Optuna >= 5 reads a trial's constraints from its system attributes (`Trial.set_constraint`).
_VIOLATION_KEY = constraint_key("violation")
optuna.logging.set_verbosity(optuna.logging.WARNING)


class OptunaSearch:
    def __init__(self, space: Space, num_objectives: int, *, sampler: str = "auto", seed: int = 0,
                 seeds: Sequence[Arch] = (), population_size: Annotated[int, Bounds(low=2)] = 20,
                 n_startup_trials: NonNegativeInt = 10):
        if sampler not in SAMPLERS:
            raise ConfigError(f"unknown Optuna sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
        if num_objectives < 1:
            raise ConfigError(f"an Optuna searcher needs at least one objective, got {num_objectives}")
        self.space, self.num_objectives, self.seed = space, num_objectives, seed
        self.sampler_name = ("nsga2" if num_objectives > 1 else "tpe") if sampler == "auto" else sampler
        self.population_size, self.n_startup_trials = population_size, n_startup_trials
        self._distributions = {d.name: IntDistribution(0, len(d) - 1) if all(_is_number(v) for v in d.values)
                               else CategoricalDistribution(list(range(len(d)))) for d in space.free}
        self._new_study(seed)
        for arch in seeds:
            self._study.enqueue_trial(self._params(space.validate(arch)))

    def _new_study(self, seed: int) -> None:
        if self.sampler_name == "nsga2":
            sampler = optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=seed)
        else:
            with warnings.catch_warnings():  # multivariate TPE is "experimental" in Optuna's terms
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials,
                                                     multivariate=True)
        self._study = optuna.create_study(directions=["minimize"] * self.num_objectives, sampler=sampler)
        self._pending: dict[str, list] = defaultdict(list)

    # -- arch <-> Optuna parameters -------------------------------------------

    def _params(self, arch: Arch) -> dict[str, int]:
        vector = arch.to_vector()
        return {d.name: int(vector[p]) for p, d in enumerate(self.space.free) if d.name in arch}

    def _suggest(self, trial) -> Arch:
        mapping = {}
        for d in self.space.free:
            if d.when is not None and not mapping[d.when.source] >= d.when.min_value:
                continue
            distribution = self._distributions[d.name]
            if isinstance(distribution, IntDistribution):
                index = trial.suggest_int(d.name, distribution.low, distribution.high)
            else:
                index = trial.suggest_categorical(d.name, distribution.choices)
            mapping[d.name] = d.values[index]
        return self.space.validate(mapping)

    # -- protocol -------------------------------------------------------------

    def ask(self, n: int) -> list[Arch]:
        archs = []
        for _ in range(check_ask(n)):
            trial = self._study.ask()
            arch = self._suggest(trial)
            self._pending[arch.to_string()].append(trial)
            archs.append(arch)
        return archs

    def tell(self, archs, objectives, violations=None) -> None:
        objectives, violations = check_told(archs, objectives, violations, self.num_objectives)
        for arch, values, violation in zip(archs, objectives, violations):
            pending = self._pending.get(arch.to_string())
            if pending:
                trial = pending.pop(0)
                trial.set_constraint("violation", float(violation))
                self._study.tell(trial, values.tolist())
            else:
                self._add(arch, values.tolist(), float(violation))

    def _add(self, arch: Arch, values: list[float], violation: float, system_attrs: dict | None = None) -> None:
        params = self._params(self.space.validate(arch))
        if system_attrs is None:
            complete = len(self._study.get_trials(deepcopy=False, states=[TrialState.COMPLETE]))
            system_attrs = {_VIOLATION_KEY: violation}
            if self.sampler_name == "nsga2":
                system_attrs[generation_key(self._study.sampler)] = complete // self.population_size
        self._study.add_trial(create_trial(
            params=params, distributions={k: self._distributions[k] for k in params}, values=values,
            system_attrs=system_attrs))

    def state(self) -> dict:
        """The told history (params, objectives, violations, sampler attributes) and queued seeds."""
        trials = self._study.get_trials(deepcopy=False)
        told = [t for t in trials if t.state == TrialState.COMPLETE]
        # Seeds not yet told: still queued (WAITING), or asked and pending (RUNNING with fixed params).
        queued = [t.system_attrs[FIXED_PARAMS_KEY] for t in trials
                  if t.state in (TrialState.WAITING, TrialState.RUNNING) and FIXED_PARAMS_KEY in t.system_attrs]
        return {"sampler": self.sampler_name, "seed": self.seed,
                "told": [[self._arch_of(t.params).to_string(), list(t.values), t.system_attrs[_VIOLATION_KEY],
                          {k: v for k, v in t.system_attrs.items() if not k.startswith(FIXED_PARAMS_KEY)}]
                         for t in told],
                "queued": archs_to_strings([self._arch_of(p) for p in queued])}

    def _arch_of(self, params: dict) -> Arch:
        return self.space.validate({d.name: d.values[int(params[d.name])] for d in self.space.free if d.name in params})

    def restore(self, state: dict) -> None:
        """The same history; the sampler's random stream restarts from (seed, number of trials told)."""
        if state["sampler"] != self.sampler_name:
            raise ConfigError(f"saved state is for the {state['sampler']} sampler, this searcher uses {self.sampler_name}")
        self._new_study(int(state["seed"]) + len(state["told"]))
        for arch, values, violation, system_attrs in state["told"]:
            self._add(self.space.from_string(arch), values, violation, system_attrs)
        for arch in archs_from_strings(self.space, state["queued"]):
            self._study.enqueue_trial(self._params(arch))
