"""TangleNAS superposition vs DARTS mixed ops vs GDAS vs Single-Path NAS: search cost, the derived archs'
stand-alone accuracy, the DARTS collapse to skip connections, and a latency budget (issues 8 and 26).

    nas experiment differentiable_search --run runs/differentiable \\
        --option latency_predictor=RUNS/latency/fit/lut.json [--option seeds=[0,1,2]] [--option spaces=[\\"nb201\\"]]

For each space in `spaces`, method in `methods` and seed in `seeds`: a differentiable search
(`nas.differentiable.search_run`, resumable) in RUN/<space>/<method>-seed<k>/, then its derived arch
(argmax of alpha; single-path: its indicators at the end) trained alone from scratch (`sampling standalone`, the Budget's data and schedule) in
RUN/<space>/standalone/<arch hash>-seed<k>/ and scored on the test split. Per space and method also the
compiled search step, measured once (RUN/<space>/<method>-step.json): its memory as XLA plans it
(`memory_analysis()`: temp + argument + output, as experiments/bench/differentiable.py) and its median
time without compiles. The search's wall time is result.json's (every session, compiles included: the
first seed of a method pays the compile unless the persistent cache holds it). In spaces with op types
(the NB201 cell), the derived cell's parameter-free edges (none, skip_connect, avg_pool_3x3) and
skip_connect alone: the DARTS collapse; other spaces report null. Single-path needs nested decisions: in a
space with op types (NB201) it is reported as not applicable, with the reason, and not searched.

With `latency_predictor` (a `nas latency fit` file of `latency_space` at the same options): each method
searches again (RUN/latency/<method>-seed<k>/) with the hinge penalty `latency_weight * max(E[latency] -
budget, 0)` (single-path: `latency_weight * max(log(E[latency] / budget), 0)`, after its warm-up of half
the steps), the budget `latency_budget` ms or `latency_budget_fraction` of the way from the smallest arch's
predicted latency to the largest's. The derived archs, with the smallest and largest beside them, are then
measured as the predictor's collection was (nas.hardware: sliced subnet compiled ahead of time, the
predictor's batch and input, interleaved repeats, in a child process pinned to the predictor's thread count
and XLA flags) and compared with the budget: measured (the statistic the predictor was fitted on, `--target`
of `nas latency fit`) / budget, within 10% or under. With `budget_only`, the latency space's searches of
every seed run under the budget instead (no unconstrained run of it: one DARTS compile fewer), and their
stand-alone accuracies are that space's rows.

Writes results.json, table.md, accuracy.png (per space and method, mean and each seed) and latency.png.
Re-running skips every finished search, training and measurement.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from experiments.common import Budget, train_once, write_results
from nas.definition import get_definition
from nas.differentiable.search_run import METHODS, DifferentiableConfig, search
from nas.differentiable.single_path import METHOD as SINGLE_PATH
from nas.differentiable.single_path import NotNestedError
from nas.errors import ConfigError, WeftError
from nas.train.config import TrainConfig
from supernets.cell_edge import CONV_KERNELS, EDGE_OPS

# Per space: options, search steps and stand-alone steps unless the config says otherwise, sized for about
# 40 minutes on 2 cores (README). One core of this machine: NB201 at 8 channels and one cell per stage
# (3 cells, 2 reductions), batch 32: a search step 0.16 s (tangle, gdas) to 0.21 s (darts), compiles ~17 s.
# MobileNetV3 at width 0.5 (the space the latency predictor of `nas latency collect` was measured on):
# tangle and gdas 0.2 s a step, compile ~60 s; darts (mixed ops) 0.84 s a step and a 5-minute compile, at
# width 0.25 too (the op count makes the graph, not the width). Stand-alone, batch 128: 0.14 s (NB201),
# 0.2 s (MobileNetV3) a step, plus 30 s / 75 s of compiles and evaluation per trained arch.
SPACE_DEFAULTS = {"nb201": {"options": {"channels": 8, "cells_per_stage": 1}, "search_steps": 200,
                            "standalone_steps": 300},
                  "mobilenetv3": {"options": {"width_mult": 0.5}, "search_steps": 100, "standalone_steps": 200}}
OTHER_SPACE = {"options": {}, "search_steps": 200, "standalone_steps": 300}
PARAM_FREE_OPS = tuple(op for op in EDGE_OPS if op not in CONV_KERNELS)  # none, skip_connect, avg_pool_3x3
WITHIN = 1.10  # measured latency at most 10% above the budget


@dataclass(frozen=True)
class Config(Budget):  # Budget: data, limit_train and the stand-alone trainings' batch, learning rate, warm-up
    spaces: tuple = ("nb201", "mobilenetv3")
    methods: tuple = METHODS                               # tangle, darts, gdas, single-path
    seeds: tuple = (0, 1, 2)
    space_options: dict = field(default_factory=dict)      # {space: options}: replaces SPACE_DEFAULTS' options
    search_steps: dict = field(default_factory=dict)       # {space: steps}, over SPACE_DEFAULTS
    standalone_steps: dict = field(default_factory=dict)   # {space: steps}, over SPACE_DEFAULTS
    search_batch_size: int = 32
    search_learning_rate: float = 0.025   # weights: SGD momentum, cosine (DARTS)
    # DARTS's 3e-4 moves alpha over ~20k steps (50 epochs); these searches are 100-200 steps. At 1e-2 the
    # expected latency of a MobileNetV3 search reaches a budget 25% of the way up in ~60 of 100 steps (3e-3: not).
    alpha_learning_rate: float = 1e-2
    threshold_learning_rate: float = 1e-2  # single-path: Adam on the thresholds (rings' RMS ~0.05-0.2 at init)
    validation_size: int = 5000           # fashion-mnist: training images held out (alpha's split)
    latency_predictor: str | None = None  # a `nas latency fit` file; None: no latency-budget searches
    latency_space: str = "mobilenetv3"
    latency_budget: float | None = None   # ms; None: latency_budget_fraction of smallest..largest predicted
    latency_budget_fraction: float = 0.25
    latency_weight: float = 10.0          # hinge slope: penalty per ms of expected latency above the budget
    latency_seeds: tuple = (0,)
    latency_standalone: bool = False      # also train the latency searches' archs alone (test accuracy)
    # True: the latency space (one of `spaces`) is searched under the budget only, every seed, instead of
    # unconstrained and again under the budget: one DARTS mixed-op compile fewer on MobileNetV3 (~9 minutes).
    budget_only: bool = False
    latency_repeats: int = 101            # timed calls per arch (interleaved), after 3 warm-ups

    def check(self) -> None:
        def fail(message: str) -> ConfigError:
            return ConfigError(f"experiment differentiable_search: {message}")

        for name in ("spaces", "methods", "seeds", "latency_seeds"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise fail(f"{name} must be a non-empty list without repeats, got {list(values)}")
        for name in ("seeds", "latency_seeds"):
            if not all(type(s) is int and s >= 0 for s in getattr(self, name)):
                raise fail(f"{name} must be ints >= 0, got {list(getattr(self, name))}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise fail(f"unknown method(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(METHODS)}")
        if not all(isinstance(s, str) for s in self.spaces):
            raise fail(f"spaces must be space names, got {list(self.spaces)}")
        known = set(self.spaces) | ({self.latency_space} if self.latency_predictor else set())
        for name in ("space_options", "search_steps", "standalone_steps"):
            extra = sorted(set(getattr(self, name)) - known)
            if extra:
                raise fail(f"{name} names space(s) {', '.join(extra)} that the experiment does not search; "
                           f"allowed: {', '.join(sorted(known))}")
        for space in known:
            options = self.options(space)
            if not isinstance(options, dict):
                raise fail(f"space_options[{space!r}] must be an object of options, got {options!r}")
            for name in ("search_steps", "standalone_steps"):
                steps = getattr(self, name).get(space, _defaults(space)[name])
                if type(steps) is not int or steps < 1:
                    raise fail(f"{name}[{space!r}] must be an int >= 1, got {steps!r}")
            get_definition(space).resolve_options(options)  # an unknown space or option: its own one line
        if not 0.0 < self.latency_budget_fraction < 1.0:
            raise fail(f"latency_budget_fraction must be in (0, 1), got {self.latency_budget_fraction}")
        if self.budget_only and (self.latency_predictor is None or self.latency_space not in self.spaces):
            raise fail(f"budget_only needs a latency_predictor and latency_space ({self.latency_space!r}) among "
                       f"spaces ({', '.join(self.spaces)})")
        if self.latency_repeats < 3:
            raise fail(f"latency_repeats must be >= 3, got {self.latency_repeats}")
        for space in known:  # every search and training setting, checked before anything runs
            latency = self.latency_predictor is not None and space == self.latency_space
            for method in self.methods:
                self.search_config(space, method, 0, budget_ms=1.0 if latency else None).check()
            self.standalone_config(space, "(the derived arch)", 0).check()

    def options(self, space: str) -> dict:
        return self.space_options.get(space, _defaults(space)["options"])

    def steps(self, space: str, kind: str) -> int:
        return getattr(self, kind).get(space, _defaults(space)[kind])

    def search_config(self, space: str, method: str, seed: int, *,
                      budget_ms: float | None = None) -> DifferentiableConfig:
        """The search of `space` by `method`; with `budget_ms`, under the hinge latency penalty."""
        steps = self.steps(space, "search_steps")
        penalty = dict(latency_predictor=self.latency_predictor, latency_weight=self.latency_weight,
                       latency_budget=budget_ms) if budget_ms is not None else {}
        return DifferentiableConfig(space=space, space_options=dict(self.options(space)), method=method, steps=steps,
                                    batch_size=self.search_batch_size, learning_rate=self.search_learning_rate,
                                    alpha_learning_rate=self.alpha_learning_rate,
                                    threshold_learning_rate=self.threshold_learning_rate, seed=seed, data=self.data,
                                    validation_size=self.validation_size, limit_train=self.limit_train,
                                    checkpoint_every=max(1, min(100, steps // 2)), log_every=10, **penalty)

    def standalone_config(self, space: str, arch: str, seed: int) -> TrainConfig:
        return TrainConfig(space=space, space_options=dict(self.options(space)),
                           steps=self.steps(space, "standalone_steps"), sampling="standalone", arch=arch,
                           distillation="none", seed=seed, validation_size=self.validation_size,
                           **self.train_settings())


def _defaults(space: str) -> dict:
    return SPACE_DEFAULTS.get(space, OTHER_SPACE)


def run(config: Config, run_dir: str | Path, progress: bool = True) -> dict:
    run_dir = Path(run_dir)
    budget = latency_setup(config)  # a wrong predictor fails here, before any search
    shared = budget is not None and config.budget_only  # the latency space searched under the budget only
    total = len(config.spaces) * len(config.methods) * len(config.seeds) + (
        len(config.methods) * len(config.latency_seeds) if budget is not None and not shared else 0)
    counter = iter(range(1, total + 1))
    say = tqdm.write if progress else (lambda _: None)

    def searches(space: str, seeds: tuple, root: Path, budget_ms: float | None, standalone: bool) -> dict:
        methods = {}
        for method in config.methods:
            runs = []
            for seed in seeds:
                say(f"[{next(counter)}/{total}] {space} {method} seed {seed}" +
                    (f", latency budget {budget_ms:.3f} ms" if budget_ms is not None else ""))
                try:
                    runs.append(search_and_train(config, config.search_config(space, method, seed, budget_ms=budget_ms),
                                                 root / f"{method}-seed{seed}", root / "standalone", progress,
                                                 standalone))
                except NotNestedError as error:  # single-path on a space with op types: nothing was written
                    say(f"  {method} does not apply to {space}: {error}")
                    runs = str(error)
                    break
            if isinstance(runs, str):
                methods[method] = not_applicable(runs)
                continue
            step = step_cost(config.search_config(space, method, seeds[0], budget_ms=budget_ms),
                             root / f"{method}-step.json")
            methods[method] = summarise(runs, step)
        return methods

    spaces = {}
    for space in config.spaces:
        budgeted = shared and space == config.latency_space
        methods = (searches(space, config.seeds, run_dir / "latency", budget["budget_ms"], True) if budgeted
                   else searches(space, config.seeds, run_dir / space, None, True))
        spaces[space] = {"options": config.options(space), "search_steps": config.steps(space, "search_steps"),
                         "standalone_steps": config.steps(space, "standalone_steps"),
                         "under_latency_budget": budgeted, "methods": methods}
    latency = None
    if budget is not None:
        methods = spaces[config.latency_space]["methods"] if shared else searches(
            config.latency_space, config.latency_seeds, run_dir / "latency", budget["budget_ms"],
            config.latency_standalone)
        latency = latency_report(config, budget, methods, run_dir / "latency", say)
    results = {**headline(spaces, latency), "config": dataclasses.asdict(config), "spaces": spaces,
               "latency": latency}
    run_dir.mkdir(parents=True, exist_ok=True)  # a run where no method applied searched nothing
    write_results(run_dir, results)
    (run_dir / "table.md").write_text(table(spaces, latency))
    plot_accuracy(spaces, run_dir / "accuracy.png")
    if latency is not None:
        plot_latency(latency, run_dir / "latency.png")
    return results


def search_once(config: DifferentiableConfig, path: Path, progress: bool) -> dict:
    """The search's result.json: searched (or finished) unless the sub-run at `path` already has one."""
    result_file = path / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    return search(config, path, progress=progress)


def search_and_train(config: Config, search_config: DifferentiableConfig, path: Path, standalone_root: Path,
                     progress: bool, train_standalone: bool = True) -> dict:
    """One seed of one method: its search, its derived arch trained alone, what the experiment reports of them."""
    result = search_once(search_config, path, progress)
    arch = result["arch_string"]
    row = {"seed": search_config.seed, "arch": arch, "search_seconds": result["search_seconds"],
           **op_counts(result["arch"]), "search_run": str(path)}
    if "predicted_latency_ms" in result:
        row.update(predicted_ms=result["predicted_latency_ms"], expected_ms=result["expected_latency_ms"])
    if train_standalone:
        standalone = standalone_root / f"{hashlib.sha1(arch.encode()).hexdigest()[:12]}-seed{search_config.seed}"
        train_once(config.standalone_config(search_config.space, arch, search_config.seed), standalone, progress,
                   config.isolate)
        scores = json.loads((standalone / "summary.json").read_text())["arch"]
        row.update(test_accuracy=scores["test_accuracy"], validation_accuracy=scores["validation_accuracy"],
                   standalone_run=str(standalone))
    return row


def op_counts(arch: dict) -> dict:
    """The derived cell's parameter-free edges and skip connections; null for spaces without op types."""
    ops = [value for value in arch.values() if isinstance(value, str)]
    if not ops:
        return {"param_free_ops": None, "skip_connect": None, "none_ops": None, "edges": None}
    return {"param_free_ops": sum(op in PARAM_FREE_OPS for op in ops), "skip_connect": ops.count("skip_connect"),
            "none_ops": ops.count("none"), "edges": len(ops)}


def step_cost(search_config: DifferentiableConfig, path: Path, repeats: int = 5) -> dict:
    """Memory (XLA's plan for the compiled step) and median time of one search step; kept in `path`."""
    if path.exists():
        return json.loads(path.read_text())
    import jax

    from experiments.bench.differentiable import memory_bytes
    from experiments.bench.step import time_interleaved
    from nas import data as data_lib
    from nas.differentiable.search_run import setup
    from nas.train.loop import enable_compilation_cache

    enable_compilation_cache()  # the search compiled this very step: loaded, not compiled again
    built = setup(search_config)
    dataset = built.session.dataset
    batches = [data_lib.BatchStream(split, search_config.batch_size, seed=search_config.seed).next()
               for split in (dataset.train, dataset.validation)]
    # The step's last argument: GDAS's temperature, or single-path's step number (one past its warm-up: the
    # latency term on, as in most of its steps' cost).
    schedule = np.int32(search_config.warmup()) if search_config.method == SINGLE_PATH else np.float32(1.0)
    arguments = (built.state, *batches[0], *batches[1], jax.random.key(search_config.seed), schedule)
    compiled = built.step.lower(*arguments).compile()
    memory = memory_bytes(compiled)
    runner = {"step": lambda: jax.block_until_ready(compiled(*arguments))}
    time_interleaved(runner, 1)  # warm up
    cost = {"memory_mb": memory["total"] / 2**20, "temp_mb": memory["temp"] / 2**20,
            "step_ms": time_interleaved(runner, repeats)["step"], "batch_size": search_config.batch_size,
            "memory_figure": "compiled.memory_analysis(): temp + argument + output bytes"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cost, indent=1))
    return cost


def _stats(values: list) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "per_seed": values}


def not_applicable(reason: str) -> dict:
    """A method that cannot search this space (single-path on op types): no runs, the reason."""
    return {"runs": [], "step": None, "not_applicable": reason,
            **{name: None for name in ("test_accuracy", "search_seconds", "param_free_ops", "skip_connect")}}


def summarise(runs: list[dict], step: dict | None) -> dict:
    summary = {"runs": runs, "step": step}
    for name in ("test_accuracy", "search_seconds", "param_free_ops", "skip_connect"):
        summary[name] = _stats([r.get(name) for r in runs])
    return summary


# ---- latency budget ----------------------------------------------------------------------------------------

def latency_setup(config: Config) -> dict | None:
    """The predictor, checked against the latency space's options, and the budget; None without a predictor."""
    if config.latency_predictor is None:
        return None
    from nas.hardware.counters import load_counter
    from nas.hardware.inputs import input_shape
    from nas.hardware.predictor_io import load_predictor

    space_name, options = config.latency_space, config.options(config.latency_space)
    definition = get_definition(space_name)
    shape = input_shape(definition, None, options)
    counter = load_counter(space_name, options, shape)
    predictor, document = load_predictor(config.latency_predictor, counter)
    device = document.get("device") or {}
    threads = int(device.get("threads") or 0)
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if threads > allowed:
        raise ConfigError(f"experiment differentiable_search: latency predictor {config.latency_predictor} was "
                          f"measured on {threads} threads, but this process may use {allowed} core(s); allowed: "
                          "run it where as many cores are free, or a predictor measured with --threads 1")
    space = counter.space
    extremes = np.asarray(predictor(np.stack([space.smallest().to_vector(), space.largest().to_vector()])), float)
    budget = config.latency_budget if config.latency_budget is not None else float(
        extremes[0] + config.latency_budget_fraction * (extremes[1] - extremes[0]))
    return {"space": space_name, "options": options, "predictor": str(config.latency_predictor),
            "kind": document["kind"], "target": _fit_target(Path(config.latency_predictor)),
            "budget_ms": budget, "smallest_predicted_ms": float(extremes[0]),
            "largest_predicted_ms": float(extremes[1]), "smallest": space.smallest().to_string(),
            "largest": space.largest().to_string(), "batch": int(document.get("batch", 1)),
            "input_shape": list(document["space"]["input_shape"]), "stored_options": document["space"].get("options"),
            "threads": threads, "xla_flags": device.get("xla_flags", ""),
            "device_fingerprint": document.get("device_fingerprint")}


def _fit_target(predictor: Path) -> str:
    """What latency the predictor was fitted on (report.json beside it: min, median, anchored...); else median."""
    report = predictor.parent / "report.json"
    try:
        return str(json.loads(report.read_text())["target"])
    except (OSError, ValueError, KeyError, TypeError):
        return "median"


def latency_report(config: Config, budget: dict, searched: dict, root: Path, say) -> dict:
    """The budget searches' derived archs measured (with the smallest and largest) and set against the budget."""
    methods = {method: summary["runs"] for method, summary in searched.items() if "not_applicable" not in summary}
    wanted = [budget["smallest"], budget["largest"]] + [r["arch"] for runs in methods.values() for r in runs]
    measured = measure_latencies(budget, list(dict.fromkeys(wanted)), config.latency_repeats, root / "measured.json",
                                 say)
    column = "min_ms" if budget["target"] in ("min", "anchored_min") else "median_ms"
    references = {name: {"predicted_ms": budget[f"{name}_predicted_ms"],
                         "measured_ms": measured["archs"][budget[name]][column]} for name in ("smallest", "largest")}
    # A machine busier or quieter than at the predictor's collection moves every latency: where an arch lies
    # between the smallest and largest measured beside it is comparable with where the budget lies between
    # their predictions, whatever the load.
    low, high = references["smallest"]["measured_ms"], references["largest"]["measured_ms"]
    budget_position = (budget["budget_ms"] - budget["smallest_predicted_ms"]) / (
        budget["largest_predicted_ms"] - budget["smallest_predicted_ms"])
    for method, runs in methods.items():
        for row in runs:
            row_measured = measured["archs"][row["arch"]]
            row.update(measured_ms=row_measured[column], measured_median_ms=row_measured["median_ms"],
                       measured_min_ms=row_measured["min_ms"], spread=row_measured["spread"],
                       ratio=row_measured[column] / budget["budget_ms"],
                       position=(row_measured[column] - low) / (high - low) if high > low else None)
            row["within_10pct_or_under"] = bool(row["ratio"] <= WITHIN)
        methods[method] = {"runs": runs, "search_seconds": searched[method]["search_seconds"],
                           "test_accuracy": searched[method]["test_accuracy"], "step": searched[method]["step"],
                           "within_10pct_or_under": sum(r["within_10pct_or_under"] for r in runs)}
    return {**{k: v for k, v in budget.items() if k not in ("smallest", "largest")}, "measured_column": column,
            "references": references, "budget_position": budget_position, "same_device_as_predictor": measured["device_fingerprint"] ==
            budget["device_fingerprint"], "measurement_device": measured["device"], "methods": methods}


def measure_latencies(budget: dict, archs: list[str], repeats: int, cache: Path, say) -> dict:
    """Each arch's latency as the predictor's collection measured it; kept in `cache` (measured once)."""
    settings = {k: budget[k] for k in ("space", "stored_options", "input_shape", "batch", "threads", "xla_flags")}
    settings["repeats"] = repeats
    done = json.loads(cache.read_text()) if cache.exists() else {}
    if done.get("settings") != settings:
        done = {"settings": settings, "archs": {}}
    missing = [a for a in archs if a not in done["archs"]]
    if missing:
        say(f"measuring the latency of {len(missing)} archs (batch {budget['batch']}, {budget['threads'] or 'all'} "
            "thread(s), as the predictor's collection)")
        with tempfile.TemporaryDirectory() as scratch:
            spec = Path(scratch) / "spec.json"
            out = Path(scratch) / "out.json"
            spec.write_text(json.dumps({**settings, "archs": missing}))
            environment = {**os.environ, "XLA_FLAGS": budget["xla_flags"], "JAX_PLATFORMS": "cpu"}
            root = Path(__file__).resolve().parents[1]
            environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), environment.get("PYTHONPATH")]))
            child = subprocess.run([sys.executable, "-m", "experiments.differentiable_search", "measure", str(spec),
                                    str(out)], env=environment, cwd=root, capture_output=True, text=True)
            if child.returncode != 0:
                lines = [line for line in child.stderr.strip().splitlines() if line.strip()] or ["(no output)"]
                raise WeftError(f"measuring latency failed (exit {child.returncode}): {lines[-1]}")
            result = json.loads(out.read_text())
        done["archs"].update(result["archs"])
        done.update(device=result["device"], device_fingerprint=result["device_fingerprint"])
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(done, indent=1))
    return done


def _measure_main(spec_path: str, out_path: str) -> None:
    """In a child process: pin threads before JAX starts, then time the archs as `nas latency collect` does."""
    spec = json.loads(Path(spec_path).read_text())
    if spec["threads"]:
        from nas.hardware.device import pin_threads

        pin_threads(spec["threads"])
    from nas.hardware.collect import _subnet_program
    from nas.hardware.device import device_info, fingerprint
    from nas.hardware.timing import measure_group

    definition = get_definition(spec["space"])
    shape = tuple(spec["input_shape"])
    space, supernet = definition.build(definition.resolve_options(spec["stored_options"], shape))
    archs = [space.from_string(a) for a in spec["archs"]]
    rows = measure_group([_subnet_program(supernet, a, spec["batch"], shape) for a in archs],
                         repeats=spec["repeats"], warmup=3)
    info = device_info()
    keep = ("median_ms", "min_ms", "p10_ms", "spread", "compile_s")
    Path(out_path).write_text(json.dumps({"device": info, "device_fingerprint": fingerprint(info),
                                          "archs": {a: {k: row[k] for k in keep} for a, row in zip(spec["archs"], rows)}}))


# ---- results ----------------------------------------------------------------------------------------------

def _mean_std(stats: dict | None, digits: int = 4) -> str:
    if stats is None:
        return "-"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def headline(spaces: dict, latency: dict | None) -> dict:
    """One line per space and method (what `nas experiment` prints), and the latency verdict."""
    line = {f"{space}.{method}.test_accuracy": _mean_std(summary["test_accuracy"])
            for space, entry in spaces.items() for method, summary in entry["methods"].items()}
    if latency is not None:
        runs = [r for m in latency["methods"].values() for r in m["runs"]]
        line["latency_budget_ms"] = round(latency["budget_ms"], 4)
        line["latency_within_10pct_or_under"] = f"{sum(r['within_10pct_or_under'] for r in runs)}/{len(runs)}"
    return line


def table(spaces: dict, latency: dict | None) -> str:
    lines = ["| space | method | stand-alone test acc (mean ± std) | seeds | search wall s (mean) | step ms "
             "| step memory MB | param-free edges (per seed) | skip_connect (per seed) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for space, entry in spaces.items():
        for method, s in entry["methods"].items():
            if "not_applicable" in s:
                lines.append(f"| {space} | {method} | not applicable: its decisions are not nested | 0 "
                             "| - | - | - | - | - |")
                continue
            step = s["step"] or {}
            edges = s["runs"][0]["edges"]
            counts = {name: "null" if s[name] is None else
                      f"{s[name]['mean']:.2f} of {edges} ({', '.join(map(str, s[name]['per_seed']))})"
                      for name in ("param_free_ops", "skip_connect")}
            label = f"{space} (under latency budget)" if entry["under_latency_budget"] else space
            lines.append(f"| {label} | {method} | {_mean_std(s['test_accuracy'])} | {len(s['runs'])} "
                         f"| {s['search_seconds']['mean']:.0f} | {step.get('step_ms', float('nan')):.0f} "
                         f"| {step.get('memory_mb', float('nan')):.0f} | {counts['param_free_ops']} "
                         f"| {counts['skip_connect']} |")
    text = "\n".join(lines) + "\n"
    if latency is not None:
        refs = latency["references"]
        text += (f"\nLatency budget on {latency['space']}: {latency['budget_ms']:.3f} ms (hinge; {latency['kind']} "
                 f"predictor, fitted on {latency['target']}; smallest arch predicted "
                 f"{refs['smallest']['predicted_ms']:.3f} / measured {refs['smallest']['measured_ms']:.3f} ms, largest "
                 f"{refs['largest']['predicted_ms']:.3f} / {refs['largest']['measured_ms']:.3f} ms; measured on the "
                 f"predictor's device settings: {'yes' if latency['same_device_as_predictor'] else 'no'}). Position: "
                 "where the arch's measured latency lies from the smallest (0) to the largest (1) measured beside it, "
                 f"against the budget's place between their predictions, {latency['budget_position']:.2f} (load-free)"
                 "\n\n| method | seed | predicted ms | measured ms | measured / budget | within 10% or under "
                 "| position (budget's) | stand-alone test acc | search wall s |\n|---|---|---|---|---|---|---|---|---|\n")
        for method, m in latency["methods"].items():
            for r in m["runs"]:
                accuracy = f"{r['test_accuracy']:.4f}" if r.get("test_accuracy") is not None else "-"
                position = "-" if r["position"] is None else f"{r['position']:.2f} ({latency['budget_position']:.2f})"
                text += (f"| {method} | {r['seed']} | {r['predicted_ms']:.3f} | {r['measured_ms']:.3f} "
                         f"| {r['ratio']:.3f} | {'yes' if r['within_10pct_or_under'] else 'no'} | {position} "
                         f"| {accuracy} | {r['search_seconds']:.0f} |\n")
    return text


def plot_accuracy(spaces: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(spaces), figsize=(4.5 * len(spaces), 4), squeeze=False)
    for ax, (space, entry) in zip(axes[0], spaces.items()):
        for x, (method, s) in enumerate(entry["methods"].items()):
            if s["test_accuracy"] is None:
                continue
            values = s["test_accuracy"]["per_seed"]
            ax.bar(x, s["test_accuracy"]["mean"], 0.6, yerr=s["test_accuracy"]["std"], capsize=3, alpha=0.5)
            ax.scatter(x + np.linspace(-0.15, 0.15, len(values)), values, color="black", s=14, zorder=3)
        names = list(entry["methods"])
        ax.set_xticks(range(len(names)), names)
        low = min((min(s["test_accuracy"]["per_seed"]) for s in entry["methods"].values() if s["test_accuracy"]),
                  default=0.0)
        ax.set_ylim(max(0.0, low - 0.05), None)
        ax.set_title(f"{space}: mean ± std, dots: seeds", fontsize=10)
        ax.set_ylabel("stand-alone test accuracy (derived arch)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_latency(latency: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(5.5, 4))
    budget = latency["budget_ms"]
    ax.axhline(budget, color="black", label=f"budget {budget:.3f} ms")
    ax.axhline(WITHIN * budget, color="black", linestyle="--", linewidth=0.8, label="budget + 10%")
    for name, style in (("smallest", ":"), ("largest", "-.")):
        ax.axhline(latency["references"][name]["measured_ms"], color="grey", linestyle=style, linewidth=0.8,
                   label=f"{name} arch, measured")
    names = list(latency["methods"])
    for x, method in enumerate(names):
        runs = latency["methods"][method]["runs"]
        offsets = x + np.linspace(-0.1, 0.1, len(runs))
        ax.scatter(offsets, [r["measured_ms"] for r in runs], color="C0", zorder=3,
                   label="measured" if x == 0 else None)
        ax.scatter(offsets, [r["predicted_ms"] for r in runs], color="C1", marker="x", zorder=3,
                   label="predicted" if x == 0 else None)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(f"latency ms (batch {latency['batch']}, {latency['measured_column'][:-3]})")
    ax.set_title(f"derived arch vs latency budget ({latency['space']})")
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "measure":
        sys.exit("usage: python -m experiments.differentiable_search measure SPEC.json OUT.json "
                 "(run by the experiment itself)")
    _measure_main(sys.argv[2], sys.argv[3])
