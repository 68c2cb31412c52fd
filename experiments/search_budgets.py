"""Search under three cost budgets, export the winners, compare with random feasible archs.

    python -c "from experiments.search_budgets import Config, run; run(Config(), 'runs/search-budgets')"

Trains (or resumes) a sandwich supernet (largest, `num_random` random, smallest), then for each budget
(`fractions` of the way from the smallest arch's cost to the largest's) searches with
`searcher` for the most accurate arch within it (validation split, inherited weights, BN
recalibrated), exports the winner (stand-alone model: test accuracy measured on the
export) and scores `random_archs` random archs within the same budget on the test split.
The cost `metric` is `macs` (analytic multiply-adds), or `latency` with a predictor file
from `nas latency fit`. Writes results.json, the table and one front plot per budget.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.common import Budget, train_once, write_results
from nas.inherited_scores import score_archs
from nas.option_bounds import NonNegativeInt, PositiveInt
from nas.train.config import TrainConfig


@dataclass(frozen=True)
class Config(Budget):
    space: str = "mobilenetv3"
    space_options: tuple = (("width_mult", 0.5),)
    supernet_steps: PositiveInt = 1800
    num_random: NonNegativeInt = 2  # sandwich: random subnets per step (0 trains only the two extremes well)
    metric: str = "macs"
    latency_predictor: str | None = None
    fractions: tuple = (0.2, 0.4, 0.7)
    searcher: str = "evolution"
    trials: PositiveInt = 64
    batch: PositiveInt = 8
    search_images: PositiveInt = 2000  # validation images each candidate is scored on
    random_archs: NonNegativeInt = 20
    seed: NonNegativeInt = 0


def run(config: Config, run_dir: str | Path, progress: bool = True) -> dict:
    from nas.export import export_subnets, not_yet_exported
    from nas.search import SearchConfig, SupernetEvaluator, run_search
    from nas.search.plot import plot_search

    run_dir = Path(run_dir)
    supernet = run_dir / "supernet"
    train_once(TrainConfig(space=config.space, space_options=dict(config.space_options), steps=config.supernet_steps,
                           sampling="sandwich", num_random=config.num_random, distillation="none", seed=config.seed,
                           **config.train_settings()), supernet, progress, config.isolate)
    evaluator = SupernetEvaluator(supernet, limit=config.search_images, latency_predictor=config.latency_predictor)
    cost = evaluator.cheap_metrics[config.metric]
    space = evaluator.space
    low, high = cost(space.smallest()), cost(space.largest())
    rng = np.random.default_rng(config.seed)
    rows = []
    for index, fraction in enumerate(config.fractions):
        budget = low + fraction * (high - low)
        study = f"budget-{index}"
        result = run_search(evaluator, supernet, SearchConfig(
            searcher=config.searcher, trials=config.trials, batch=config.batch, seed=config.seed, study=study,
            objectives=("accuracy:max", f"{config.metric}:min"), constraints=(f"{config.metric}<={budget!r}",)),
            progress=progress)
        best = result.best()
        export_subnets(supernet, not_yet_exported(supernet, [best.arch]), progress=progress)
        report = _export_report(supernet, best.arch)
        randoms = []
        while len(randoms) < config.random_archs:
            arch = space.sample(rng)
            if cost(arch) <= budget and arch not in randoms:
                randoms.append(arch)
        random_test = score_archs(supernet, np.stack([a.to_vector() for a in randoms]), split="test",
                                  execution=evaluator.execution)
        rows.append({"budget": budget, "metric": config.metric, "winner": best.arch,
                     "winner_cost": best.metrics[config.metric], "winner_validation": best.metrics["accuracy"],
                     "winner_test_standalone": report["test_accuracy"],
                     "random_test_mean": float(random_test.mean()), "random_test_max": float(random_test.max()),
                     "random_test_min": float(random_test.min()),
                     "random_below_winner": float(np.mean(random_test < report["test_accuracy"])),
                     "trials": len(result.records), "feasible": len(result.feasible),
                     "hypervolume": result.hypervolume()})
        plot_search(supernet, result.records, result.objectives, result.reference, run_dir / "plots" / study,
                    result.constraints)
    results = {"config": dataclasses.asdict(config), "budgets": rows}
    write_results(run_dir, results)
    (run_dir / "table.md").write_text(table(rows))
    return results


def _export_report(supernet: Path, arch_string: str) -> dict:
    for arch_file in (supernet / "exports").glob("*/arch.json"):
        if json.loads(arch_file.read_text())["arch_string"] == arch_string:
            return json.loads((arch_file.parent / "report.json").read_text())
    raise FileNotFoundError(f"no export of {arch_string} under {supernet / 'exports'}")


def table(rows: list[dict]) -> str:
    lines = ["| budget | winner cost | winner val acc | winner test acc (export) | random test acc mean [min, max] "
             "| random below winner |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['metric']}<={r['budget']:.4g} | {r['winner_cost']:.4g} | {r['winner_validation']:.4f} "
                     f"| {r['winner_test_standalone']:.4f} | {r['random_test_mean']:.4f} [{r['random_test_min']:.4f}, "
                     f"{r['random_test_max']:.4f}] | {r['random_below_winner']:.0%} |")
    return "\n".join(lines) + "\n"
