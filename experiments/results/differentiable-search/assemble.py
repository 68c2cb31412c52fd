"""Assemble the differentiable_search experiment's results from the sub-runs that finished, without starting any.

The recorded run could not finish every method and seed on the shared machine in its time (README.md). This
reads what the experiment's own processes left in RUN/latency/ (budget_only layout): every search with a
result.json, its stand-alone training where summary.json exists, each method's step cost where the experiment
measured it (else measured here, `--step-cost`, from the persistent compilation cache), measures the derived
archs with the smallest and largest beside them in one child process (the experiment's `latency_report`), and
writes results.json, table.md, accuracy.png and latency.png as `nas experiment differentiable_search` would,
each row marked with what it holds.

    python experiments/results/differentiable-search/assemble.py RUN PREDICTOR OUT [--step-cost]
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

from experiments import differentiable_search as experiment
from nas.differentiable.search_run import METHODS


def main(run: Path, predictor: str, out: Path, measure_steps: bool) -> None:
    config = experiment.Config(spaces=("mobilenetv3",), latency_predictor=predictor, budget_only=True)
    budget = experiment.latency_setup(config)
    root = run / "latency"
    methods, missing = {}, []
    for method in METHODS:
        rows = []
        for seed in config.seeds:
            search_config = config.search_config("mobilenetv3", method, seed, budget_ms=budget["budget_ms"])
            path = root / f"{method}-seed{seed}"
            if not (path / "result.json").exists():
                missing.append(f"{method} seed {seed}: search not finished")
                continue
            arch = json.loads((path / "result.json").read_text())["arch_string"]
            standalone = root / "standalone" / f"{hashlib.sha1(arch.encode()).hexdigest()[:12]}-seed{seed}"
            trained = (standalone / "summary.json").exists()
            if not trained:
                missing.append(f"{method} seed {seed}: stand-alone training not finished")
            rows.append(experiment.search_and_train(config, search_config, path, root / "standalone", False, trained))
        if not rows:
            continue
        step_file = root / f"{method}-step.json"
        step = json.loads(step_file.read_text()) if step_file.exists() else None
        if step is None and measure_steps:
            step = experiment.step_cost(config.search_config("mobilenetv3", method, 0, budget_ms=budget["budget_ms"]),
                                        step_file)
        methods[method] = experiment.summarise(rows, step)
    spaces = {"mobilenetv3": {"options": config.options("mobilenetv3"),
                              "search_steps": config.steps("mobilenetv3", "search_steps"),
                              "standalone_steps": config.steps("mobilenetv3", "standalone_steps"),
                              "under_latency_budget": True, "methods": methods}}
    latency = experiment.latency_report(config, budget, methods, root, print)
    results = {**experiment.headline(spaces, latency), "config": dataclasses.asdict(config), "spaces": spaces,
               "latency": latency, "not_finished": missing}
    out.mkdir(parents=True, exist_ok=True)
    experiment.write_results(out, results)
    (out / "table.md").write_text(experiment.table(spaces, latency))
    experiment.plot_accuracy(spaces, out / "accuracy.png")
    experiment.plot_latency(latency, out / "latency.png")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--step-cost"]
    if len(arguments) != 3:
        sys.exit(__doc__)
    main(Path(arguments[0]), arguments[1], Path(arguments[2]), "--step-cost" in sys.argv)
