"""Measurement against re-measurement, and the layer-cost predictor against both, over pairs of collections.

    .venv/bin/python experiments/results/latency-sessions/compare.py OUT.json LABEL=FIRST,SECOND ...

FIRST and SECOND are two `nas latency collect` runs of the same archs (same seed and n), measured in
separate processes at different times. Per pair, on the anchored target:
- retest: Kendall tau of SECOND against FIRST over every shared arch, and over the held-out archs of
  each of the `SPLITS` train/test splits (`nas latency fit`'s split, 80/20) averaged;
- the layer-cost predictor fitted on FIRST's training archs of a split, Kendall tau on its held-out archs
  against FIRST (what `nas latency fit` reports) and against SECOND (a fresh measurement of them);
- the sd of log(SECOND/FIRST): the noise of one measurement is about that over sqrt(2).
A predictor cannot rank a fresh measurement better than a re-measurement ranks it (retest on held-out).
"""
import json
import sys
from pathlib import Path

import numpy as np

from nas.hardware.layer_cost_predictor import LayerCostPredictor
from nas.hardware.metrics import kendall_tau
from nas.hardware.report import collection_counter, load_collection, split

SPLITS = 20


def compare(first: Path, second: Path) -> dict:
    a, b = load_collection(first), load_collection(second)
    if not np.array_equal(a["vectors"], b["vectors"]):
        raise SystemExit(f"{first} and {second} measured different archs (or in another order): same --seed and --n")
    ya, yb = a["targets"]["anchored"], b["targets"]["anchored"]
    counter = collection_counter(first, a["meta"])
    held_retest, on_first, on_second = [], [], []
    for seed in range(SPLITS):
        fit_part, validation, test = split(len(ya), 0.8, 0.2, seed)
        train = np.concatenate([fit_part, validation])
        predicted = np.asarray(LayerCostPredictor(counter).fit(a["vectors"][train], ya[train])(a["vectors"][test]))
        held_retest.append(kendall_tau(yb[test], ya[test]))
        on_first.append(kendall_tau(predicted, ya[test]))
        on_second.append(kendall_tau(predicted, yb[test]))
    log_ratio = np.log(yb / ya)
    figure = lambda values: {"mean": float(np.mean(values)), "sd": float(np.std(values))}
    return {"first": str(first), "second": str(second), "archs": int(len(ya)),
            "sessions": [a["meta"].get("sessions", 1), b["meta"].get("sessions", 1)],
            "repeats": [a["meta"]["repeats"], b["meta"]["repeats"]],
            "median_ms": [float(np.median(ya)), float(np.median(yb))],
            "retest_tau_all": float(kendall_tau(yb, ya)), "retest_tau_held_out": figure(held_retest),
            "log_ratio_sd": float(np.std(log_ratio)), "scale_second_over_first": float(np.exp(np.median(log_ratio))),
            "layer_cost_tau_vs_first": figure(on_first), "layer_cost_tau_vs_second": figure(on_second)}


def main(out: str, *pairs: str) -> None:
    results = {}
    for pair in pairs:
        label, _, paths = pair.partition("=")
        first, second = paths.split(",")
        results[label] = compare(Path(first), Path(second))
        print(label, json.dumps(results[label]))
    Path(out).write_text(json.dumps({"splits": SPLITS, "pairs": results}, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
