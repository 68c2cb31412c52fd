"""Plots of a search: accuracy against each cost metric (one PNG per pair), and hypervolume per trial.

Every evaluated arch is a dot (infeasible ones crossed), the feasible front a line,
the archs exported from the run (`RUN/exports/*/arch.json`) stars with their names,
each budget a dashed line. Axes name what a metric counts, with its unit (`macs` is
multiply-adds per example), and a score the split it was measured on ("validation accuracy").
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nas.pareto import hypervolume_history, pareto_front
from nas.search.objectives import minimised, parse_constraint, parse_objective

PLOTS_DIR = "plots"
# What each metric is, with its unit, on an axis; any other metric is labelled by its name.
METRIC_LABELS = {"macs": "multiply-adds per example", "params": "parameters", "latency": "latency (ms)",
                 "accuracy": "accuracy", "bits_per_char": "bits per character"}
# Metrics measured on a data split (the others are properties of the arch).
SCORED_METRICS = ("accuracy", "bits_per_char")


def axis_label(metric: str, split: str | None = None) -> str:
    """`multiply-adds per example` for macs; `validation accuracy` for accuracy scored on the validation split."""
    label = METRIC_LABELS.get(metric, metric)
    return f"{split} {label}" if split and metric in SCORED_METRICS else label


def exported_archs(directory: Path) -> dict[str, str]:
    """Canonical arch string -> export name, for every export of the run."""
    found = {}
    for arch_file in sorted((directory / "exports").glob("*/arch.json")):
        try:
            found[json.loads(arch_file.read_text())["arch_string"]] = arch_file.parent.name
        except (json.JSONDecodeError, KeyError):
            continue
    return found


def plot_search(directory: str | Path, records, objectives, reference=None, out_dir: str | Path | None = None,
                constraints=(), split: str | None = None) -> list[Path]:
    """Writes the PNGs; returns their paths. `objectives` and `constraints` as given to the search
    (e.g. accuracy:max, params<=50000); each budget is a dashed line on its metric's axis. `split`: the data
    split the scores were measured on (named on their axes; none for a black-box objective)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    out = Path(out_dir) if out_dir else directory / PLOTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    objectives = [parse_objective(o) for o in objectives]
    constraints = [parse_constraint(c) for c in constraints]
    if not records:
        return []
    exported = exported_archs(directory)
    metric_names = list(records[0].metrics)
    quality = next((o.metric for o in objectives if o.direction == "max"), objectives[0].metric)
    quality_max = next(o.direction for o in objectives if o.metric == quality) == "max"
    costs = [m for m in metric_names if m != quality]
    feasible = np.array([r.feasible for r in records])
    paths = []
    for cost in costs:
        x = np.array([r.metrics[cost] for r in records], float)
        y = np.array([r.metrics[quality] for r in records], float)
        figure, axes = plt.subplots(figsize=(6, 4.5))
        axes.scatter(x[feasible], y[feasible], s=12, color="tab:blue", alpha=0.6, label="feasible")
        if (~feasible).any():
            axes.scatter(x[~feasible], y[~feasible], s=14, color="tab:gray", marker="x", alpha=0.6, label="infeasible")
        if feasible.any():
            points = np.stack([x[feasible], -y[feasible] if quality_max else y[feasible]], axis=1)
            front = pareto_front(points)
            order = front[np.argsort(points[front, 0])]
            axes.step(x[feasible][order], y[feasible][order], where="post", color="tab:red", label="front")
        labelled = set()
        for i, record in enumerate(records):
            name = exported.get(record.arch)
            if name is not None and record.arch not in labelled:
                labelled.add(record.arch)
                axes.scatter([x[i]], [y[i]], s=160, marker="*", color="gold", edgecolor="black", zorder=5)
                axes.annotate(name, (x[i], y[i]), textcoords="offset points", xytext=(6, 6), fontsize=8)
        for constraint in constraints:
            if constraint.metric == cost:
                axes.axvline(constraint.budget, color="black", linestyle="--", linewidth=1,
                             label=f"budget <= {constraint.budget:g}")  # the axis names the metric
        axes.set_xlabel(axis_label(cost, split))
        axes.set_ylabel(axis_label(quality, split))
        axes.set_title(f"{axis_label(quality, split)} vs {axis_label(cost, split)}: {len(records)} trials, "
                       f"{int(feasible.sum())} feasible", fontsize=10)
        axes.legend(loc="best", fontsize=8)
        axes.grid(alpha=0.3)
        path = out / f"{quality}_vs_{cost}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
        paths.append(path)
    if reference is not None and len(objectives) <= 3:
        points = minimised(objectives, [r.metrics for r in records])
        points[~feasible] = np.inf  # infeasible trials add nothing
        history = hypervolume_history(points, reference)
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot([r.number for r in records], history, color="tab:green")
        axes.set_xlabel("trial")
        axes.set_ylabel("hypervolume (feasible)")
        axes.set_title(" / ".join(f"{axis_label(o.metric, split)} ({o.direction})" for o in objectives), fontsize=10)
        axes.grid(alpha=0.3)
        path = out / "hypervolume.png"
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
        paths.append(path)
    return paths
