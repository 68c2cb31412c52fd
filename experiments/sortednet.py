"""SortedNet: one training run with sorted sub-models, then every sub-model scored against the largest.

    nas experiment sortednet --run runs/sortednet [--option space=mobilenetv3|transformer_lm]

On the MLP space every decision (depth and the nested widths) shares one level;
on MobileNetV3 the widths are the expand ratios (`*expand*`), other decisions
stay at their largest: each sub-model's test accuracy as a fraction of the
largest's (the paper reports >= 96%), `fractions.png`. On the byte-level LM the
sub-models are a grid, depth x width (embedding width, heads and FFN widths share the width
level), trained on the fortunes corpus: each cell's validation bits per
character relative to the largest's, as a heat-map (`heatmap.png`).
Writes `results.json`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.common import Budget, train_once, write_results
from nas.definition import get_definition
from nas.inherited_scores import score_archs
from nas.option_bounds import NonNegativeInt, PositiveInt
from nas.train.config import TrainConfig
from nas.train.sorted_sampling import SortedSampling

AXES = {"mlp": ("*",), "mobilenetv3": ("*expand*",), "transformer_lm": ("depth", "embed_dim,*heads,*ffn_width")}
OPTIONS = {"mlp": {"max_width": 256, "width_steps": 8}, "mobilenetv3": {"width_mult": 0.5}}
# Token spaces train as `nas train` does on text (AdamW, no label smoothing; README "Language model").
TEXT_TRAINING = {"data": "fortunes", "batch_size": 32, "learning_rate": 0.003, "optimizer": "adamw",
                 "label_smoothing": 0.0}


@dataclass(frozen=True)
class Config(Budget):
    space: str = "mlp"
    steps: PositiveInt = 3000
    num_models: PositiveInt = 2
    space_options: tuple = ()  # (name, value) pairs; empty: OPTIONS' for the space
    seed: NonNegativeInt = 0
    # Image defaults of `Budget` for image spaces; None: the space's own (fortunes, batch 32, AdamW 3e-3 for text).
    data: str | None = None
    batch_size: int | None = None
    learning_rate: float | None = None


def run(config: Config, run_dir: Path, progress: bool = True) -> dict:
    definition = get_definition(config.space)
    options = dict(config.space_options) or OPTIONS.get(config.space, {})
    space = definition.make_space(**definition.resolve_options(options))
    axes = AXES.get(config.space, ("*",))
    policy = SortedSampling(config.num_models, tuple(tuple(axis.split(",")) for axis in axes))
    text = definition.inputs == "tokens"
    settings = {**config.train_settings(), **({"optimizer": "adamw", "label_smoothing": 0.0} if text else {})}
    defaults = TEXT_TRAINING if text else {"data": "fashion-mnist", "batch_size": 128, "learning_rate": 0.1}
    settings.update({name: value for name, value in defaults.items() if settings.get(name) is None})
    path = run_dir / "train"
    train_once(TrainConfig(space=config.space, space_options=options, steps=config.steps, sampling="sorted",
                           num_archs=config.num_models, sorted_axes=axes, distillation="none" if text else "alpha",
                           seed=config.seed, **settings), path, progress, config.isolate)
    cells, models = policy.cells(space), policy.models(space)
    results = {"config": dataclasses.asdict(config), "space_options": options, "axes": list(axes),
               "grid_shape": list(policy.grid_shape(space))}
    if text:
        bits = score_archs(path, np.stack(models), split="validation", metric="bits_per_char")
        relative = bits / bits[-1]
        results["sub_models"] = [{"levels": list(cell), "arch": space.from_vector(v).to_string(),
                                  "validation_bits_per_char": float(b), "relative_to_largest": float(r)}
                                 for cell, v, b, r in zip(cells, models, bits, relative)]
        results["worst_relative"] = float(relative.max())
        write_results(run_dir, results)
        plot_grid(relative.reshape(policy.grid_shape(space)), bits.reshape(policy.grid_shape(space)),
                  run_dir / "heatmap.png", space, policy)
        return results
    accuracy = score_archs(path, np.stack(models))
    fractions = accuracy / accuracy[-1]
    results["sub_models"] = [{"level": level, "arch": space.from_vector(v).to_string(), "accuracy": float(a),
                              "fraction_of_largest": float(f)}
                             for level, (v, a, f) in enumerate(zip(models, accuracy, fractions))]
    results.update(min_fraction=float(fractions.min()), all_at_least_96_percent=bool(fractions.min() >= 0.96))
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


def plot_grid(relative: np.ndarray, bits: np.ndarray, path: Path, space, policy: SortedSampling) -> None:
    """Heat-map of a two-axis grid: rows the first axis's levels (depth), columns the second's (width)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = relative.shape
    row_labels = [_level_label(space, policy, (level, columns - 1), 0) for level in range(rows)]
    column_labels = [_level_label(space, policy, (rows - 1, level), 1) for level in range(columns)]
    figure, axes = plt.subplots(figsize=(1.6 * columns + 2, 1.0 * rows + 1.8))
    image = axes.imshow(relative, cmap="viridis_r", origin="lower", aspect="auto")
    for r in range(rows):
        for c in range(columns):
            axes.text(c, r, f"{relative[r, c]:.3f}\n({bits[r, c]:.2f} b/c)", ha="center", va="center",
                      color="white" if relative[r, c] > relative.mean() else "black", fontsize=8)
    axes.set_xticks(range(columns), column_labels, fontsize=8)
    axes.set_yticks(range(rows), row_labels, fontsize=8)
    axes.set_xlabel(" / ".join(policy.axes[1]) + " level")
    axes.set_ylabel(" / ".join(policy.axes[0]) + " level")
    axes.set_title(f"SortedNet {space.name}: validation bits/char relative to the largest")
    figure.colorbar(image, ax=axes, label="bits/char ÷ largest's")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _level_label(space, policy: SortedSampling, cell: tuple[int, int], axis: int) -> str:
    """What a level of `axis` sets, read from the sub-model at `cell` (per-layer names shortened, deduplicated)."""
    import fnmatch

    arch = space.from_vector(policy.model(space, cell))
    parts = []
    for name, value in arch.items():
        part = f"{name.split('.')[-1]}={value}"
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in policy.axes[axis]) and part not in parts:
            parts.append(part)
    return "\n".join(parts) or str(cell[axis])
