"""Optuna's private APIs that weft relies on, behind one small adapter.

Optuna (5.x) has no public way to do these, and an upgrade may rename or change them; every use in
weft goes through here (`nas.search.loop`, `searchers.optuna_search`), and
`tests/nas/test_optuna_private.py` checks each one against the installed Optuna, so an upgrade that
changes them fails there, loudly, naming the API.

* a study's storage and id (`Study._storage`, `Study._study_id`), and a trial's id
  (`FrozenTrial._trial_id`): the search loop creates, claims and finishes trials directly in storage;
* the system attribute a constraint is stored under (`optuna.study._constrained_optimization._CONSTRAINTS_KEY`,
  joined with the constraint's name as `Trial.set_constraint` does): trials added from history keep
  their violation, which constrained NSGA-II and TPE read back as `FrozenTrial.constraints`;
* the system attribute NSGA-II keys a trial's generation with (`NSGAIISampler._get_generation_key()`):
  added trials join a generation;
* the system attribute holding an enqueued trial's parameters (`"fixed_params"`, `Study.enqueue_trial`):
  queued seed archs are saved and restored.
"""
from __future__ import annotations

import optuna
from optuna.study._constrained_optimization import _CONSTRAINTS_KEY

FIXED_PARAMS_KEY = "fixed_params"


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    return study._storage


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: optuna.trial.FrozenTrial) -> int:
    return trial._trial_id


def constraint_key(name: str) -> str:
    """The system attribute `Trial.set_constraint(name, value)` writes."""
    return f"{_CONSTRAINTS_KEY}:{name}"


def generation_key(sampler) -> str:
    """The system attribute a genetic sampler (NSGA-II) stores a trial's generation under."""
    return sampler._get_generation_key()
