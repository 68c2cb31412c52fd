"""The search loop: drives any searcher, evaluates candidates in batches, records every trial.

    nas.search.run_search(evaluator, "runs/NAME", SearchConfig(searcher="evolution", trials=200))

Each round: tell the searcher every trial other workers finished since the last round;
finish this host's stale trials (left RUNNING by a killed process); ask the searcher for
the rest of a batch; claim one Optuna trial per candidate; evaluate the batch (archs
already evaluated reuse their metrics); record metrics, objectives and the violation of
the budgets; tell the searcher. The searcher runs composed (`searchers.composed`): the
initial archs (`initial_archs`: the smallest and largest by default) are asked first, and a
proposal repeating an arch already evaluated, or one proposed twice in a batch, is answered from
the history and never costs a trial (`SearchResult.duplicates` counts them). `trials` is the number of finished trials the study
should hold, whatever the number of workers: a claim beyond it (two workers racing for
the last slots) is parked as a WAITING trial marked `surplus`, never evaluated. Re-running the
same command resumes: finished trials are never evaluated again (a trial a killed process
left RUNNING is evaluated and finished by the next run on that host). A trial is created with its
arch in one write; one without an arch (left in a journal by an older version) is marked FAIL
`orphan` after two minutes.
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState, create_trial
from tqdm import tqdm

from nas.config import check_settings, setting
from nas.errors import ConfigError, RunDirError
from nas.optuna_private import storage_of, study_id, trial_id
from nas.pareto import hypervolume, pareto_front
from nas.search.objectives import (Constraint, Objective, canonical_metrics, check_metrics, minimised,
                                   parse_constraint, parse_objective, violation)
from nas.search.storage import JOURNAL_FILE, open_storage
from nas.search.study import (REFERENCE_KEY, TrialRecord, open_study, study_record, trial_records,
                              weft_study_id)
from nas.search.worker import claim_name, is_dead, this_worker
from searchers.initial_archs import CHOICES as INITIAL_ARCHS
from searchers.registry import SEARCHERS as SEARCHER_NAMES

SEARCH_FILE = "search.json"
# What a search optimises when not told: an evaluator may say otherwise (`default_objectives`).
DEFAULT_OBJECTIVES = ("accuracy:max", "params:min")
_ORPHAN_SECONDS = 120.0
_MAX_IDLE_ROUNDS = 30
STATE_DIR = "search-state"


@dataclass(frozen=True)
class SearchConfig:
    """What a search does, apart from how archs are scored: `nas search`'s options are these settings."""

    searcher: str = setting("evolution", "the searcher proposing archs", choices=tuple(SEARCHER_NAMES))
    trials: int = setting(100, "finished trials the study should hold", minimum=1)
    batch: int = setting(8, "archs evaluated together", minimum=1)
    objectives: tuple | None = setting(
        None, "METRIC:max|min, comma-separated", separator=",", from_cli=lambda value: value or None,
        default_help="accuracy:max,params:min on a trained run; with --objective, its --outputs (accuracy "
                     "maximised, others minimised)")
    constraints: tuple = setting((), "budget METRIC<=VALUE (params<=50000, latency<=5ms), repeatable",
                                 multiple=True, cli=("--constraint",))
    seed: int = setting(0, "the searcher's seed (each worker's searcher is seeded from it and its name)", minimum=0)
    study: str = setting("search", "the study's name in the storage")
    storage: str | None = setting(None, "SQLAlchemy URL or journal file", default_help="RUN/search.journal")
    options: Mapping = setting({}, "searcher options (--option key=value)", hidden=True)
    reference: Mapping = setting({}, "hypervolume reference point per metric (--reference METRIC=VALUE)", hidden=True)
    worker: str = setting("main", "name keying this process's searcher state")
    initial_archs: str = setting(
        "endpoints", "archs every searcher evaluates first: the smallest and largest, one of them, every decision "
        "at its middle value (Shears' heuristic), or none", choices=INITIAL_ARCHS)

    def check(self) -> None:
        check_settings(self, "search")
        for flag, name in (("--study", self.study), ("--worker", self.worker)):
            # It names files of the run directory, so it must be one file name. Nothing stricter: studies
            # named before this check (with spaces, ':' or '=') must still resume.
            if not name or len(name) > 100 or name in (".", "..") or any(c in name for c in "/\\\0"):
                raise ConfigError(f"search: {flag} {name!r} is not a name; allowed: 1 to 100 characters, not '.' "
                                  "or '..', without '/', '\\' or NUL")


@dataclass
class SearchResult:
    records: list[TrialRecord]
    objectives: list[Objective]
    constraints: list[Constraint]
    reference: np.ndarray | None
    evaluated: int  # archs this process evaluated (not cached, not resumed)
    duplicates: int = 0  # proposals repeating an evaluated (or in-flight) arch, answered without a trial
    fallbacks: int = 0  # archs drawn uniformly because the searcher kept repeating itself

    @property
    def feasible(self) -> list[TrialRecord]:
        return [r for r in self.records if r.feasible]

    def front(self) -> list[TrialRecord]:
        feasible = self.feasible
        if not feasible:
            return []
        points = minimised(self.objectives, [r.metrics for r in feasible])
        return [feasible[i] for i in pareto_front(points)]

    def best(self) -> TrialRecord | None:
        """The feasible trial best in the first objective."""
        feasible = self.feasible
        if not feasible:
            return None
        return feasible[int(np.argmin(minimised(self.objectives[:1], [r.metrics for r in feasible])[:, 0]))]

    def hypervolume(self) -> float | None:
        return front_hypervolume(self.objectives, self.reference, self.feasible)


def front_hypervolume(objectives, reference, records) -> float | None:
    if reference is None or not records or len(objectives) > 3:
        return None
    return hypervolume(minimised(objectives, [r.metrics for r in records]), reference)


def storage_spec(directory: Path, config: SearchConfig) -> str:
    return config.storage or str(directory / JOURNAL_FILE)


def _check_directory(directory: Path, space) -> None:
    """A search directory belongs to one space: a trained run's config.json or a search.json says which."""
    for name in ("config.json", SEARCH_FILE):
        path = directory / name
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("space_fingerprint") != space.fingerprint():
                raise RunDirError(f"{directory} belongs to space {saved.get('space')!r} (fingerprint "
                                  f"{saved.get('space_fingerprint')}), not {space.name!r} (fingerprint "
                                  f"{space.fingerprint()}); choose another directory")


def _check_budgets(evaluator, constraints: Sequence[Constraint]) -> None:
    """A budget even the smallest arch exceeds can never be met (costs grow with the arch)."""
    smallest = evaluator.space.smallest()
    for constraint in constraints:
        function = evaluator.cheap_metrics.get(constraint.metric)
        if function is not None:
            value = float(function(smallest))
            if value > constraint.budget:
                raise ConfigError(f"no arch satisfies {constraint}: the smallest arch has {constraint.metric}="
                                  f"{value:g}; allowed: a budget >= {value:g}")


def _reference(evaluator, objectives, constraints, overrides: Mapping) -> np.ndarray | None:
    """Hypervolume reference point (minimised): accuracy 0, a cost its budget, the evaluator's own
    reference for a metric it scores (bits per character: the uniform model's), or the largest arch's value."""
    unknown = sorted(set(overrides) - {o.metric for o in objectives})
    if unknown:
        raise ConfigError(f"--reference names {', '.join(unknown)}, which no objective has; allowed: the objectives' "
                          f"metrics ({', '.join(o.metric for o in objectives)})")
    budgets = {c.metric: c.budget for c in constraints}
    references = getattr(evaluator, "reference", {})
    point = []
    for o in objectives:
        if o.metric in overrides:
            value = float(overrides[o.metric])
        elif o.metric in references:
            value = float(references[o.metric])
        elif o.direction == "max" and o.metric == "accuracy":
            value = 0.0
        elif o.metric in budgets:
            value = budgets[o.metric]
        elif o.metric in evaluator.cheap_metrics:
            value = float(evaluator.cheap_metrics[o.metric](evaluator.space.largest()))
        else:
            return None
        point.append(-value if o.direction == "max" else value)
    return np.array(point)


def _searcher_defaults(name: str, evaluator, objectives, constraints, options: Mapping) -> dict:
    """Options the loop can fill in: evolution's feasibility test, the RL controller's cost targets."""
    options = dict(options)
    cheap = [c for c in constraints if c.metric in evaluator.cheap_metrics]
    if name == "evolution" and cheap and "is_feasible" not in options:
        options["is_feasible"] = lambda arch: violation(cheap, {c.metric: evaluator.cheap_metrics[c.metric](arch)
                                                               for c in cheap}) <= 0
    if name == "conservative-rl" and len(objectives) > 1:  # it climbs the quality: the first maximised objective
        options.setdefault("quality_index", next((i for i, o in enumerate(objectives) if o.direction == "max"), 0))
    if name == "rl" and len(objectives) > 1:
        quality = next((i for i, o in enumerate(objectives) if o.direction == "max"), 0)
        cost = next((i for i, o in enumerate(objectives) if i != quality), 1)
        options.setdefault("quality_index", quality)
        options.setdefault("cost_index", cost)
        metric = objectives[cost].metric
        budgets = [c.budget for c in constraints if c.metric == metric]
        if "targets" not in options:
            if budgets:
                options["targets"] = [min(budgets)]
            elif metric in evaluator.cheap_metrics:
                low = float(evaluator.cheap_metrics[metric](evaluator.space.smallest()))
                high = float(evaluator.cheap_metrics[metric](evaluator.space.largest()))
                options["targets"] = np.geomspace(max(low, 1e-9), max(high, low * 1.01, 1e-9), 6)[1:].tolist()
            else:
                raise ConfigError(f"searcher rl needs --option targets=[...] (cost targets for {metric!r})")
    return options


class _SavedState:
    """The searcher's state and the trial numbers it has been told, in STATE_DIR/<study>.<worker>.json."""

    def __init__(self, directory: Path, study: str, worker: str, kind: str):
        self.path, self.kind = directory / STATE_DIR / f"{study}.{worker}.json", kind

    def load(self, searcher, stored: set[int]) -> set[int]:
        """The trial numbers the restored searcher knows; none (a full replay) for another searcher's or
        another study's state (`kind` names the study's id), for one told of trials the storage does not
        hold, and for a damaged file (it is rewritten after the replay)."""
        if not self.path.exists():
            return set()
        try:
            saved = json.loads(self.path.read_text())
        except ValueError:
            return set()
        if not isinstance(saved, dict) or saved.get("kind") != self.kind or not set(saved.get("told", [])) <= stored:
            return set()
        searcher.restore(saved["searcher"])
        return set(saved["told"])

    def save(self, searcher, told: set[int]) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"kind": self.kind, "searcher": searcher.state(), "told": sorted(told)}))
        tmp.replace(self.path)


def default_objectives(evaluator, objectives: Sequence | None = None) -> tuple:
    """The objectives given, else the evaluator's `default_objectives` (a black-box objective's outputs), else
    accuracy:max, params:min (a trained run's)."""
    if objectives is not None:
        return tuple(objectives)
    return tuple(getattr(evaluator, "default_objectives", DEFAULT_OBJECTIVES))


def run_search(evaluator, directory: str | Path, config: SearchConfig = SearchConfig(), *,
               progress: bool = True) -> SearchResult:
    """Search until the study holds `config.trials` finished trials (see the module docstring)."""
    from searchers.composed import composed
    from searchers.initial_archs import initial_archs
    from searchers.registry import make_searcher

    directory = Path(directory)
    space = evaluator.space
    objectives = [parse_objective(o) for o in default_objectives(evaluator, config.objectives)]
    constraints = [parse_constraint(c) for c in config.constraints]
    if not objectives:
        raise ConfigError("a search needs at least one objective, e.g. accuracy:max")
    config.check()
    check_metrics(objectives, constraints, evaluator.metric_names)
    _check_directory(directory, space)
    _check_budgets(evaluator, constraints)
    reference = _reference(evaluator, objectives, constraints, config.reference)
    options = _searcher_defaults(config.searcher, evaluator, objectives, constraints, config.options)
    initial_archs(space, config.initial_archs)  # refuses an unknown choice before anything is written
    # Built once here only to refuse unknown or ill-typed searcher options before anything is written
    # (the searcher that runs is seeded by the worker name, claimed below).
    make_searcher(config.searcher, space, len(objectives), seed=config.seed, options=options)

    # Everything a user can get wrong is checked above; from here on things are written.
    spec = storage_spec(directory, config)
    if config.storage is None:
        directory.mkdir(parents=True, exist_ok=True)
    storage = open_storage(spec, writer=True)
    record = study_record(space, objectives, constraints, getattr(evaluator, "scoring_record", None),
                          getattr(evaluator, "split", None))
    study = open_study(storage, config.study, record, objectives, spec)
    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if finished:
        print(f"resuming search {directory}: {finished} trials of study {config.study!r} already finished",
              file=sys.stderr)
    if reference is not None:
        study.set_user_attr(REFERENCE_KEY, reference.tolist())
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "config.json").exists() and not (directory / SEARCH_FILE).exists():
        (directory / SEARCH_FILE).write_text(json.dumps({"space": space.name, "space_fingerprint": space.fingerprint(),
                                                         "storage": spec, "study": config.study}, indent=2))

    worker_name, lock = claim_name(directory / STATE_DIR, config.worker)
    try:
        seed = config.seed + zlib.crc32(worker_name.encode()) % 100_000 if worker_name != "main" else config.seed
        searcher = composed(make_searcher(config.searcher, space, len(objectives), seed=seed, options=options),
                            initial=config.initial_archs, seed=seed)
        saved = _SavedState(directory, config.study, worker_name,
                            json.dumps(["composed", config.searcher, config.options, config.initial_archs,
                                        weft_study_id(study)], sort_keys=True, default=str))
        told = saved.load(searcher, {t.number for t in study.get_trials(deepcopy=False,
                                                                        states=(TrialState.COMPLETE,))})
        evaluated = _loop(evaluator, study, searcher, objectives, constraints, reference, config, told, saved, progress)
    finally:
        lock.unlink(missing_ok=True)
    return SearchResult(trial_records(study), objectives, constraints, reference, evaluated,
                        searcher.duplicates, searcher.fallbacks)


def _loop(evaluator, study, searcher, objectives, constraints, reference, config, told, saved, progress) -> int:
    me, evaluated, idle = this_worker(), 0, 0
    cache: dict[str, dict] = {}
    bar = tqdm(total=config.trials, disable=not progress, desc=f"search {config.study}", unit="trial")
    try:
        while True:
            trials = study.get_trials(deepcopy=False)
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            for t in complete:
                cache.setdefault(t.user_attrs["arch"], canonical_metrics(t.user_attrs["metrics"]))
            new = sorted((t for t in complete if t.number not in told), key=lambda t: t.number)
            if new:
                archs = [evaluator.space.from_string(t.user_attrs["arch"]) for t in new]
                metrics = [canonical_metrics(t.user_attrs["metrics"]) for t in new]
                searcher.tell(archs, minimised(objectives, metrics), [t.user_attrs["violation"] for t in new])
                told.update(t.number for t in new)
                saved.save(searcher, told)
            _show(bar, complete, objectives, reference)
            _fail_orphans(study, trials)
            running = [t for t in trials if t.state == TrialState.RUNNING and "arch" in t.user_attrs]
            stale = [t for t in running if is_dead(t.user_attrs.get("worker", ""))]
            alive = len(running) - len(stale)
            room = config.trials - len(complete) - len(running)
            if not stale and room <= 0:
                return evaluated
            claimed = []  # (trial number, arch)
            for t in stale[:config.batch]:
                try:
                    storage_of(study).set_trial_user_attr(trial_id(t), "worker", me)
                except UpdateFinishedTrialError:
                    continue  # another resuming worker of this host took it over and finished it meanwhile
                claimed.append((t.number, evaluator.space.from_string(t.user_attrs["arch"])))
            wanted = min(config.batch - len(claimed), max(room, 0))
            proposed = searcher.ask(wanted) if wanted > 0 else []
            claimed += _claim(study, proposed, me, config.trials)
            if not claimed:
                if alive:
                    return evaluated  # the others are finishing the last trials
                if wanted > 0 and not proposed:
                    print(f"search {config.study}: every arch the searcher proposes has been evaluated; stopping at "
                          f"{len(complete)} trials", file=sys.stderr)
                    return evaluated
                idle += 1
                if idle > _MAX_IDLE_ROUNDS:
                    return evaluated
                time.sleep(1.0)  # a claim was just made and dropped: look again
                continue
            idle = 0
            evaluated += _evaluate(evaluator, study, searcher, claimed, cache, objectives, constraints)
            told.update(number for number, _ in claimed)
            saved.save(searcher, told)
    finally:
        bar.close()


def _fail_orphans(study, trials) -> None:
    """A RUNNING trial still without an arch long after it was created lost its worker between
    creating it and naming its arch (killed in that instant): FAIL, so it holds no slot."""
    for t in trials:
        started = t.datetime_start
        if (t.state == TrialState.RUNNING and "arch" not in t.user_attrs and started is not None
                and (datetime.datetime.now(started.tzinfo) - started).total_seconds() > _ORPHAN_SECONDS):
            try:
                storage_of(study).set_trial_user_attr(trial_id(t), "orphan", True)
                storage_of(study).set_trial_state_values(trial_id(t), TrialState.FAIL)
            except UpdateFinishedTrialError:
                pass


def _claim(study, archs, me: str, target: int) -> list[tuple[int, object]]:
    """One new Optuna trial per arch; one beyond the `target`-th live trial is surplus.

    Trials are numbered in creation order and a live trial (RUNNING or COMPLETE) is
    never dropped unless every later one is dropped too, so keeping a trial iff fewer
    than `target` live trials precede it keeps exactly `target`, however workers race.
    A surplus trial is parked in the WAITING state (not finished, never evaluated);
    trials are created directly, so that `study.ask` never picks a parked one up.
    """
    storage, mine = storage_of(study), []
    for arch in archs:
        # Created with its arch and worker in one write: a kill can never leave a RUNNING trial
        # without an arch, which would hold a live slot (and cost the study a trial) until failed.
        named = create_trial(state=TrialState.RUNNING, user_attrs={"arch": arch.to_string(), "worker": me})
        new_id = storage.create_new_trial(study_id(study), template_trial=named)
        mine.append((storage.get_trial_number_from_id(new_id), new_id, arch))
    live = sorted(t.number for t in study.get_trials(deepcopy=False)
                  if t.state in (TrialState.COMPLETE, TrialState.RUNNING))
    kept = []
    for number, new_id, arch in mine:
        if live.index(number) >= target:
            storage.set_trial_user_attr(new_id, "surplus", True)
            storage.set_trial_state_values(new_id, TrialState.WAITING)
        else:
            kept.append((number, arch))
    return kept


def _evaluate(evaluator, study, searcher, claimed, cache, objectives, constraints) -> int:
    todo = [arch for _, arch in claimed if arch.to_string() not in cache]
    unique = list(dict.fromkeys(todo))
    for arch, metrics in zip(unique, evaluator.evaluate(unique) if unique else []):
        cache[arch.to_string()] = metrics
    metrics = [cache[arch.to_string()] for _, arch in claimed]
    values = minimised(objectives, metrics)
    violations = [violation(constraints, m) for m in metrics]
    for (number, _), m, v in zip(claimed, metrics, violations):
        storage = storage_of(study)
        trial = storage.get_trial_id_from_study_id_trial_number(study_id(study), number)
        try:
            storage.set_trial_user_attr(trial, "metrics", m)
            storage.set_trial_user_attr(trial, "violation", v)
            study.tell(number, [float(m[o.metric]) for o in objectives])
        except (UpdateFinishedTrialError, ValueError):
            if storage.get_trial(trial).state == TrialState.RUNNING:
                raise
            # else: a stale trial another resuming worker finished first; it is recorded once
    searcher.tell([arch for _, arch in claimed], values, violations)
    return len(unique)


def _show(bar, complete, objectives, reference) -> None:
    feasible = [t for t in complete if t.user_attrs.get("violation", 1) <= 0]
    postfix = {}
    if feasible:
        first = objectives[0]
        values = [t.user_attrs["metrics"][first.metric] for t in feasible]
        postfix[f"best {first.metric}"] = f"{(max if first.direction == 'max' else min)(values):.4g}"
        records = [TrialRecord(t.number, "", t.user_attrs["metrics"], 0.0, ()) for t in feasible]
        volume = front_hypervolume(objectives, reference, records)
        if volume is not None:
            postfix["hypervolume"] = f"{volume:.4g}"
    bar.n = len(complete)
    bar.set_postfix(postfix, refresh=True)
