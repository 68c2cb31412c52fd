"""Searchers compared on synthetic objectives over shipped spaces: best found at 100 and 300 queries.

    nas experiment searchers --run runs/searchers

Objectives (`nas.search.synthetic`, each with a known optimum, one landscape per seed):
* `nk-mobilenetv3`: a rugged NK landscape (k=2) over MobileNetV3's 45 decisions, accuracy in percent;
* `nk-nb201`: the same over NB201's 6 edges of 5 operations (15,625 archs);
* `zdt1-mobilenetv3`: ZDT1's two objectives over MobileNetV3 (front known): hypervolume share.

Every searcher runs `queries` trials in batches of `batch`, on `seeds` paired seeds (seed s: the
same landscape and the same searcher seed for every searcher). `mode=after` drives each searcher as
`nas search` does (`searchers.composed`: the initial archs first, repeats answered without a trial).
`mode=before` drives them as the search loop did before that (the endpoints given as the searcher's
seeds, every proposal a trial, repeats included); run it with the older `searchers` package first on
the path to measure that code, and give its results.json as `before=PATH` to an `after` run to set
them side by side. Queries are trials: a repeat answered from the history is not one.
Writes results.json, table.md and curves.png.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.experiment_config import ExperimentConfig
from nas.errors import ConfigError
from nas.option_bounds import NonNegativeInt, PositiveInt

OBJECTIVES = ("nk-mobilenetv3", "nk-nb201", "zdt1-mobilenetv3")
SEARCHERS = ("random", "evolution", "nsga2", "tpe", "rl")
REFERENCE = (1.1, 1.1)  # ZDT1 hypervolume reference point
RL_TARGETS = (0.1, 0.3, 0.5, 0.7, 0.9)  # TuNAS cost targets over f1 in [0, 1], one policy each


@dataclass(frozen=True)
class Config(ExperimentConfig):
    objectives: tuple = OBJECTIVES
    searchers: tuple = SEARCHERS
    seeds: PositiveInt = 20
    first_seed: NonNegativeInt = 0
    queries: PositiveInt = 300
    checkpoints: tuple = (100, 300)
    batch: PositiveInt = 8
    k: NonNegativeInt = 2  # NK interactions: each decision with the k before it
    mode: str = "after"  # after: as `nas search` runs them now; before: every proposal a trial
    initial_archs: str = "endpoints"
    before: str | None = None  # results.json of a mode=before run, set beside in the table
    options: dict = dataclasses.field(default_factory=dict)  # searcher -> options, over the defaults


class Problem:
    """One objective on one seed: evaluate(arch) -> minimised values, and quality(points) (higher better)."""

    def __init__(self, name: str, seed: int, k: int):
        from nas.definition import get_definition
        from nas.search.synthetic import ZDT1, NKLandscape

        kind, _, space_name = name.partition("-")
        if name not in OBJECTIVES:
            raise ConfigError(f"unknown objective {name!r}; allowed: {', '.join(OBJECTIVES)}")
        definition = get_definition(space_name)
        self.space = definition.make_space(**definition.default_options)
        self.name, self.kind = name, kind
        if kind == "nk":
            self.function, self.num_objectives = NKLandscape(self.space, k=k, seed=seed), 1
            self.optimum = self.function.optimum
        else:
            self.function, self.num_objectives = ZDT1(self.space), 2
            self.optimum = self.function.front_hypervolume(REFERENCE)

    def evaluate(self, arch) -> list[float]:
        values = self.function(arch)
        return [-values["accuracy"]] if self.kind == "nk" else [values["f1"], values["f2"]]

    def quality(self, points: np.ndarray) -> float:
        """Best accuracy (nk), or the hypervolume as a share of the true front's (zdt1)."""
        from nas.pareto import hypervolume

        if self.kind == "nk":
            return float(-points[:, 0].min())
        return float(hypervolume(points, np.asarray(REFERENCE)) / self.optimum)


def searcher_options(name: str, problem: Problem, overrides: dict) -> dict:
    options = {}
    if name == "rl" and problem.num_objectives == 2:  # quality f2, cost f1, as the loop would set them
        options = {"targets": list(RL_TARGETS), "quality_index": 1, "cost_index": 0}
    return {**options, **overrides.get(name, {})}


def run_one(problem: Problem, name: str, seed: int, config: Config) -> dict:
    from searchers.registry import make_searcher

    options = searcher_options(name, problem, config.options)
    if config.mode == "before":
        searcher = make_searcher(name, problem.space, problem.num_objectives, seed=seed, options=options,
                                 seeds=[problem.space.smallest(), problem.space.largest()])
    else:
        from searchers.composed import composed
        searcher = composed(make_searcher(name, problem.space, problem.num_objectives, seed=seed, options=options),
                            initial=config.initial_archs, seed=seed)
    archs, points = [], []
    started = time.perf_counter()
    while len(points) < config.queries:
        asked = searcher.ask(min(config.batch, config.queries - len(points)))
        if not asked:
            break
        values = [problem.evaluate(arch) for arch in asked]
        searcher.tell(asked, np.array(values))
        archs += [arch.to_string() for arch in asked]
        points += values
    points = np.array(points)
    curve_at = list(range(10, len(points) + 1, 10))
    return {"quality": {str(n): problem.quality(points[:n]) for n in config.checkpoints if n <= len(points)},
            "curve": [problem.quality(points[:n]) for n in curve_at],
            "trials": len(points), "distinct": len(set(archs)),
            "duplicates": getattr(searcher, "duplicates", None), "fallbacks": getattr(searcher, "fallbacks", None),
            "seconds": time.perf_counter() - started}


def run(config: Config, run_dir: str | Path, progress: bool = True) -> dict:
    from tqdm import tqdm

    if config.mode not in ("before", "after"):
        raise ConfigError(f"mode must be before or after, got {config.mode!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    partial = run_dir / "runs.jsonl"  # one line per (objective, searcher, seed): a re-run resumes
    done = {}
    if partial.exists():
        for line in partial.read_text().splitlines():
            row = json.loads(line)
            done[(row["objective"], row["searcher"], row["seed"])] = row
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    jobs = [(o, s, seed) for o in config.objectives for seed in seeds for s in config.searchers]
    bar = tqdm(total=len(jobs), disable=not progress, desc="searchers")
    problems: dict = {}
    with partial.open("a") as handle:
        for objective, name, seed in jobs:
            if (objective, name, seed) not in done:
                problem = problems.get((objective, seed)) or Problem(objective, seed, config.k)
                problems = {(objective, seed): problem}
                row = {"objective": objective, "searcher": name, "seed": seed, **run_one(problem, name, seed, config)}
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                done[(objective, name, seed)] = row
            bar.update()
    bar.close()
    rows = [done[job] for job in jobs]
    results = {"config": dataclasses.asdict(config), "code": _code_version(), "runs": rows,
               "summary": summarise(rows, config)}
    if config.before:
        before = json.loads(Path(config.before).read_text())
        results["before"] = {"config": before["config"], "code": before["code"], "summary": before["summary"],
                             "paired": paired_before_after(before["runs"], rows, config)}
    (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=float))
    (run_dir / "table.md").write_text(table(results, config))
    plot_curves(rows, config, run_dir / "curves.png")
    return {"table": str(run_dir / "table.md"), "runs": len(rows)}


def _code_version() -> str:
    import searchers

    root = Path(searchers.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "searchers"], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"searchers from {root}"
    return f"searchers from {root} at {commit}{' (modified)' if dirty else ''}"


def _paired(rows, objective, name, key):
    return np.array([r["quality"][key] for r in sorted(rows, key=lambda r: r["seed"])
                     if r["objective"] == objective and r["searcher"] == name])


def _wilcoxon(differences: np.ndarray) -> float | None:
    from scipy.stats import wilcoxon

    if not np.any(differences):
        return None
    return float(wilcoxon(differences).pvalue)


def summarise(rows: list[dict], config: Config) -> dict:
    summary = {}
    last = str(config.checkpoints[-1])
    for objective in config.objectives:
        random = _paired(rows, objective, "random", last) if "random" in config.searchers else None
        for name in config.searchers:
            mine = [r for r in rows if r["objective"] == objective and r["searcher"] == name]
            entry = {"trials": float(np.mean([r["trials"] for r in mine])),
                     "distinct": float(np.mean([r["distinct"] for r in mine])),
                     "seconds": float(np.mean([r["seconds"] for r in mine]))}
            if mine[0]["duplicates"] is not None:
                entry["duplicates"] = float(np.mean([r["duplicates"] for r in mine]))
                entry["fallbacks"] = float(np.mean([r["fallbacks"] for r in mine]))
            for n in config.checkpoints:
                values = _paired(rows, objective, name, str(n))
                entry[str(n)] = {"mean": float(values.mean()), "sem": float(values.std(ddof=1) / np.sqrt(len(values)))}
            if random is not None and name != "random":
                difference = _paired(rows, objective, name, last) - random
                entry["vs_random"] = {"mean_difference": float(difference.mean()), "wins": int((difference > 0).sum()),
                                      "losses": int((difference < 0).sum()), "wilcoxon_p": _wilcoxon(difference)}
            summary[f"{objective}/{name}"] = entry
    return summary


def paired_before_after(before: list[dict], after: list[dict], config: Config) -> dict:
    paired = {}
    last = str(config.checkpoints[-1])
    for objective in config.objectives:
        for name in config.searchers:
            old, new = _paired(before, objective, name, last), _paired(after, objective, name, last)
            if len(old) == len(new) and len(new):
                difference = new - old
                paired[f"{objective}/{name}"] = {"mean_difference": float(difference.mean()),
                                                 "wins": int((difference > 0).sum()),
                                                 "losses": int((difference < 0).sum()),
                                                 "wilcoxon_p": _wilcoxon(difference)}
    return paired


def _cell(entry: dict, key: str, kind: str) -> str:
    value = entry[key]
    return f"{value['mean']:.2f} ± {value['sem']:.2f}" if kind == "nk" else f"{value['mean']:.3f} ± {value['sem']:.3f}"


def _p(value) -> str:
    return "–" if value is None else f"{value:.2g}"


def table(results: dict, config: Config) -> str:
    summary = results["summary"]
    first, last = (str(n) for n in (config.checkpoints[0], config.checkpoints[-1]))
    lines = [f"Searchers, {config.seeds} paired seeds, batch {config.batch}, mode {config.mode} "
             f"({results['code']}). Mean ± standard error over seeds. nk: best accuracy found (%; the optimum is "
             "94.37); zdt1: hypervolume share of the true front (reference 1.1, 1.1). Distinct: distinct archs "
             f"among the {last} trials; repeats: proposals answered without a trial (mean per run).", ""]
    for objective in config.objectives:
        kind = objective.split("-")[0]
        lines += [f"### {objective}", "",
                  f"| searcher | best at {first} | best at {last} | distinct / trials | repeats answered "
                  f"| vs random at {last}: mean diff, wins/losses, Wilcoxon p |", "|---|---|---|---|---|---|"]
        for name in config.searchers:
            e = summary[f"{objective}/{name}"]
            versus = e.get("vs_random")
            versus = (f"{versus['mean_difference']:+.3g}, {versus['wins']}/{versus['losses']}, "
                      f"{_p(versus['wilcoxon_p'])}") if versus else ""
            repeats = f"{e['duplicates']:.0f}" if "duplicates" in e else "– (each a trial)"
            lines.append(f"| {name} | {_cell(e, first, kind)} | {_cell(e, last, kind)} | {e['distinct']:.0f} / "
                         f"{e['trials']:.0f} | {repeats} | {versus} |")
        lines.append("")
    if "before" in results:
        before = results["before"]
        lines += [f"### before ({before['code']}, mode {before['config']['mode']}) and after", "",
                  f"| objective / searcher | before: best at {first} | before: best at {last} | before: distinct / "
                  f"trials | after: best at {last} | after - before at {last}: mean, wins/losses, Wilcoxon p |",
                  "|---|---|---|---|---|---|"]
        for key, paired in before["paired"].items():
            old, new = before["summary"][key], summary[key]
            kind = key.split("-")[0]
            lines.append(f"| {key} | {_cell(old, first, kind)} | {_cell(old, last, kind)} | {old['distinct']:.0f} / "
                         f"{old['trials']:.0f} | {_cell(new, last, kind)} | {paired['mean_difference']:+.3g}, "
                         f"{paired['wins']}/{paired['losses']}, {_p(paired['wilcoxon_p'])} |")
        lines.append("")
    return "\n".join(lines)


def plot_curves(rows: list[dict], config: Config, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(config.objectives), figsize=(5 * len(config.objectives), 4), squeeze=False)
    for axis, objective in zip(axes[0], config.objectives):
        for name in config.searchers:
            curves = [r["curve"] for r in rows if r["objective"] == objective and r["searcher"] == name]
            length = min(len(c) for c in curves)
            mean = np.mean([c[:length] for c in curves], axis=0)
            axis.plot(10 * np.arange(1, length + 1), mean, label=name)
        axis.set_title(objective)
        axis.set_xlabel("queries (trials)")
        axis.set_ylabel("best accuracy (%)" if objective.startswith("nk") else "hypervolume share")
        axis.grid(alpha=0.3)
    axes[0][0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
