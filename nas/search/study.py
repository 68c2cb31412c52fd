"""The Optuna study a search records into, and the trial records read back from it.

A study carries, as user attributes, the space (name, fingerprint), the objectives and the
constraints it was started with, and the data split a supernet search scores; a search with
other ones is refused before anything is written. Each trial holds `arch` (canonical string), `metrics`, `violation` and `worker`
(host:pid of the process evaluating it) as user attributes; its values are the
objectives in their own directions (accuracy maximised).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from nas.errors import ConfigError, RunDirError
from nas.search.objectives import Constraint, Objective, canonical_metrics
from nas.search.storage import StorageError

RECORD_KEY = "weft"
REFERENCE_KEY = "weft_reference"  # the hypervolume reference point (minimised), for plots
# A random name given to a study when first opened: what a worker's saved searcher state belongs to, the
# same whichever path or URL spelling reaches the storage, and new for a storage made anew.
STUDY_ID_KEY = "weft_study_id"


def study_record(space, objectives: Sequence[Objective], constraints: Sequence[Constraint],
                 scoring: str | None = None, split: str | None = None) -> dict:
    """`scoring`: the network scoring archs when it is not the run's own (`nas search --supernet`); a study
    without it was scored by the run's own network. `split`: the data split a supernet search scores
    (none for a black-box objective)."""
    record = {"space": space.name, "space_version": space.version, "space_fingerprint": space.fingerprint(),
              "objectives": [str(o) for o in objectives], "constraints": [str(c) for c in constraints]}
    if split is not None:
        record["split"] = split
    return record if scoring is None else {**record, "scoring": scoring}


def load_study(storage, name: str) -> optuna.Study | None:
    if name not in {s.study_name for s in storage.get_all_studies()}:
        return None
    return optuna.load_study(study_name=name, storage=storage)


def _saved_record(study: optuna.Study, wait: float = 10.0) -> dict | None:
    """The study's record; a worker that created the study a moment ago may still be writing it."""
    deadline = time.monotonic() + wait
    while True:
        saved = study.user_attrs.get(RECORD_KEY)
        if saved is not None or time.monotonic() > deadline:
            return saved
        time.sleep(0.1)


def check_record(study: optuna.Study, record: dict, where: str) -> None:
    saved = _saved_record(study)
    if saved is None:
        raise StorageError(f"study {study.study_name!r} in {where} was not written by weft; choose another --study")
    if saved["space_fingerprint"] != record["space_fingerprint"]:
        raise RunDirError(f"study {study.study_name!r} in {where} searched space {saved['space']!r} "
                          f"(fingerprint {saved['space_fingerprint']}), not {record['space']!r} "
                          f"(fingerprint {record['space_fingerprint']}); choose another --study or --storage")
    from nas.search.objectives import parse_constraint, parse_objective

    parse = {"objectives": parse_objective, "constraints": parse_constraint}
    for key in ("objectives", "constraints"):
        if [str(parse[key](item)) for item in saved[key]] != record[key]:  # a former metric name reads as its new one
            raise ConfigError(f"study {study.study_name!r} in {where} was started with {key} {saved[key]}, "
                              f"this search has {record[key]}; resume with the same {key} or choose another --study")
    if saved.get("scoring") != record.get("scoring"):
        def scored_by(value):
            return "the run's own network" if value is None else f"--supernet {value}"
        raise ConfigError(f"study {study.study_name!r} in {where} was scored with {scored_by(saved.get('scoring'))}, "
                          f"this search scores with {scored_by(record.get('scoring'))}; resume with the same "
                          "--supernet or choose another --study")
    if saved.get("split") and record.get("split") and saved["split"] != record["split"]:
        raise ConfigError(f"study {study.study_name!r} in {where} scored the {saved['split']} split, this search "
                          f"scores the {record['split']} split; resume with --split {saved['split']} or choose "
                          "another --study")


def open_study(storage, name: str, record: dict, objectives: Sequence[Objective], where: str) -> optuna.Study:
    """Load the study (checking its record) or create it."""
    study = load_study(storage, name)
    if study is None:
        directions = ["maximize" if o.direction == "max" else "minimize" for o in objectives]
        study = optuna.create_study(storage=storage, study_name=name, directions=directions, load_if_exists=True)
        if RECORD_KEY not in study.user_attrs:  # another worker may have created it a moment ago
            study.set_user_attr(RECORD_KEY, record)
    check_record(study, record, where)
    if STUDY_ID_KEY not in study.user_attrs:
        study.set_user_attr(STUDY_ID_KEY, uuid.uuid4().hex)
    return study


def weft_study_id(study: optuna.Study) -> str:
    """The study's `STUDY_ID_KEY` (read back from the storage: of two workers naming it at once, one wins)."""
    return study.user_attrs[STUDY_ID_KEY]


@dataclass(frozen=True)
class TrialRecord:
    number: int
    arch: str
    metrics: dict
    violation: float
    values: tuple

    @property
    def feasible(self) -> bool:
        return self.violation <= 0


def trial_records(study: optuna.Study) -> list[TrialRecord]:
    """Every finished (COMPLETE) trial, by trial number."""
    return [TrialRecord(t.number, t.user_attrs["arch"], canonical_metrics(t.user_attrs["metrics"]),
                        t.user_attrs["violation"],
                        tuple(t.values))
            for t in sorted(study.get_trials(deepcopy=False, states=[TrialState.COMPLETE]), key=lambda t: t.number)]


def load_search(directory, storage_spec: str | None, study_name: str) -> optuna.Study:
    """The study of a finished or running search, or a StorageError saying what is missing."""
    from pathlib import Path

    from nas.search.storage import JOURNAL_FILE, open_storage

    spec = storage_spec or str(Path(directory) / JOURNAL_FILE)
    if storage_spec is None and not Path(spec).exists():
        raise StorageError(f"{directory} holds no search ({JOURNAL_FILE} is missing); run `nas search --run "
                           f"{directory}` first, or give --storage")
    storage = open_storage(spec)
    study = load_study(storage, study_name)
    if study is None:
        names = sorted(s.study_name for s in storage.get_all_studies())
        raise StorageError(f"no study {study_name!r} in {spec}; studies there: {', '.join(names) or 'none'}")
    if _saved_record(study, wait=0.0) is None:
        raise StorageError(f"study {study_name!r} in {spec} was not written by weft")
    return study


def load_front_inputs(directory, storage_spec: str | None, study_name: str):
    """(finished trial records, objectives, hypervolume reference or None) of a search; `search_constraints`
    gives its budgets."""
    import numpy as np

    from nas.search.objectives import parse_objective

    study = load_search(directory, storage_spec, study_name)
    objectives = [parse_objective(o) for o in study.user_attrs[RECORD_KEY]["objectives"]]
    reference = study.user_attrs.get(REFERENCE_KEY)
    return trial_records(study), objectives, None if reference is None else np.asarray(reference)


def search_split(directory, storage_spec: str | None, study_name: str) -> str | None:
    """The data split a supernet search scored (None: a black-box search, or a study without the record)."""
    return load_search(directory, storage_spec, study_name).user_attrs[RECORD_KEY].get("split")


def search_constraints(directory, storage_spec: str | None, study_name: str) -> list:
    from nas.search.objectives import parse_constraint

    study = load_search(directory, storage_spec, study_name)
    return [parse_constraint(c) for c in study.user_attrs[RECORD_KEY]["constraints"]]
