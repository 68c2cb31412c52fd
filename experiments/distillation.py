"""Alpha-divergence vs KL vs no in-place distillation (AlphaNet's claim), paired seeds.

    nas experiment distillation --run runs/distillation [--option steps=1500] [--option seeds=[0,1,2]]

One sandwich-trained MobileNetV3 supernet per (loss, seed) on Fashion-MNIST,
the same data order and archs per seed across losses (paired). Each is scored
on the test set, BN recalibrated, for the smallest, the largest and 8 fixed
mid-size subnets. Results: accuracy mean/std per loss and arch, the paired
per-seed differences alpha-KL and alpha-none, and `accuracy.png`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.common import Budget, fixed_archs, train_once, write_results
from nas.definition import get_definition
from nas.inherited_scores import score_archs
from nas.option_bounds import NonNegativeInt, PositiveFloat, PositiveInt
from nas.train.config import TrainConfig


@dataclass(frozen=True)
class Config(Budget):
    losses: tuple = ("alpha", "kl", "none")
    seeds: tuple = (0, 1, 2)
    steps: PositiveInt = 1500
    width_mult: PositiveFloat = 0.5
    num_random: NonNegativeInt = 1
    mid_archs: NonNegativeInt = 8


def train_config(config: Config, loss: str, seed: int) -> TrainConfig:
    return TrainConfig(space="mobilenetv3", space_options={"width_mult": config.width_mult}, steps=config.steps,
                       sampling="sandwich", num_random=config.num_random, distillation=loss, seed=seed,
                       **config.train_settings())


def run(config: Config, run_dir: Path, progress: bool = True) -> dict:
    definition = get_definition("mobilenetv3")
    space = definition.make_space(**definition.resolve_options({"width_mult": config.width_mult}))
    archs = [space.smallest(), *fixed_archs(space, config.mid_archs, seed=1234), space.largest()]
    names = ["smallest", *[f"mid{i}" for i in range(config.mid_archs)], "largest"]
    vectors = np.stack([a.to_vector() for a in archs])
    accuracy = {}
    for seed in config.seeds:
        for loss in config.losses:
            path = run_dir / f"{loss}-seed{seed}"
            train_once(train_config(config, loss, seed), path, progress, config.isolate)
            accuracy[(loss, seed)] = score_archs(path, vectors)
    table = {loss: np.stack([accuracy[(loss, s)] for s in config.seeds]) for loss in config.losses}
    results = {"config": dataclasses.asdict(config), "archs": dict(zip(names, (a.to_string() for a in archs))),
               "accuracy": {loss: {name: {"mean": float(t[:, i].mean()), "std": float(t[:, i].std()),
                                          "per_seed": t[:, i].tolist()} for i, name in enumerate(names)}
                            for loss, t in table.items()}}
    for other in config.losses[1:]:  # paired differences against the first loss
        difference = table[config.losses[0]] - table[other]
        results[f"{config.losses[0]}_minus_{other}"] = {
            "mean_over_archs_and_seeds": float(difference.mean()),
            "per_seed_mean_over_archs": difference.mean(axis=1).tolist(),
            "archs_where_better": int(np.sum(difference.mean(axis=0) > 0))}
    write_results(run_dir, results)
    plot(table, names, run_dir / "accuracy.png")
    return results


def plot(table: dict, names: list, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(table)
    x = np.arange(len(names))
    for offset, (loss, values) in enumerate(table.items()):
        axes.bar(x + offset * width, values.mean(axis=0), width, yerr=values.std(axis=0), label=loss, capsize=2)
    axes.set_xticks(x + width * (len(table) - 1) / 2, names, rotation=30)
    low = min(v.mean(axis=0).min() for v in table.values())
    axes.set_ylim(max(0.0, low - 0.03), None)
    axes.set_ylabel("test accuracy (BN recalibrated)")
    axes.set_title("in-place distillation loss, mean ± std over seeds")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
