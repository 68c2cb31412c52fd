"""`nas train`: train a supernet into a run directory, resumably, with a progress bar."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import jax

from nas import data as data_lib
from nas.atomic_write import write_json_atomically
from nas.checkpoint import Checkpointer
from nas.config import to_dict
from nas.definition import get_definition
from nas.errors import CheckpointError, ConfigError, RunDirError
from nas.data import load_dataset
from nas.data_identity import check_same_data, split_fingerprints
from nas.evaluate import evaluate_endpoints
from nas.compile_memory import release_memory_after_compiles
from nas.lowering import sort_channels, split
from nas.resumable_run import disk_full_as_error, metric_number, open_run, run_steps
from nas.run_dir import RunDir
from nas.space import Space
from nas.train.attentive_sampling import AttentiveSampling, LossAwareSampling, make_candidate_losses
from nas.train.cost_sampling import CostStratifiedSampling
from nas.train.own_endpoints import OwnEndpoints
from nas.train.config import COST_SAMPLINGS, DATA_INPUTS, RESUME_INVARIANT, TrainConfig, saved_settings
from nas.train.distributed import barrier, is_primary
from nas.train.divergence import DivergenceGuard
from nas.train.optim import make_optimizer, make_schedule
from nas.train.output_check import check_outputs_match
from nas.train.parallel import check_divisible, data_mesh, replicate, shard_batch
from nas.train.fair_sampling import FairSampling
from nas.train.sampling import SamplingPolicy, SandwichSampling, StandaloneSampling, UniformSampling
from nas.train.shrinking import delayed_shrinking, progressive_shrinking
from nas.train.sorted_sampling import SortedSampling
from nas.train.step import StepOptions, TrainState, init_train_state, make_train_step, static_arch_usage
from supernets.protocol import SortsChannels
from supernets.wrap import wrap_supernet


def enable_compilation_cache(directory: str | Path | None = None) -> Path:
    """Persist XLA executables so a second run (or a resume) starts in seconds."""
    directory = Path(directory or os.environ.get("WEFT_JAX_CACHE", Path.home() / ".cache" / "weft" / "jax"))
    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


def check_inputs_match(definition, config: TrainConfig) -> None:
    """One clear line when the space reads images and the data holds text, or the other way round."""
    holds = DATA_INPUTS[config.data]
    if definition.inputs != holds:
        fitting = " or ".join(name for name, kind in DATA_INPUTS.items() if kind == definition.inputs)
        raise ConfigError(f"space {definition.name!r} reads {_DESCRIBED[definition.inputs]}, but data "
                          f"{config.data!r} holds {_DESCRIBED[holds]}; use --data {fitting}")


_DESCRIBED = {"images": "images", "tokens": "byte sequences (tokens)"}


def step_options(config: TrainConfig, session: "Session") -> StepOptions:
    execution = config.execution
    if execution == "switch" and not get_definition(config.space).switch_execution:
        raise ConfigError(f"space {session.space.name!r} has no switch execution; use --execution masked")
    return StepOptions(label_smoothing=config.label_smoothing,
                       distillation=None if config.distillation == "none" else config.distillation,
                       alpha_min=config.alpha_min, alpha_max=config.alpha_max, ratio_clip=config.ratio_clip,
                       execution=execution)


def make_sampling(config: TrainConfig, space: Space, cost=None) -> SamplingPolicy:
    """The config's sampling policy (checked against the space: a clear error, before any compile).

    `cost` (int32 arch vectors -> multiply-adds) is what `cost-stratified` spreads its subnets over.
    """
    if config.sampling == "sandwich":
        return SandwichSampling(config.num_random, smallest=config.sandwich_smallest)
    if config.sampling in COST_SAMPLINGS:
        if cost is None:
            raise ConfigError(f"sampling {config.sampling!r} needs the cost of archs of space {space.name!r} "
                              "(its cost model); use sampling 'sandwich'")
        if config.sampling == "cost-stratified":
            return CostStratifiedSampling(config.num_random, cost, smallest=config.sandwich_smallest)
        return AttentiveSampling(config.num_random, cost, pick=config.sampling.removeprefix("attentive-"),
                                 smallest=config.sandwich_smallest)
    if config.sampling == "sorted":
        policy = SortedSampling(config.num_archs, config.sorted_grid())
    elif config.sampling == "progressive":
        policy = progressive_shrinking(space, config.steps, config.num_random)
    elif config.sampling == "delayed":
        policy = delayed_shrinking(config.steps, config.delay, config.num_random, config.ramp_steps)
    elif config.sampling == "fair":
        policy = FairSampling()
    elif config.sampling == "standalone":
        policy = StandaloneSampling(config.arch)
    else:
        policy = UniformSampling(config.num_archs)
    policy.archs(space, config.seed, 0)  # raises ConfigError if the space does not fit the policy
    for start in (0, *policy.phase_starts()):
        policy.static_archs(space, policy.phase(start))  # a fixed arch outside the space: SpaceError
    return policy


def arch_cost(session: "Session"):
    """Multiply-adds of int32 arch vectors under the session's options and inputs; None without a cost model."""
    import numpy as np

    from nas.hardware.cost_model import CostModelError, resolve_cost_model
    from nas.hardware.counters import CostCounter

    try:
        counter = CostCounter(session.space, resolve_cost_model(get_definition(session.config.space),
                                                                session.options, session.dataset.input_shape))
    except CostModelError:
        return None
    return lambda vectors: np.asarray(counter.macs(vectors), float)


@dataclass
class Session:
    """Everything built from a run's config: space, supernet pieces, data."""
    config: TrainConfig
    dataset: data_lib.Dataset
    space: Space
    supernet: object
    graphdef: object
    params: object
    stats: object
    options: dict


def build_session(config: TrainConfig) -> Session:
    config.check()  # a config built in Python rather than through nas.config.from_dict
    definition = get_definition(config.space)
    check_inputs_match(definition, config)
    # A tokens space's `context` option is the length its data is cut to (nas.definition).
    context = definition.resolve_options(config.space_options)["context"] if definition.inputs == "tokens" else None
    dataset = load_dataset(config, context)
    options = definition.resolve_options(config.space_options, dataset.input_shape)
    space, supernet = definition.build(options, seed=config.seed)
    supernet = wrap_supernet(config.supernet, space, supernet, experts=config.experts,
                             split_decision=config.split_decision, router_hidden=config.router_hidden,
                             balance_weight=config.balance_weight, seed=config.seed)
    graphdef, params, stats = split(supernet)
    check_outputs_match(space, graphdef, params, stats, dataset, options, config.data)
    return Session(config, dataset, space, supernet, graphdef, params, stats, options)


def run_record(session: Session) -> dict:
    return {"space": session.space.name, "space_version": session.space.version,
            "space_fingerprint": session.space.fingerprint(), "space_options": _jsonable(session.options),
            "config": json.loads(json.dumps(to_dict(session.config))), "input_shape": list(session.dataset.input_shape),
            "num_classes": session.dataset.num_classes, "data_fingerprints": split_fingerprints(session.dataset)}


def check_resumed_data(run: RunDir, record: dict, data: str) -> None:
    """A run resumes on the data it was trained on: the same input shape (recorded by every run) and, where the
    run recorded them, the same split hashes. Checked before its checkpoint is read, which would fail on
    other shapes with a message about the checkpoint."""
    saved = run.read_config()
    shape = saved.get("input_shape", saved.get("image_shape"))
    if isinstance(shape, list) and shape != record["input_shape"]:
        raise RunDirError(f"{run.path} was trained on inputs of shape {tuple(shape)}, and data {data!r} gives "
                          f"{tuple(record['input_shape'])} now; point the data back at the copy it was trained on, "
                          "or choose another --run")
    check_same_data(saved.get("data_fingerprints"), record["data_fingerprints"], data, str(run.path),
                    "choose another --run (resuming would mix two datasets)")


def _jsonable(options: dict) -> dict:
    return json.loads(json.dumps(options, default=list))


def train(config: TrainConfig, run_path: str | Path, *, progress: bool = True,
          stop_at: int | None = None) -> dict | None:
    """Train (or resume) the run; returns the final summary (accuracy of largest/smallest).

    A full disk ends it with `DiskFull` naming the checkpoints on disk, which stay usable.

    `stop_at` checkpoints and returns None after that many steps, as an
    interrupted run would (time-boxed sessions, tests of resumption).
    In a multi-process run (`nas.train.distributed`) every process trains and
    checkpoints; process 0 alone writes the other files, evaluates and returns
    the summary, the others return None.
    """
    with disk_full_as_error(run_path):
        return _train(config, run_path, progress=progress, stop_at=stop_at)


def _train(config: TrainConfig, run_path: str | Path, *, progress: bool, stop_at: int | None) -> dict | None:
    enable_compilation_cache()
    release_memory_after_compiles()
    session = build_session(config)
    # Every check that can refuse the config runs before the run directory is written.
    sampling = make_sampling(config, session.space, arch_cost(session) if config.sampling in COST_SAMPLINGS
                             else None)
    candidate_losses = make_candidate_losses(session.graphdef, session.space) if isinstance(
        sampling, LossAwareSampling) else None
    if config.own_endpoints:
        sampling = OwnEndpoints.around(sampling, session.space, session.supernet.endpoints())
    options = step_options(config, session)
    mesh = data_mesh(config.devices)
    check_divisible(config.batch_size, mesh)
    if config.resort and not isinstance(session.supernet, SortsChannels):
        raise ConfigError(f"space {session.space.name!r}: its supernet has no sort_channels(), so --resort "
                          "is not available")
    new_run = not RunDir(Path(run_path)).config_file.exists()  # runs trained before these checks still resume
    if new_run:
        config.check_new_run()
    if new_run and config.resort and len(sampling.phase_starts()) < 2:  # it re-sorts where a later phase begins
        raise ConfigError(f"--resort re-sorts channels at each new phase, and sampling {config.sampling!r} has one "
                          "phase, so it would never re-sort; allowed: a phased sampling (progressive, delayed)")
    stream = data_lib.BatchStream(session.dataset.train, config.batch_size, seed=config.seed)
    record = run_record(session)
    schedule = make_schedule(config, sampling.phase_starts())
    optimizer = make_optimizer(config, schedule)
    state = init_train_state(session.params, session.stats, optimizer)
    primary = is_primary()
    opened = open_run(run_path, record, RESUME_INVARIANT, {"state": state},
                      defaults=json.loads(json.dumps(to_dict(TrainConfig()))), legacy=saved_settings,
                      check_resumed=lambda run: check_resumed_data(run, record, config.data),
                      before_writing=lambda: barrier("run directory checked"),  # no process may see another's
                      primary=primary)                                            # first writes as resumable
    if opened.trees is not None:
        state = jax.tree.map(jax.numpy.asarray, opened.trees["state"])
        stream.restore(opened.metadata["data_position"])
    guard = DivergenceGuard(config.on_nonfinite, session.space,
                            lambda phase: sampling.static_archs(session.space, phase),
                            divergence_advice(config), opened.checkpointer.latest_step,
                            int(opened.metadata.get("skipped_steps", 0)))
    if mesh.size > 1:
        state = replicate(state, mesh)
    job = TrainJob(session, sampling, candidate_losses, optimizer, schedule, mesh, stream, guard, options, state)
    end = min(config.steps, stop_at or config.steps)
    completed = run_steps(opened, job, guard, total=config.steps, end=end, log_every=config.log_every,
                          checkpoint_every=config.checkpoint_every, progress=progress, primary=primary,
                          description=f"train {session.space.name}",
                          postfix=lambda line: {"loss": f"{line['loss']:.3f}" if line["loss"] is not None else "nan",
                                                "lr": f"{line['learning_rate']:.3g}"})
    if completed < config.steps or not primary:
        return None
    params, stats = job.state.params, job.state.stats
    if jax.process_count() > 1:  # evaluated here alone, on this process's copy of the replicated state
        params, stats = jax.device_get((params, stats))
    summary = evaluate_endpoints(session, params, stats, progress=progress)
    summary["steps"] = config.steps
    summary["skipped_steps"] = guard.skipped
    write_json_atomically(opened.run.summary_file, summary, indent=2)  # read by other processes (claims)
    return summary


class TrainJob:
    """`nas train`'s steps for the engine (`nas.resumable_run`): sample archs, run the phase's compiled step."""

    def __init__(self, session: "Session", sampling: SamplingPolicy, candidate_losses, optimizer, schedule, mesh,
                 stream: data_lib.BatchStream, guard: DivergenceGuard, options: StepOptions, state: TrainState):
        self.session, self.sampling, self.candidate_losses = session, sampling, candidate_losses
        self.optimizer, self.schedule, self.mesh, self.stream, self.guard = optimizer, schedule, mesh, stream, guard
        self.options, self.state = options, state
        self.position = stream.position()  # where the stream stood when `state` was made: they change together
        self.resort_steps = set(sampling.phase_starts()[1:])
        self.step_functions = {}  # one compiled step per phase of the sampling policy
        self.window_start, self.window_steps = time.perf_counter(), 0

    def step_for(self, phase: str):
        if phase not in self.step_functions:
            config, session = self.session.config, self.session
            static_first, static_last = self.sampling.static_archs(session.space, phase)
            static = [arch for arch in (static_first, static_last) if arch is not None]
            usage = static_arch_usage(session.graphdef, session.params, session.stats, static) if (
                config.freeze_unused and static) else None
            self.step_functions[phase] = make_train_step(
                session.graphdef, session.space, self.optimizer, static_first=static_first, static_last=static_last,
                options=self.options, input_shape=session.dataset.input_shape, static_usage=usage,
                disk_cache_key={"config": to_dict(config), "space": session.space.fingerprint(), "phase": phase})
        return self.step_functions[phase]

    def advance(self, step: int) -> dict:
        config, space, state = self.session.config, self.session.space, self.state
        if config.resort and step in self.resort_steps:
            state = resort_state(state, self.session, self.optimizer, self.mesh)
        images, labels = self.stream.next()
        if self.mesh.size > 1:
            images, labels = shard_batch((images, labels), self.mesh)
        if self.candidate_losses is not None:  # AttentiveNAS: the choice reads the current weights
            candidates = self.sampling.candidate_archs(space, config.seed, step)
            archs = self.sampling.choose(candidates, self.candidate_losses(
                state.params, state.stats, images, labels, candidates.reshape(-1, candidates.shape[-1])))
        else:
            archs = self.sampling.archs(space, config.seed, step)
        phase = self.sampling.phase(step)
        new_state, metrics = self.step_for(phase)(state, images, labels, archs, self.sampling.student_weight(step))
        self.guard.watch(step + 1, metrics, archs, phase)
        self.state, self.position = new_state, self.stream.position()
        self.window_steps += 1
        return {**metrics, "phase": phase, "step_index": step}

    def log_record(self, completed: int, metrics: dict) -> dict:
        elapsed = time.perf_counter() - self.window_start
        record = {"step": completed, "phase": metrics["phase"], "loss": metric_number(metrics["loss"]),
                  "losses": [metric_number(v) for v in metrics["losses"]],
                  "train_accuracies": [metric_number(v) for v in metrics["accuracies"]],
                  "learning_rate": float(self.schedule(metrics["step_index"])),
                  "steps_per_second": self.window_steps / elapsed, "skipped_steps": self.guard.skipped}
        self.window_start, self.window_steps = time.perf_counter(), 0
        return record

    def snapshot(self) -> tuple[dict, dict]:
        return {"state": self.state}, {"data_position": self.position,
                                       "space_fingerprint": self.session.space.fingerprint(),
                                       "skipped_steps": self.guard.skipped}


def divergence_advice(config: TrainConfig) -> str:
    """What to change when a run diverges, given what it ran with."""
    clip = (f"a tighter --grad-clip (now {config.grad_clip:g})" if config.grad_clip is not None
            else "gradient clipping (--grad-clip 1.0)")
    # Learning rate, clipping and warm-up are resume-invariant, so they can only change in a new run;
    # --on-nonfinite is not, so the same run can resume with it.
    return (f"try a lower --lr (now {config.learning_rate:g}), {clip} or more --warmup-steps in a new --run, "
            "or resume this one with --on-nonfinite skip to drop such steps")


def resort_state(state: TrainState, session: "Session", optimizer, mesh) -> TrainState:
    """Re-sort channels by importance (OFA, between phases) and restart the optimizer state.

    Momentum is per entry, so it would point the wrong way after the permutation;
    OFA starts each phase with a fresh optimizer too.
    """
    params, stats = sort_channels(session.graphdef, state.params, state.stats)
    new_state = TrainState(params, stats, optimizer.init(params), state.step)
    return replicate(new_state, mesh) if mesh.size > 1 else new_state


def trained_config(run: RunDir, record: dict | None = None) -> TrainConfig:
    """The settings a run was trained with, as its config.json holds them (older runs' gaps filled in);
    `record` is that file's content where the caller has read it already."""
    from nas.config import from_dict

    record = run.read_config() if record is None else record
    return from_dict(TrainConfig, saved_settings(record["config"]), f"{run.config_file}")


def restore_trained(run: RunDir, step: int | None = None, *, check_data: bool = True) -> tuple[Session, TrainState]:
    """Rebuild a run's session and load its checkpoint at `step` (default: the latest), for export and
    evaluation. `check_data`: refuse data other than the run was trained on (its searches and scores would be
    of other examples); off where only the weights are wanted (a frozen base that adapters train on new data)."""
    release_memory_after_compiles()
    record = run.read_config()
    config = trained_config(run, record)
    session = build_session(config)
    if session.space.fingerprint() != record["space_fingerprint"]:
        raise RunDirError(f"{run.path} was trained on another version of space {record['space']!r} "
                          f"(fingerprint {record['space_fingerprint']}, now {session.space.fingerprint()})")
    if check_data and "data_fingerprints" in record:
        check_same_data(record["data_fingerprints"], split_fingerprints(session.dataset), config.data,
                        str(run.path), "train another run on this data")
    optimizer = make_optimizer(config)
    template = init_train_state(session.params, session.stats, optimizer)
    if not run.checkpoints.is_dir():  # Orbax would create it
        raise CheckpointError(f"no checkpoint in {run.checkpoints}; train the run first (nas train --run {run.path})")
    checkpointer = Checkpointer(run.checkpoints)
    trees, _ = checkpointer.restore({"state": template}, step)
    checkpointer.close()
    return session, jax.tree.map(jax.numpy.asarray, trees["state"])
