"""SortedNet: one training run with sorted sub-models, then each sub-model's accuracy
as a fraction of the largest's (the paper reports >= 96% for its sub-models).

    nas experiment sortednet --run runs/sortednet [--option space=mobilenetv3]

On the MLP space every decision (depth and the nested widths) shares the
level; on MobileNetV3 the widths are the expand ratios (`*expand*`), other
decisions stay at their largest. Writes `results.json` and `fractions.png`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.common import Budget, score_archs, train_once, write_results
from nas.definition import get_definition
from nas.train.config import TrainConfig
from nas.train.sorted_sampling import SortedSampling

DECISIONS = {"mlp": ("*",), "mobilenetv3": ("*expand*",)}
OPTIONS = {"mlp": {"max_width": 256, "width_steps": 8}, "mobilenetv3": {"width_mult": 0.5}}


@dataclass(frozen=True)
class Config(Budget):
    space: str = "mlp"
    steps: int = 3000
    num_models: int = 2
    seed: int = 0


def run(config: Config, run_dir: Path, progress: bool = True) -> dict:
    definition = get_definition(config.space)
    options = OPTIONS.get(config.space, {})
    space = definition.make_space(**definition.resolve_options(options))
    policy = SortedSampling(config.num_models, DECISIONS.get(config.space, ("*",)))
    path = run_dir / "train"
    train_once(TrainConfig(space=config.space, space_options=options, steps=config.steps, sampling="sorted",
                           num_archs=config.num_models, sorted_decisions=policy.decisions, seed=config.seed,
                           **config.train_settings()), path, progress)
    models = policy.models(space)
    accuracy = score_archs(path, np.stack(models))
    fractions = accuracy / accuracy[-1]
    results = {"config": dataclasses.asdict(config), "space_options": options,
               "sub_models": [{"level": level, "arch": space.from_vector(v).to_string(), "accuracy": float(a),
                               "fraction_of_largest": float(f)}
                              for level, (v, a, f) in enumerate(zip(models, accuracy, fractions))],
               "min_fraction": float(fractions.min()), "all_at_least_96_percent": bool(fractions.min() >= 0.96)}
    write_results(run_dir, results)
    plot(fractions, run_dir / "fractions.png", config.space)
    return results


def plot(fractions: np.ndarray, path: Path, space: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot(np.arange(len(fractions)), fractions * 100, "o-")
    axes.axhline(96, color="grey", linestyle="--", label="SortedNet's 96%")
    axes.set_xlabel("sorted sub-model (0 = smallest)")
    axes.set_ylabel("% of the largest's accuracy")
    axes.set_title(f"SortedNet sub-models, {space}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
