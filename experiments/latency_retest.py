"""Latency where the model runs (issue 24 part 2): measure the measurement, then the predictors.

    nas experiment latency_retest --run runs/latency-retest

1. Retest per setting. A setting is (backend, resolution, batch, threads): backend xla (the sliced
   subnet compiled by XLA) or onnxruntime (its ONNX export, `nas.hardware.backends`); resolution
   `training` (the space's training input, 28x28x1 for the image spaces) or `deployment` (the input
   the space declares it is deployed at: MobileNetV3 224x224x3, as Once-for-All); batch; threads
   (the cores the collecting process is pinned to, and onnxruntime's intra-op threads). For each
   setting the same `n` archs (drawn from `seed`) are measured twice by two independent collections,
   each `nas latency collect --no-layers` in its own child process: first every setting's collection
   `a`, then every setting's collection `b` in the reverse order, so that the two measurements of a
   setting are apart in time and the machine's drift over the run falls between them, as it falls
   between a predictor's training data and the archs it is later asked about. Reported per setting
   and target (anchored, median, min): Kendall tau of b against a, the share of archs whose second
   latency is within +/-10% of the first, the median |b/a - 1|, and the load average while measured.
2. The chosen setting: among the settings of `fit_backends` whose retest tau (anchored target) reaches
   `tau_bar`, one at the deployment resolution if any, then the highest tau (`chosen` names one
   instead). Its collection `a` is extended to `fit_n` archs (on XLA with per-layer timings, the
   lookup table's entries) and `nas latency fit` runs on it for `fit_seeds` train/test splits: held-out
   within +/-10%, RMSE and Kendall tau of the lookup table (XLA only), MLP, linear model and FLOPs.

Resumable: a finished collection is not measured again, a killed one resumes (`nas latency collect`
resumes itself); every collection's line records the load average. XLA collections share a
persistent compilation cache (RUN/xla-cache): the second collection of a setting reuses the first's
executables, so its compile_s is the cache's load time; the timed programs are the same binaries.
Writes results.json, table.md and retest.png in RUN (the collections under RUN/collections).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.experiment_config import ExperimentConfig
from nas.atomic_write import write_json_atomically, write_text_atomically
from nas.errors import ConfigError, WeftError
from nas.option_bounds import NonNegativeInt, PositiveInt

BACKENDS = ("xla", "onnxruntime")
RESOLUTIONS = ("training", "deployment")
TARGETS = ("anchored", "median", "min")
KINDS = ("lut", "mlp", "linear", "layer-cost", "flops")
# Trimmed from the full grid to fit ~70 minutes of one shared core (compiling one MobileNetV3 arch with XLA
# takes ~12 s there, an onnxruntime session ~1.5 s): XLA at batch 8, XLA at the training resolution on 2
# threads, and onnxruntime at 224x224 batch 8 on 2 threads are left out.
SKIP = ("xla/training/8/1", "xla/training/8/2", "xla/training/1/2", "xla/deployment/8/1", "xla/deployment/8/2",
        "onnxruntime/deployment/8/2")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    space: str = "mobilenetv3"
    space_options: dict | None = None
    backends: tuple = BACKENDS
    resolutions: tuple = RESOLUTIONS
    batches: tuple = (1, 8)
    threads: tuple = (1, 2)
    skip: tuple = SKIP  # settings left out, as "backend/resolution/batch/threads"
    n: int = 24  # archs measured twice per setting
    repeats: int = 15  # timed calls per arch (each beside the anchor)
    sessions: int | None = None  # compiles timed per arch (None: nas latency collect's default per backend)
    long_repeats: int = 5  # at the deployment resolution with a batch > 1, where one call takes ~0.5 s here
    group: PositiveInt = 4
    seed: NonNegativeInt = 0
    tau_bar: float = 0.9
    chosen: str = "auto"  # or "backend/resolution/batch/threads", e.g. "onnxruntime/deployment/1/1"
    fit_backends: tuple = BACKENDS  # the backends the chosen setting is picked from
    fit_n: int = 60  # archs of the chosen setting's collection a, per backend, that the predictors see
    fit_seeds: tuple = (0, 1, 2, 3, 4)  # train/test splits of nas latency fit
    mlp_steps: PositiveInt = 2000
    processes: bool = True  # each collection in its own pinned child process (False: in this one, unpinned; tests)


@dataclass(frozen=True)
class Setting:
    backend: str
    resolution: str
    batch: int
    threads: int

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.resolution}/{self.batch}/{self.threads}"

    @property
    def folder(self) -> str:
        return self.name.replace("/", "-")


def _shapes(config: Config) -> dict[str, tuple]:
    from nas.definition import get_definition
    from nas.hardware.inputs import deployment_shape, input_shape

    definition = get_definition(config.space)
    training = input_shape(definition, None, config.space_options)
    deployment = input_shape(definition, None, config.space_options, deployment_shape(definition))
    shapes = {"training": training, "deployment": deployment}
    if deployment == training:  # a space deployed at its training input: one resolution
        shapes.pop("deployment")
    return shapes


def settings(config: Config, shapes: dict) -> list[Setting]:
    for name, values, allowed in (("backends", config.backends, BACKENDS),
                                  ("resolutions", config.resolutions, RESOLUTIONS)):
        if not values or set(values) - set(allowed):
            raise ConfigError(f"experiment latency_retest: {name} {list(values)}; allowed: some of {', '.join(allowed)}")
    if not config.batches or min(config.batches) < 1 or not config.threads or min(config.threads) < 0:
        raise ConfigError("experiment latency_retest: batches must be >= 1 and threads >= 0 (0: all cores), "
                          "at least one of each")
    if config.n < 2 or config.fit_n < 5 or config.repeats < 3 or config.long_repeats < 3:
        raise ConfigError("experiment latency_retest: n must be >= 2, fit_n >= 5, repeats and long_repeats >= 3")
    grid = [Setting(b, r, int(batch), int(t)) for b in config.backends for r in config.resolutions if r in shapes
            for batch in config.batches for t in config.threads]
    chosen = [s for s in grid if s.name not in set(config.skip)]
    if not chosen:
        raise ConfigError("experiment latency_retest: every setting of the grid is in skip; allowed: leave one")
    return chosen


def _repeats(config: Config, setting: Setting) -> int:
    return config.long_repeats if setting.resolution == "deployment" and setting.batch > 1 else config.repeats


def _complete(run: Path, n: int) -> bool:
    from nas.hardware.collect import ARCHS_FILE, META_FILE, read_jsonl

    if not (run / META_FILE).exists():
        return False
    rows = read_jsonl(run / ARCHS_FILE)
    return (sum(r["role"] == "sample" for r in rows) >= n and rows and rows[-1]["role"] == "reference_end")


def _collect(config: Config, setting: Setting, shape: tuple, run: Path, n: int, *, layers: bool,
             cache: Path) -> None:
    """One `nas latency collect` of `setting` into `run` (a child process pinned to its threads)."""
    if _complete(run, n) and (not layers or (run / "layers.jsonl").exists()):
        return
    if not config.processes:
        from nas.hardware.collect import CollectConfig, collect

        collect(CollectConfig(space=config.space, n=n, batch=setting.batch, input_shape=shape,
                              options=config.space_options, seed=config.seed, group=config.group,
                              repeats=_repeats(config, setting), layers=layers, backend=setting.backend,
                              threads=setting.threads, sessions=config.sessions), run, progress=False)
        return
    command = [sys.executable, "-m", "nas.cli", "latency", "collect", "--space", config.space, "--run", str(run),
               "--n", str(n), "--batch", str(setting.batch), "--input-shape", ",".join(map(str, shape)),
               "--seed", str(config.seed), "--group", str(config.group), "--repeats", str(_repeats(config, setting)),
               "--threads", str(setting.threads), "--backend", setting.backend, "--quiet"]
    command += [] if layers else ["--no-layers"]
    command += [] if config.sessions is None else ["--sessions", str(config.sessions)]
    for key, value in (config.space_options or {}).items():
        command += ["--option", f"{key}={json.dumps(value)}"]
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise WeftError(f"latency collect of {setting.name} failed: {lines[-1] if lines else done.returncode}")


def _load_figures(rows) -> dict:
    loads = np.array([r["load_average"] for r in rows if r.get("load_average")], float)
    return {"load_1min_mean": float(loads[:, 0].mean()) if len(loads) else None,
            "load_1min_max": float(loads[:, 0].max()) if len(loads) else None}


def retest_figures(first: Path, second: Path) -> dict:
    """Per target: Kendall tau (b against a), within +/-10%, median |b/a - 1|; the machine's load."""
    from nas.hardware.collect import ARCHS_FILE, read_jsonl
    from nas.hardware.report import load_collection
    from nas.hardware.retest import retest

    record = retest(first, second)
    a, b = load_collection(first), load_collection(second)
    index = {tuple(v): i for i, v in enumerate(a["vectors"])}
    pairs = [(index[tuple(v)], j) for j, v in enumerate(b["vectors"]) if tuple(v) in index]
    ia, ib = (np.array(p) for p in zip(*pairs))
    targets = {}
    for target in TARGETS:
        ratio = b["targets"][target][ib] / a["targets"][target][ia]
        result = record["results"][target]
        targets[target] = {"kendall_tau": result["kendall_tau"], "spearman": result["spearman"],
                           "within_10pct": result["within_10pct"],
                           "median_abs_relative_difference": float(np.median(np.abs(ratio - 1.0))),
                           "ratio_median": result["ratio_median"]}
    rows = {"a": read_jsonl(first / ARCHS_FILE), "b": read_jsonl(second / ARCHS_FILE)}
    median_ms = float(np.median(a["targets"]["median"][ia]))
    return {"shared_archs": record["shared_archs"], "targets": targets, "median_latency_ms": median_ms,
            "latency_range_ms": [float(a["targets"]["median"][ia].min()), float(a["targets"]["median"][ia].max())],
            "median_compile_s": {k: float(np.median([r["compile_s"] for r in v if r["role"] == "sample"]))
                                 for k, v in rows.items()},
            "load": {k: _load_figures(v) for k, v in rows.items()},
            "pairs": {"a": a["targets"]["anchored"][ia].tolist(), "b": b["targets"]["anchored"][ib].tolist()}}


def choose(config: Config, retests: dict[str, dict], shapes: dict) -> tuple[str, str]:
    """(backend/resolution/batch/threads, why): the setting the predictors are fitted at."""
    def tau(name):
        value = retests[name]["targets"]["anchored"]["kendall_tau"]
        return -1.0 if value is None else value
    if config.chosen != "auto":
        parts = config.chosen.split("/")
        if (len(parts) != 4 or parts[0] not in BACKENDS or parts[1] not in shapes
                or not all(p.isdigit() for p in parts[2:])):
            raise ConfigError(f"experiment latency_retest: chosen {config.chosen!r}; allowed: auto or "
                              f"backend/resolution/batch/threads with resolution in {', '.join(shapes)}")
        return config.chosen, "named by the chosen option"
    measured = [name for name in retests if "error" not in retests[name] and name.split("/")[0] in config.fit_backends]
    if not measured:
        raise WeftError("experiment latency_retest: no setting was measured twice; nothing to choose from")
    passing = [name for name in measured if tau(name) >= config.tau_bar]
    pool = passing or measured
    best = max(pool, key=lambda name: (name.split("/")[1] == "deployment", tau(name)))
    why = (f"retest tau {tau(best):.3f} >= {config.tau_bar}" + (", at the deployment resolution" if "deployment"
                                                                  in best else "")
           if passing else f"no setting reached retest tau {config.tau_bar}; the highest ({tau(best):.3f})")
    return best, why


def fit_figures(config: Config, run: Path, out: Path) -> dict:
    from nas.hardware.report import fit

    per_seed = []
    for seed in config.fit_seeds:
        report = fit(run, out / f"split{seed}", seed=seed, mlp_steps=config.mlp_steps, targets=("anchored",))
        per_seed.append(report)
    kinds = [k for k in KINDS if k in per_seed[0]["results"][per_seed[0]["target"]]]
    table = {}
    for kind in kinds:
        rows = [r["results"][r["target"]][kind] for r in per_seed]
        table[kind] = {key: {"mean": float(np.mean([row[key] for row in rows if row[key] is not None])),
                             "std": float(np.std([row[key] for row in rows if row[key] is not None]))}
                       for key in ("within_10pct", "rmse_ms", "kendall_tau", "spearman")}
        table[kind]["n_test"] = int(rows[0]["n"])
        table[kind]["chosen_by_validation"] = sum(r["best"] == kind for r in per_seed)
    first = per_seed[0]
    return {"run": str(run), "target": first["target"], "n_train": first["n_train"], "n_test": first["n_test"],
            "splits": len(per_seed), "results": table, "skipped": first["skipped"], "noise": first["noise"],
            "backend": first["backend"], "scatter": str(out / f"split{config.fit_seeds[0]}" / "scatter.png")}


def run(config: Config, run_dir: Path, *, progress: bool = True) -> dict:
    run_dir = Path(run_dir)
    shapes = _shapes(config)
    grid = settings(config, shapes)
    if not config.fit_seeds:
        raise ConfigError("experiment latency_retest: fit_seeds must name at least one split seed")
    collections, cache = run_dir / "collections", run_dir / "xla-cache"

    def say(text):
        if progress:
            print(text, flush=True)

    errors = {}
    for label, order in (("a", grid), ("b", grid[::-1])):
        for setting in order:
            if setting.name in errors:
                continue
            say(f"collection {label} of {setting.name}")
            try:
                _collect(config, setting, shapes[setting.resolution], collections / setting.folder / label,
                         config.n, layers=False, cache=cache)
            except WeftError as error:  # e.g. an arch onnxruntime cannot run: the setting is reported, not fatal
                errors[setting.name] = str(error)
                say(f"  {error}")
    retests = {}
    for setting in grid:
        folder = collections / setting.folder
        retests[setting.name] = ({"error": errors[setting.name]} if setting.name in errors
                                 else {**retest_figures(folder / "a", folder / "b"),
                                       "repeats": _repeats(config, setting)})
    chosen, why = choose(config, retests, shapes)
    say(f"chosen setting: {chosen} ({why})")
    backend, resolution, batch, threads = chosen.split("/")
    fits = {}
    setting = Setting(backend, resolution, int(batch), int(threads))
    target = collections / setting.folder / "a"
    say(f"extending {setting.name} a to {config.fit_n} archs and fitting")
    try:
        _collect(config, setting, shapes[resolution], target, config.fit_n, layers=backend == "xla", cache=cache)
        fits[backend] = fit_figures(config, target, run_dir / "fit" / setting.folder)
    except WeftError as error:
        fits[backend] = {"error": str(error)}
    results = {"space": config.space, "space_options": config.space_options,
               "input_shapes": {k: list(v) for k, v in shapes.items()},
               "settings": [s.name for s in grid], "skipped_settings": list(config.skip), "retest": retests,
               "chosen": {"setting": chosen, "why": why, "tau_bar": config.tau_bar}, "fit": fits,
               "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()}}
    write_json_atomically(run_dir / "results.json", results, indent=1)
    write_text_atomically(run_dir / "table.md", table(results))
    plot(results, run_dir / "retest.png")
    return results


def _f(value, digits=3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(results: dict) -> str:
    shapes = {k: "x".join(map(str, v)) for k, v in results["input_shapes"].items()}
    lines = [f"# Latency retest: {results['space']}", "",
             "Each setting's n archs measured twice by independent collections (b against a). tau: Kendall tau; "
             "in 10%: share of archs whose second latency is within +/-10% of the first; |rel|: median |b/a - 1|; "
             "load: mean 1-minute load average of the machine during a and b.", "",
             "| backend | resolution | batch | threads | archs | repeats | median ms | tau anchored | tau median | "
             "tau min | in 10% (anchored) | \\|rel\\| anchored | \\|rel\\| min | load a / b |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, record in results["retest"].items():
        backend, resolution, batch, threads = name.split("/")
        head = f"| {backend} | {resolution} ({shapes.get(resolution, '?')}) | {batch} | {threads} |"
        if "error" in record:
            lines.append(f"{head} error: {record['error']} |" + " |" * 9)
            continue
        t = record["targets"]
        load = record["load"]
        lines.append(f"{head} {record['shared_archs']} | {record['repeats']} | {record['median_latency_ms']:.2f} | "
                     f"{_f(t['anchored']['kendall_tau'])} | {_f(t['median']['kendall_tau'])} | "
                     f"{_f(t['min']['kendall_tau'])} | {100 * t['anchored']['within_10pct']:.0f}% | "
                     f"{100 * t['anchored']['median_abs_relative_difference']:.1f}% | "
                     f"{100 * t['min']['median_abs_relative_difference']:.1f}% | "
                     f"{_f(load['a']['load_1min_mean'], 1)} / {_f(load['b']['load_1min_mean'], 1)} |")
    chosen = results["chosen"]
    lines += ["", f"Chosen setting: **{chosen['setting']}** ({chosen['why']}).", ""]
    for backend, fit in results["fit"].items():
        if "error" in fit:
            lines += [f"{backend}: {fit['error']}", ""]
            continue
        lines += [f"## Predictors at {chosen['setting']}", "",
                  f"{fit['n_train']} training archs, {fit['n_test']} held out, target {fit['target']}; mean (sd) "
                  f"over {fit['splits']} random splits.", "",
                  "| predictor | held-out within 10% | RMSE ms | Kendall tau | Spearman | chosen on validation |",
                  "|---|---|---|---|---|---|"]
        for kind, row in fit["results"].items():
            lines.append(f"| {kind} | {100 * row['within_10pct']['mean']:.1f}% ({100 * row['within_10pct']['std']:.1f}) "
                         f"| {row['rmse_ms']['mean']:.3f} ({row['rmse_ms']['std']:.3f}) "
                         f"| {row['kendall_tau']['mean']:.3f} ({row['kendall_tau']['std']:.3f}) "
                         f"| {row['spearman']['mean']:.3f} | {row['chosen_by_validation']}/{fit['splits']} |")
        for kind, reason in fit["skipped"].items():
            lines.append(f"| {kind} | not offered: {reason} | | | | |")
        lines.append("")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = {k: v for k, v in results["retest"].items() if "error" not in v}
    if not measured:
        return
    columns = min(4, len(measured))
    rows = -(-len(measured) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(measured):]:
        ax.axis("off")
    for ax, (name, record) in zip(axes.flat, measured.items()):
        a, b = np.array(record["pairs"]["a"]), np.array(record["pairs"]["b"])
        lo, hi = min(a.min(), b.min()) * 0.9, max(a.max(), b.max()) * 1.1
        ax.scatter(a, b, s=9)
        line = np.array([lo, hi])
        ax.plot(line, line, "k-", lw=0.7)
        ax.plot(line, 1.1 * line, "k--", lw=0.5)
        ax.plot(line, 0.9 * line, "k--", lw=0.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{name}\ntau {_f(record['targets']['anchored']['kendall_tau'], 2)}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.supxlabel("collection a: anchored latency (ms)", fontsize=9)
    fig.supylabel("collection b (ms)", fontsize=9)
    fig.suptitle(f"{results['space']}: latency retest (backend/resolution/batch/threads)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
