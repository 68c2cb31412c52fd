"""`nas search-differentiable`: a DARTS / GDAS / TangleNAS / Single-Path NAS search into a run directory, resumably.

The run directory is a training run's (config.json, Orbax checkpoints of the
supernet state, metrics.jsonl), so `nas export --run R --arch <derived arch>`
works on it like on any trained run; beside those:

    config.json    also holds the search's own settings under "differentiable"
    checkpoints/   per saved step: the supernet state ("state", what `nas export` reads), alpha and
                   its optimiser state, and both data streams' positions (one atomic Orbax checkpoint)
    metrics.jsonl  every `log_every` steps: losses, accuracies, temperature, expected latency and
                   alpha (the logits per decision): alpha's history
    alpha.json     the latest alpha (`arch_params.save`)
    thresholds.json  single-path instead: the latest thresholds, ring sizes and the arch they choose
                   (`single_path.save`); its checkpoints hold the thresholds where the others hold alpha
    result.json    the derived arch (argmax per decision; single-path: the indicators at the final
                   weights and thresholds), its probabilities, predicted latency, and
                   search_seconds: wall time of all sessions of the run, compiles included

Weights train on the data's training split, alpha on its validation split. A run
stopped at any step and re-run with the same command ends with exactly the alpha
of an uninterrupted run (batches come from the saved positions, GDAS's noise
from (seed, step)).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nas import data as data_lib
from nas.atomic_write import write_json_atomically
from nas.config import check_settings, setting, to_dict
from nas.differentiable import arch_params, single_path
from nas.errors import ConfigError, RunDirError
from nas.json_files import read_json_object
from nas.resumable_run import disk_full_as_error, metric_number, open_run, run_steps
from nas.run_dir import RunDir
from nas.train.config import TrainConfig
from nas.train.divergence import DivergenceGuard
from searchers.differentiable import METHODS as RELAXED_METHODS
from searchers.differentiable import SearchState, gdas_temperature, init_search_state, make_search_step

METHODS = (*RELAXED_METHODS, single_path.METHOD)
# Settings only Single-Path NAS reads: left out of the other methods' run records (runs started before
# single-path existed resume unchanged).
SINGLE_PATH_FIELDS = ("threshold_learning_rate", "warmup_steps", "indicator_dropout")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"unknown differentiable search method {method!r}; allowed: {', '.join(METHODS)}")
    return method


@dataclass(frozen=True)
class DifferentiableConfig:
    """Every knob of `nas search-differentiable`: its options, defaults, help and checks (nas.config.setting)."""

    space: str = setting("nb201", "a shipped space or package.module:attr")
    space_options: dict = setting({}, "the space's options (--option key=value)", hidden=True)
    method: str = setting("tangle", "tangle (superposed entangled weights), darts (one op per choice), gdas (Gumbel, "
                          "hard samples), single-path (a trainable threshold per nested choice decides; needs nested "
                          "decisions)", choices=METHODS)
    steps: int = setting(1000, "search steps (a weight and an alpha step each)", above=0)
    batch_size: int = setting(64, "examples per step", above=0)
    # The weights: SGD with momentum and cosine decay (DARTS's settings).
    learning_rate: float = setting(0.025, "weights: SGD with momentum, cosine decay", above=0, cli=("--lr",))
    momentum: float = setting(0.9, "weights: SGD momentum", minimum=0)
    weight_decay: float = setting(3e-4, "weights: weight decay", minimum=0)
    grad_clip: float | None = setting(5.0, "weights: clip the global gradient norm (0: no clipping)", minimum=0,
                                      from_cli=lambda value: value or None)
    # The architecture: Adam (0.5, 0.999) with weight decay (DARTS).
    alpha_learning_rate: float = setting(3e-4, "architecture: Adam (0.5, 0.999)", above=0, cli=("--alpha-lr",))
    alpha_weight_decay: float = setting(1e-3, "architecture: weight decay", minimum=0)
    alpha_init_scale: float = setting(1e-3, "architecture: std of alpha's random initialisation", minimum=0)
    temperature_start: float = setting(10.0, "gdas: Gumbel-softmax temperature, linear from start to end", above=0)
    temperature_end: float = setting(0.1, "gdas: the temperature at the last step", above=0)
    latency_predictor: str | None = setting(None, "predictor file from `nas latency fit`: penalise expected latency")
    latency_weight: float = setting(1.0, "penalty per ms of expected latency (per ms above the budget, with "
                                    "--latency-budget); single-path: lambda in lambda * log(expected ms)", above=0)
    latency_budget: float | None = setting(None, "ms: a hinge penalty above this expected latency (single-path: "
                                           "lambda * max(log(E / budget), 0))")
    # Single-Path NAS: Adam on the thresholds (small steps: they compare with rings' RMS); steps without
    # the latency term, the thresholds held (None: half the steps); the warm-up's indicator dropout.
    threshold_learning_rate: float = setting(0.01, "single-path: Adam on the thresholds", above=0,
                                             cli=("--threshold-lr",))
    warmup_steps: int | None = setting(None, "single-path: steps without the latency term, thresholds held",
                                       default_help="half of --steps")
    indicator_dropout: float = setting(0.4, "single-path: during the warm-up, the weight step drops each indicator "
                                       "with this probability")
    seed: int = setting(0, "initialisation, batch order, alpha's initialisation and GDAS's noise", minimum=0)
    data: str = setting("fashion-mnist", "fashion-mnist or synthetic", choices=("fashion-mnist", "synthetic"))
    validation_size: int = setting(5000, "fashion-mnist: training images held out for the architecture steps",
                                   above=0)
    limit_train: int | None = setting(None, "use only the first N training images")
    checkpoint_every: int = setting(100, "steps between checkpoints", above=0)
    log_every: int = setting(10, "steps between metrics lines", above=0)

    def check(self) -> None:
        check_method(self.method)
        check_settings(self, "differentiable search")
        if self.latency_budget is not None and not self.latency_budget > 0:
            raise ConfigError(f"differentiable search: latency budget must be > 0 ms, got {self.latency_budget}")
        if self.latency_budget is not None and self.latency_predictor is None:
            raise ConfigError("differentiable search: a latency budget needs a latency predictor (--latency-predictor)")
        if self.method == single_path.METHOD:
            self._check_single_path()
        self.train_config().check()

    def _check_single_path(self) -> None:
        if not 0.0 <= self.indicator_dropout < 1.0:
            raise ConfigError(f"differentiable search: indicator_dropout must be in [0, 1), got {self.indicator_dropout}")
        if self.warmup_steps is not None and (type(self.warmup_steps) is not int or self.warmup_steps < 0):
            raise ConfigError(f"differentiable search: warmup_steps must be an int >= 0, got {self.warmup_steps!r}")
        if self.warmup() >= self.steps:  # the thresholds are held through the warm-up: the result would be its start
            raise ConfigError(f"differentiable search: warmup_steps {self.warmup()} leaves none of the {self.steps} "
                              "steps to train the thresholds (and the latency term); allowed: fewer than --steps")

    def warmup(self) -> int:
        """Single-path's warm-up in steps: `warmup_steps`, by default half the steps."""
        return self.steps // 2 if self.warmup_steps is None else self.warmup_steps

    def train_config(self) -> TrainConfig:
        """The weights' side as a training config: what `nas export` rebuilds the run from."""
        return TrainConfig(space=self.space, space_options=dict(self.space_options), steps=self.steps,
                           batch_size=self.batch_size, sampling="uniform", optimizer="sgd",
                           learning_rate=self.learning_rate, momentum=self.momentum,
                           weight_decay=self.weight_decay, warmup_steps=0, label_smoothing=0.0,
                           distillation="none", grad_clip=self.grad_clip, freeze_unused=False, seed=self.seed,
                           data=self.data, validation_size=self.validation_size, limit_train=self.limit_train,
                           checkpoint_every=self.checkpoint_every, log_every=self.log_every)


# Changing these on a resumed run would change what alpha learns; steps may grow, as in `nas train`.
_MAY_CHANGE = ("steps", "checkpoint_every", "log_every")


def _search_record(config: DifferentiableConfig) -> dict:
    record = {k: v for k, v in to_dict(config).items() if k not in _MAY_CHANGE}
    if config.method != single_path.METHOD:
        record = {k: v for k, v in record.items() if k not in SINGLE_PATH_FIELDS}
    return record


@dataclass
class SearchSetup:
    """What a search run is built from, before any step: nothing here has touched the run directory."""
    session: Any                    # nas.train.loop.Session: data, space, supernet
    penalty: Any                    # LatencyPenalty or None
    weight_optimizer: Any
    alpha_optimizer: Any
    state: SearchState              # the initial state (weights from the seed, alpha near uniform; single-path:
                                    # the thresholds in alpha's place)
    step: Any                       # the jitted search step (`make_search_step`, `make_single_path_step`)
    rings: Any = None               # single-path: `single_path.Rings`, the weights each larger choice adds
    rings_seconds: float = 0.0      # single-path: time spent finding them (0 when this process had them)


def setup(config: DifferentiableConfig) -> SearchSetup:
    """Data, supernet, latency penalty, optimisers, initial state and step of a search (checks the config)."""
    from nas.differentiable.latency_penalty import load_latency_penalty
    from nas.train.loop import build_session
    from nas.train.optim import make_optimizer

    config.check()
    train_config = config.train_config()
    session = build_session(train_config)
    penalty = (load_latency_penalty(session, config.latency_predictor, config.latency_weight, config.latency_budget)
               if config.latency_predictor else None)
    weight_optimizer = make_optimizer(train_config)
    if config.method == single_path.METHOD:
        return _setup_single_path(config, session, penalty, weight_optimizer)
    alpha_optimizer = arch_params.make_optimizer(config.alpha_learning_rate, weight_decay=config.alpha_weight_decay)
    alpha = arch_params.init(session.space, jax.random.key(config.seed), config.alpha_init_scale)
    state = init_search_state(session.params, session.stats, alpha, weight_optimizer, alpha_optimizer)
    step = make_search_step(session.graphdef, session.space, config.method, weight_optimizer, alpha_optimizer,
                            penalty=penalty)
    return SearchSetup(session, penalty, weight_optimizer, alpha_optimizer, state, step)


def _setup_single_path(config: DifferentiableConfig, session, penalty, weight_optimizer) -> SearchSetup:
    """Rings (a ConfigError naming a decision that is not nested), thresholds at 0, the log-latency penalty."""
    started = time.perf_counter()
    rings = single_path.nested_rings(session.graphdef, session.params, session.stats, session.space)
    rings_seconds = time.perf_counter() - started
    if penalty is not None:
        penalty = single_path.LogLatencyPenalty(penalty.predictor, session.space, penalty.weight, penalty.budget_ms)
    threshold_optimizer = single_path.make_threshold_optimizer(config.threshold_learning_rate)
    state = init_search_state(session.params, session.stats, single_path.init_thresholds(rings), weight_optimizer,
                              threshold_optimizer)
    step = single_path.make_single_path_step(session.graphdef, session.space, rings, weight_optimizer,
                                             threshold_optimizer, penalty=penalty, warmup_steps=config.warmup(),
                                             indicator_dropout=config.indicator_dropout)
    return SearchSetup(session, penalty, weight_optimizer, threshold_optimizer, state, step, rings, rings_seconds)


def search(config: DifferentiableConfig, run_path: str | Path, *, progress: bool = True,
           stop_at: int | None = None) -> dict | None:
    """Run (or resume) the search; the result (derived arch, ...), or None when `stop_at` stopped it early.

    A step whose loss, gradients or update (weights or alpha) hold NaN or inf stops the search with
    `TrainingDiverged`, one line naming the step; the last checkpoint stays as it was. A full disk ends it
    with `DiskFull` naming the checkpoints on disk, which stay usable.
    """
    with disk_full_as_error(run_path):
        return _search(config, run_path, progress=progress, stop_at=stop_at)


def _search(config: DifferentiableConfig, run_path: str | Path, *, progress: bool, stop_at: int | None) -> dict | None:
    from nas.train.loop import check_resumed_data, enable_compilation_cache, run_record

    config.check()
    enable_compilation_cache()
    built = setup(config)
    session, space = built.session, built.session.space
    streams = (data_lib.BatchStream(session.dataset.train, config.batch_size, seed=config.seed),
               data_lib.BatchStream(session.dataset.validation, config.batch_size, seed=config.seed + 1))
    record = {**run_record(session), "differentiable": _search_record(config)}

    def same_search_settings(run: RunDir) -> None:
        check_resumed_data(run, record, config.data)  # the weights and alphas were fitted to that data
        saved, mine = run.read_config().get("differentiable"), record["differentiable"]
        if saved != mine:
            saved = saved if isinstance(saved, dict) else {}
            changed = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
            raise RunDirError(f"run directory {run.path} was started with other differentiable search settings ("
                              + ", ".join(f"{k}={saved.get(k)!r} there, {mine.get(k)!r} here" for k in changed)
                              + "); resume with the same settings or choose another --run")

    opened = open_run(run_path, record, ("space_options", "seed", "data"), _checkpoint_trees(built.state),
                      check_resumed=same_search_settings)
    # Search seconds of earlier sessions of this run; a single-path session also counts finding its rings.
    state, seconds_before = built.state, built.rings_seconds
    if opened.trees is not None:
        state = jax.tree.map(jnp.asarray, _state_from_trees(opened.trees))
        streams[0].restore(opened.metadata["train_position"])
        streams[1].restore(opened.metadata["validation_position"])
        seconds_before = float(opened.metadata.get("search_seconds", 0.0)) + built.rings_seconds
    guard = SearchDivergenceGuard(config, opened.checkpointer.latest_step)
    job = SearchJob(config, space, built.step, built.penalty is not None, streams, guard, state, seconds_before,
                    built.rings)
    end = min(config.steps, stop_at or config.steps)
    completed = run_steps(opened, job, guard, total=config.steps, end=end, log_every=config.log_every,
                          checkpoint_every=config.checkpoint_every, progress=progress,
                          description=f"{config.method} {space.name}",
                          postfix=lambda line: {"loss": f"{line['validation_loss']:.3f}"},
                          after_save=lambda step: job.save_architecture(opened.run.path))
    if completed < config.steps:
        return None
    result_file = opened.run.path / "result.json"
    if opened.start == config.steps and result_file.exists():  # re-running a finished search
        try:
            return read_json_object(result_file, "the search's result")
        except RunDirError as damaged:
            print(f"warning: {damaged}; made again from the final checkpoint", file=sys.stderr)
    if built.rings is not None:
        result = single_path_result(config, space, built.rings, job.state, built.penalty, job.searched_seconds())
    else:
        result = derived_result(config, space, job.state.alpha, built.penalty, job.searched_seconds())
    write_json_atomically(result_file, result, indent=2)
    return result


class SearchJob:
    """A differentiable search's steps for the engine (`nas.resumable_run`): a weight step on a training batch
    and an alpha step (single-path: a threshold step) on a validation batch."""

    def __init__(self, config: DifferentiableConfig, space, step_fn, has_penalty: bool, streams: tuple,
                 guard: "SearchDivergenceGuard", state: SearchState, seconds_before: float, rings=None):
        self.config, self.space, self.step_fn, self.has_penalty = config, space, step_fn, has_penalty
        self.rings = rings
        self.ring_rms = None  # single-path: the rings' sizes after the latest step (what the thresholds meet)
        self.streams, self.guard, self.state, self.seconds_before = streams, guard, state, seconds_before
        # Where both data streams stood when `state` was made: they change together, so an interrupt at
        # any point saves a consistent triple.
        self.positions = _positions(*streams)
        self.base_key = jax.random.key(config.seed)
        self.started = time.perf_counter()

    def searched_seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def advance(self, step: int) -> dict:
        config = self.config
        temperature = gdas_temperature(step, config.steps, config.temperature_start, config.temperature_end)
        # The step's last argument: GDAS's temperature, or single-path's step number (its warm-up).
        schedule = np.int32(step) if self.rings is not None else np.float32(temperature)
        (train_images, train_labels), (val_images, val_labels) = (stream.next() for stream in self.streams)
        self.state, metrics = self.step_fn(self.state, train_images, train_labels, val_images, val_labels,
                                           jax.random.fold_in(self.base_key, step), schedule)
        self.guard.watch(step + 1, metrics, _NO_ARCHS, "search")
        self.positions = _positions(*self.streams)
        if self.rings is not None:
            self.ring_rms = metrics["ring_rms"]
        return {**metrics, "temperature": temperature}

    def log_record(self, completed: int, metrics: dict) -> dict:
        if self.rings is not None:
            return _single_path_line(completed, metrics, self.space, self.state.alpha, self.has_penalty)
        return _metrics_line(completed, metrics, self.state.alpha, self.config, metrics["temperature"],
                             self.has_penalty)

    def save_architecture(self, run_path: Path) -> None:
        """alpha.json, or single-path's thresholds.json (beside each checkpoint)."""
        if self.rings is None:
            arch_params.save(run_path / "alpha.json", self.space, self.state.alpha)
            return
        rms = self.ring_rms if self.ring_rms is not None else self.rings.rms(self.state.weights.params)
        single_path.save(run_path / "thresholds.json", self.space, self.state.alpha, rms)

    def snapshot(self) -> tuple[dict, dict]:
        return _checkpoint_trees(self.state), {
            "train_position": self.positions[0], "validation_position": self.positions[1],
            "space_fingerprint": self.space.fingerprint(), "search_seconds": self.searched_seconds()}


_NO_ARCHS = np.zeros((0, 0), np.int32)  # a search step trains no sampled subnet: the guard names its halves


class SearchDivergenceGuard(DivergenceGuard):
    """`nas train`'s guard (judges a step once the next is queued, and before any save or log line), stop only,
    for a search step's two halves: `metrics["finite"]` is [weight step, alpha step]."""

    HALVES = ("weight step (training batch)", "alpha step (validation batch)")

    def __init__(self, config: DifferentiableConfig, last_checkpoint):
        if config.method == single_path.METHOD:
            self.HALVES = ("weight step (training batch)", "threshold step (validation batch)")
        clip = (f"a tighter --grad-clip (now {config.grad_clip:g})" if config.grad_clip is not None
                else "gradient clipping (--grad-clip 1.0)")
        architecture = (f"--threshold-lr (now {config.threshold_learning_rate:g})" if config.method == single_path.METHOD
                        else f"--alpha-lr (now {config.alpha_learning_rate:g})")
        advice = f"try a lower --lr (now {config.learning_rate:g}) or {architecture}, or {clip}, in a new --run"
        super().__init__("stop", None, lambda phase: (None, None), advice, last_checkpoint)

    def message(self, held, finite: np.ndarray) -> str:
        if finite.all():
            what = "the update made the weights, their optimiser state or alpha NaN or inf (both halves' losses " \
                   "and gradients were finite)"
        else:
            what = f"the loss or gradients of its {' and '.join(h for h, ok in zip(self.HALVES, finite) if not ok)} " \
                   "are NaN or inf"
        checkpoint = self.last_checkpoint()
        kept = f"the last checkpoint (step {checkpoint}) is kept" if checkpoint is not None else \
            "no checkpoint was written before it"
        return f"differentiable search diverged at step {held.number}: {what}; {kept}; {self.advice}"


def _checkpoint_trees(state) -> dict:
    # "state" is a TrainState, what `nas export` (nas.train.loop.restore_trained) reads.
    return {"state": state.weights, "alpha": state.alpha, "alpha_optimizer": state.alpha_opt_state}


def _positions(*streams) -> tuple[dict, ...]:
    return tuple(stream.position() for stream in streams)


def _state_from_trees(trees: dict) -> SearchState:
    return SearchState(trees["state"], trees["alpha"], trees["alpha_optimizer"])


def _rounded(arrays: dict) -> dict:
    return {name: [round(float(v), 6) for v in np.asarray(values)] for name, values in arrays.items()}


def _common_line(step: int, metrics: dict, has_penalty: bool) -> dict:
    line = {"step": step, **{k: metric_number(metrics[k]) for k in (
        "train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "weight_grad_norm")}}
    if has_penalty:
        line["expected_latency_ms"] = metric_number(metrics["expected_cost"])
        line["latency_penalty"] = metric_number(metrics["penalty"])
    return line


def _metrics_line(step: int, metrics: dict, alpha: dict, config: DifferentiableConfig, temperature: float,
                  has_penalty: bool) -> dict:
    line = _common_line(step, metrics, has_penalty)
    if config.method == "gdas":
        line["temperature"] = temperature
    return {**line, "alpha": _rounded(alpha)}


def _single_path_line(step: int, metrics: dict, space, thresholds: dict, has_penalty: bool) -> dict:
    rms = jax.device_get(metrics["ring_rms"])
    return {**_common_line(step, metrics, has_penalty),
            "arch": single_path.derived_arch(space, rms, thresholds).to_string(),
            "thresholds": _rounded(thresholds), "ring_rms": _rounded(rms)}


def single_path_result(config: DifferentiableConfig, space, rings, state: SearchState, penalty,
                       seconds: float) -> dict:
    """The arch the indicators choose at the final weights and thresholds, and what the search knew about it."""
    rms = jax.device_get(jax.jit(rings.rms)(state.weights.params))
    thresholds = jax.device_get(state.alpha)
    vector = single_path.derived_vector(space, rms, thresholds)
    arch = space.from_vector(vector)
    result = {"space": space.name, "method": config.method, "steps": config.steps, "arch": arch.to_dict(),
              "arch_string": arch.to_string(), "thresholds": _rounded(thresholds), "ring_rms": _rounded(rms),
              "warmup_steps": config.warmup(), "search_seconds": round(seconds, 2)}
    if penalty is not None:
        probs = single_path.choice_probabilities(space, single_path.indicators(rms, thresholds))
        result["predicted_latency_ms"] = float(np.asarray(penalty.predictor(jnp.asarray(vector[None])))[0])
        result["expected_latency_ms"] = float(penalty.expected_ms(probs))
        result["latency_budget_ms"] = config.latency_budget
    return result


def derived_result(config: DifferentiableConfig, space, alpha: dict, penalty, seconds: float) -> dict:
    """The discrete arch (argmax per decision) and what the search knew about it."""
    arch = arch_params.argmax_arch(space, alpha)
    probabilities = _rounded(arch_params.probabilities(alpha))
    result = {"space": space.name, "method": config.method, "steps": config.steps, "arch": arch.to_dict(),
              "arch_string": arch.to_string(), "probabilities": probabilities, "search_seconds": round(seconds, 2)}
    if penalty is not None:
        vector = jnp.asarray(arch.to_vector()[None])
        result["predicted_latency_ms"] = float(np.asarray(penalty.predictor(vector))[0])
        result["expected_latency_ms"] = float(penalty.expected_ms(arch_params.probabilities(alpha)))
        result["latency_budget_ms"] = config.latency_budget
    return result


__all__ = ["DifferentiableConfig", "METHODS", "SearchSetup", "setup", "search", "derived_result", "single_path_result"]
