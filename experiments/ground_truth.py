"""A stand-alone ground truth that agrees with itself: archs across the cost range, each trained alone
with several seeds on one fixed data split, and the reliability of that reference reported first.

    nas experiment ground_truth --run runs/gt-lm --option space=transformer_lm
    nas experiment ground_truth --run runs/gt-mlp --option space=mlp [--option seeds=[0,1,2]]
    nas experiment ground_truth --run runs/gt-lm-16000 --option steps=16000 --option 'only=[20,23]'

`archs` archs (the smallest and largest included) are drawn stratified over log multiply-adds
(`nas.stratified`), so the cheap and the expensive ends are as well covered as the middle. Each is
trained alone from scratch (`--sampling standalone`) once per seed; the seeds change initialisation and
batch order only, never which examples are held out (`split_seed`, fixed). Every training runs in a
child process (bounded memory) and is resumable; several processes may run the same experiment
directory at once and share the work (`nas.claims`).

Reported (results.json, table.md, seeds.png), rewritten after every finished training (the figure at most
once a minute, and at the end):
- per arch: multiply-adds, parameters, the test score of every seed (accuracy, or bits per character
  for text) and their mean;
- reliability: Kendall tau, Spearman and Pearson between every pair of seeds (tau with a bootstrap 95%
  interval), the Spearman-Brown reliability of the seed mean, the seed noise against the spread of the
  archs, and how well size alone (parameters, multiply-adds) ranks the seed means.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.config import changed_settings, from_dict
from nas.definition import get_definition
from nas.errors import ConfigError
from nas.hardware.counters import load_counter
from nas.json_files import read_json_object
from nas.standalone_truth import check_plan, reliability, seed_scores, train_items, work_order
from nas.stratified import stratified_archs
from nas.train.config import TrainConfig

GROUND_TRUTH_RESULTS = "a results.json of nas experiment ground_truth"

# How each kind of data trains by default (overridable by the options of the same names).
TRAINING = {
    "tokens": {"data": "fortunes", "batch_size": 32, "optimizer": "adamw", "learning_rate": 3e-3,
               "label_smoothing": 0.0, "warmup_steps": 100, "weight_decay": 0.01},
    "images": {"data": "fashion-mnist", "batch_size": 128, "optimizer": "sgd", "learning_rate": 0.1,
               "label_smoothing": 0.0, "warmup_steps": 100, "weight_decay": 5e-5},
}
# Spaces widened so their archs genuinely differ (weak small archs, strong large ones).
SPACE_OPTIONS = {
    "transformer_lm": {"embed_dims": [32, 64, 96, 128], "depths": [1, 2, 3, 4], "heads": [1, 2, 4],
                       "ffn_widths": [64, 128, 256, 512]},
    "mlp": {"max_layers": 4, "max_width": 512, "width_steps": 32},
    # The cell space at one cell per stage and 8 channels: its op choices (none, skip, pool, 1x1, 3x3)
    # make archs of equal size differ, and a largest arch trains 1000 steps in ~5 CPU-minutes.
    "nb201": {"channels": 8, "cells_per_stage": 1},
}


@dataclass(frozen=True)
class Config:
    space: str = "transformer_lm"
    space_options: dict | None = None   # None: SPACE_OPTIONS' for the space, else the space's defaults
    archs: int = 32
    strata: int = 8
    seeds: tuple = (0, 1)
    steps: int = 1000
    split_seed: int = 0
    arch_seed: int = 4321
    data: str | None = None             # None: TRAINING's for the space's inputs
    batch_size: int | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    label_smoothing: float | None = None
    warmup_steps: int | None = None
    weight_decay: float | None = None
    limit_train: int | None = None
    validation_size: int = 5000
    isolate: bool = True                # each training in a child process (bounded memory); False: in this one
    import_from: str | None = None      # a committed results.json of the same plan: its finished (arch, seed)
                                        # scores count as trained here (experiments/results/ keeps them)
    only: tuple | None = None           # train just these arch indices (a shortlist, e.g. at a longer horizon);
                                        # None: all. The plan is the same, so more may be trained later

    def check(self) -> None:
        if self.archs < 4:
            raise ConfigError(f"ground_truth: archs must be >= 4 (a ranking of fewer says nothing), got {self.archs}")
        if len(self.seeds) < 2 or len(set(self.seeds)) != len(self.seeds) or any(
                not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ConfigError(f"ground_truth: seeds must be >= 2 distinct integers >= 0 (reliability compares "
                              f"seeds), got {list(self.seeds)}")
        if self.only is not None and (not self.only or len(set(self.only)) != len(self.only) or any(
                not isinstance(i, int) or not 0 <= i < self.archs for i in self.only)):
            raise ConfigError(f"ground_truth: only must list distinct arch indices in [0, {self.archs - 1}], got "
                              f"{list(self.only)}")
        if self.steps < 1 or self.strata < 1:
            raise ConfigError(f"ground_truth: steps and strata must be >= 1, got {self.steps}, {self.strata}")
        if self.arch_seed < 0 or self.split_seed < 0:
            raise ConfigError(f"ground_truth: arch_seed and split_seed must be >= 0, got {self.arch_seed}, "
                              f"{self.split_seed}")


def training_config(config: Config, definition, options: dict, arch: str, seed: int) -> TrainConfig:
    settings = dict(TRAINING[definition.inputs])
    for name in settings:
        if getattr(config, name) is not None:
            settings[name] = getattr(config, name)
    return TrainConfig(space=config.space, space_options=options, steps=config.steps, sampling="standalone",
                       arch=arch, distillation="none", seed=seed, split_seed=config.split_seed,
                       limit_train=config.limit_train, validation_size=config.validation_size,
                       checkpoint_every=max(config.steps // 4, 1), **settings)


def run(config: Config, run_dir: Path, progress: bool = True) -> dict:
    config.check()
    definition = get_definition(config.space)
    options = dict(config.space_options if config.space_options is not None
                   else SPACE_OPTIONS.get(config.space, {}))
    counter = load_counter(config.space, options)
    archs = stratified_archs(counter.space, lambda v: np.asarray(counter.macs(v), float), config.archs,
                             strata=config.strata, seed=config.arch_seed)
    costs = [counter.count(a) for a in archs]
    text = definition.inputs == "tokens"
    # Seeds may be added to a finished ground truth later (each (arch, seed) is its own training).
    plan = {"config": plan_config(config), "space_options": options, "archs": [a.to_string() for a in archs]}
    check_plan(run_dir / "plan.json", plan, "ground_truth")
    if config.import_from:
        import_scores(Path(config.import_from), run_dir, plan, text)

    last_drawn = -math.inf

    def finished() -> None:  # the table follows every training; the figure (~0.5 s) at most once a minute
        nonlocal last_drawn
        figure = time.monotonic() - last_drawn > 60
        write_outputs(run_dir, collect(config, run_dir, archs, costs, options, text), figure=figure)
        if figure:
            last_drawn = time.monotonic()

    order = [(index, seed) for index, seed in work_order(len(archs), config.seeds, config.arch_seed)
             if config.only is None or index in config.only]
    train_items(run_dir, order,
                lambda index, seed: training_config(config, definition, options, archs[index].to_string(), seed),
                isolate=config.isolate, on_finished=finished,
                describe=(lambda i, s: f"ground truth: arch {i} ({costs[i]['macs']:,} MACs) seed {s}") if progress
                else None)
    results = collect(config, run_dir, archs, costs, options, text)
    write_outputs(run_dir, results)
    return results


def plan_config(config: Config) -> dict:
    """The settings that make two ground truths the same plan: all but which seeds and archs train now
    (seeds may be added to a finished ground truth, `only` trains part of it) and how."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in ("seeds", "isolate", "import_from", "only")}


def is_score_row(row) -> bool:
    """A row of a ground truth's results: its scores by seed are what an import writes as finished runs."""
    def by_seed(scores) -> bool:
        return isinstance(scores, dict) and all(isinstance(seed, str) and seed.isdigit() for seed in scores)

    return (isinstance(row, dict) and "arch" in row and isinstance(row.get("index"), int)
            and not isinstance(row["index"], bool) and by_seed(row.get("test"))
            and by_seed(row.get("validation", {})))


def import_scores(results_file: Path, run_dir: Path, plan: dict, text: bool) -> int:
    """Write the finished (arch, seed) scores of a saved results.json as this plan's finished runs.

    Only a file of the same plan is read: the same archs, space options and training settings (a setting
    the file predates counts at its default); runs already here are kept. Returns how many were imported.
    """
    if not results_file.is_file():
        raise ConfigError(f"ground_truth: import_from {results_file} is not a file (a ground truth's results.json)")
    saved = read_json_object(results_file, GROUND_TRUTH_RESULTS, ConfigError)
    if not all(map(is_score_row, saved.get("archs", [None]))):
        raise ConfigError(f"ground_truth: {results_file} holds no per-arch scores (rows with 'arch', an integer "
                          "'index', and 'test' and 'validation' scores by seed); "
                          f"allowed: {GROUND_TRUTH_RESULTS}")
    if [row["arch"] for row in saved["archs"]] != plan["archs"]:
        raise ConfigError(f"ground_truth: {results_file} holds other archs than this plan; import the results of the "
                          "same space, options, archs and arch_seed")
    # The options as resolved, not as given: explicit options equal to the space's defaults are the same plan.
    differ = sorted(changed_settings(saved.get("config", {}), plan["config"],
                                     [k for k in plan["config"] if k != "space_options"], plan_config(Config())))
    differ += changed_settings(saved, plan, ["space_options"])
    if differ:
        raise ConfigError(f"ground_truth: {results_file} was trained with other settings ({', '.join(differ)} "
                          "differ); its scores are not this plan's runs: import results of the same settings")
    key = "test_bits_per_char" if text else "test_accuracy"
    imported = 0
    for row in saved["archs"]:
        for seed, score in row["test"].items():
            path = run_dir / f"arch-{row['index']:02d}-seed{seed}"
            if (path / "summary.json").exists():
                continue
            path.mkdir(parents=True, exist_ok=True)
            summary = {"arch": {key: score, key.replace("test_", "validation_"): row.get("validation", {}).get(seed)},
                       "imported_from": str(results_file)}
            write_json_atomically(path / "summary.json", summary)
            if seed in row.get("wall_seconds", {}):
                (path / "wall_seconds.json").write_text(json.dumps(row["wall_seconds"][seed]))
            imported += 1
    return imported


RESULTS_KEYS = ("config", "space_options", "score", "higher_is_better", "archs", "reliability")
ROW_KEYS = ("macs", "params", "mean")  # besides what `is_score_row` checks


def read_results(path: Path, who: str) -> tuple[dict, Config]:
    """A ground truth's results.json and its config, or one error naming what the file lacks."""
    results = read_json_object(path, GROUND_TRUTH_RESULTS, ConfigError)
    missing = [key for key in RESULTS_KEYS if key not in results]
    if not missing and not (isinstance(results["config"], dict) and "seeds" in results["config"]):
        missing = ["the config's seeds"]  # a default would count rows of fewer seeds as finished
    rows = results.get("archs")
    if missing or not isinstance(rows, list) or not all(
            is_score_row(row) and all(key in row for key in ROW_KEYS) for row in rows):
        what = f"lacks {', '.join(missing)}" if missing else "holds archs that are not rows of scores by seed"
        raise ConfigError(f"{who}: {path} {what}; allowed: {GROUND_TRUTH_RESULTS}")
    return results, from_dict(Config, results["config"], f"{who}: {path}'s config")


def collect(config: Config, run_dir: Path, archs, costs, options: dict, text: bool) -> dict:
    key = "test_bits_per_char" if text else "test_accuracy"
    rows = [{"index": row["index"], "arch": arch.to_string(), "macs": cost["macs"], "params": cost["params"],
             **{k: row[k] for k in ("test", "validation", "wall_seconds", "mean")}}
            for row, arch, cost in zip(seed_scores(run_dir, len(archs), config.seeds, key), archs, costs)]
    return {"config": dataclasses.asdict(config), "space_options": options, "score": key,
            "higher_is_better": not text, "archs": rows,
            "reliability": reliability(rows, config.seeds, higher_is_better=not text)}


def write_outputs(run_dir: Path, results: dict, *, figure: bool = True) -> None:
    write_json_atomically(run_dir / "results.json", results, indent=1)
    (run_dir / "table.md").write_text(table(results))
    if figure:
        plot(results, run_dir / "seeds.png")


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def table(results: dict) -> str:
    config, rel = results["config"], results["reliability"]
    seconds = [s for r in results["archs"] for s in r["wall_seconds"].values()]
    lines = [f"Ground truth: {config['space']} {json.dumps(results['space_options'])}, {len(results['archs'])} archs "
             f"stratified over log multiply-adds, seeds {list(config['seeds'])}, {config['steps']} steps each, "
             f"split_seed {config['split_seed']}; score {results['score']} "
             f"({'higher' if results['higher_is_better'] else 'lower'} is better).", "",
             f"Finished: {rel['complete_archs']} archs with every seed; training wall time "
             f"{sum(seconds) / 60:.1f} min ({len(seconds)} runs).", ""]
    if "pairs" in rel:
        lines += ["| seeds | Kendall tau [95% interval] | Spearman | Pearson |", "|---|---|---|---|"]
        for p in rel["pairs"]:
            low, high = p["kendall_tau_interval"]
            lines.append(f"| {p['seeds'][0]} vs {p['seeds'][1]} | {_fmt(p['kendall_tau'])} [{_fmt(low)}, "
                         f"{_fmt(high)}] | {_fmt(p['spearman'])} | {_fmt(p['pearson'])} |")
        sizes = rel["size_rankers"]
        lines += ["", f"Reliability of the mean of {rel['seeds']} seeds (Spearman-Brown): "
                      f"{_fmt(rel['seed_mean_reliability_spearman'])} from Spearman, "
                      f"{_fmt(rel['seed_mean_reliability_pearson'])} from Pearson.",
                  f"A ranker knowing the noise-free scores would rank this seed mean at Kendall tau "
                  f"{_fmt(rel.get('perfect_ranker_tau'))} (from the seed-vs-seed tau; normal noise at the seeds' "
                  f"Pearson correlation would give a seed-vs-seed tau of {_fmt(rel.get('modelled_pair_kendall_tau'))}, "
                  f"observed {_fmt(rel['mean_pair_kendall_tau'])}); its expected budget regret from the seed "
                  f"mean's noise alone (MACs quantiles 0.25 / 0.5 / 0.75, modelled) would be "
                  f"{' / '.join(_fmt(r, 4) for r in rel.get('perfect_ranker_regret') or []) or 'n/a'}.",
                  f"Seed noise (std of one seed around its arch's mean) {_fmt(rel['seed_noise_std'], 4)} against an "
                  f"arch spread (std of the seed means) of {_fmt(rel['arch_spread_std'], 4)}.",
                  f"Size alone ranks the seed means at Kendall tau {_fmt(sizes['params']['kendall_tau'])} "
                  f"(parameters), {_fmt(sizes['macs']['kendall_tau'])} (multiply-adds); within 3 cost bands "
                  f"{_fmt(sizes['macs']['band_tau']['mean'])} (multiply-adds); the seeds agree within those bands at "
                  f"tau {_fmt(rel.get('seed_pair_band_tau'))}, so a perfect ranker's band tau against the seed mean "
                  f"would be {_fmt(rel.get('perfect_ranker_band_tau'))}."]
    lines += ["", "| # | arch | MACs | params | " + " | ".join(f"seed {s}" for s in config["seeds"]) + " | mean |",
              "|---|---|---|---|" + "---|" * (len(config["seeds"]) + 1)]
    shortlist = config.get("only")
    for r in results["archs"]:
        if shortlist is not None and r["index"] not in shortlist and not r["test"]:
            continue  # an arch this shortlist run never trains
        cells = [_fmt(r["test"].get(str(s)), 4) for s in config["seeds"]]
        lines.append(f"| {r['index']} | `{r['arch']}` | {r['macs']:,} | {r['params']:,} | " + " | ".join(cells)
                     + f" | {_fmt(r['mean'], 4)} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = results["config"]["seeds"]
    complete = [r for r in results["archs"] if len(r["test"]) == len(seeds)]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    if complete:
        first = [r["test"][str(seeds[0])] for r in complete]
        second = [r["test"][str(seeds[1])] for r in complete]
        left.scatter(first, second, c=np.log10([r["macs"] for r in complete]), cmap="viridis", s=18)
        ends = [min(first + second), max(first + second)]
        left.plot(ends, ends, color="grey", linewidth=0.8)
    pair = results["reliability"].get("pairs", [{}])[0]
    left.set_title(f"seed {seeds[0]} vs seed {seeds[1]}: tau {_fmt(pair.get('kendall_tau'))}")
    left.set_xlabel(f"{results['score']}, seed {seeds[0]}")
    left.set_ylabel(f"{results['score']}, seed {seeds[1]}")
    for r in results["archs"]:
        values = list(r["test"].values())
        if values:
            right.errorbar(r["macs"], np.mean(values), yerr=[[np.mean(values) - min(values)],
                                                            [max(values) - np.mean(values)]],
                           fmt="o", markersize=3, color="tab:blue", ecolor="tab:grey", elinewidth=0.8)
    right.set_xscale("log")
    right.set_xlabel("multiply-adds per example")
    right.set_ylabel(f"{results['score']} (seed mean, range)")
    right.set_title("stand-alone score against cost")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
