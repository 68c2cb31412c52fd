"""`nas latency fit`: train the predictors on part of a collection, report on held-out archs.

For each predictor (lookup table, MLP, and FLOPs as a proxy with a fitted linear scale):
% of held-out archs within +/-10% of measured latency, RMSE and Kendall tau, for two
targets: the raw median latency of each arch; the anchored latency (its median ratio to
the reference arch timed beside it, times the reference's latency), which cancels a machine
that drifts between groups; the fastest call (min), robust when other jobs preempt ours;
and the min relative to the anchor's min. Writes report.json, scatter.png and one JSON file per
predictor (fitted on the training part, on the chosen target).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nas.errors import RunDirError
from nas.hardware.collect import ARCHS_FILE, LAYERS_FILE, META_FILE, read_jsonl
from nas.hardware.counters import load_counter
from nas.hardware.flops_proxy import FlopsProxy
from nas.hardware.lut_predictor import LutPredictor
from nas.hardware.metrics import summary
from nas.hardware.mlp_predictor import MlpPredictor
from nas.hardware.predictor_io import save_predictor

TARGETS = ("anchored", "median", "min", "anchored_min")
MIN_SAMPLES = 5


def load_collection(run: Path) -> dict:
    if not (run / META_FILE).exists():
        raise RunDirError(f"{run} is not a latency collection (no {META_FILE}); allowed: a --run of nas latency collect")
    meta = json.loads((run / META_FILE).read_text())
    rows = read_jsonl(run / ARCHS_FILE)
    samples = [r for r in rows if r["role"] == "sample"]
    if len(samples) < MIN_SAMPLES:
        raise RunDirError(f"{run} has {len(samples)} measured archs; fit needs at least {MIN_SAMPLES} "
                          "(run nas latency collect with a larger --n)")
    starts = [r for r in rows if r["role"] == "reference_start"]
    ends = [r for r in rows if r["role"] == "reference_end"]
    anchor_ms = starts[0]["median_ms"] if starts else None
    anchor_min = starts[0]["min_ms"] if starts else None
    median = np.array([r["median_ms"] for r in samples])
    anchored = np.array([r["anchor_ratio"] * anchor_ms if "anchor_ratio" in r and anchor_ms else r["median_ms"]
                         for r in samples])
    fastest = np.array([r["min_ms"] for r in samples])
    anchored_min = np.array([r["min_ms"] / r["anchor_min_ms"] * anchor_min if "anchor_min_ms" in r and anchor_min
                             else r["min_ms"] for r in samples])
    return {"meta": meta, "vectors": np.array([r["vector"] for r in samples], np.int32),
            "targets": {"median": median, "anchored": anchored, "min": fastest, "anchored_min": anchored_min},
            "layer_ms": {stat: {r["key"]: r[f"{stat}_ms"] for r in read_jsonl(run / LAYERS_FILE)}
                         for stat in ("median", "min")},
            "noise": _noise(starts, ends), "compile_s": float(np.median([r["compile_s"] for r in samples]))}


def _noise(starts, ends) -> dict:
    if not starts or not ends:
        return {}
    start, end = starts[0], ends[-1]
    return {"reference_arch": start["arch"], "start_ms": start["median_ms"], "end_ms": end["median_ms"],
            "relative_change": (end["median_ms"] - start["median_ms"]) / start["median_ms"],
            "start_min_ms": start["min_ms"], "end_min_ms": end["min_ms"],
            "relative_change_min": (end["min_ms"] - start["min_ms"]) / start["min_ms"],
            "start_spread": start["spread"], "end_spread": end["spread"]}


def fit(run_path: str | Path, out_dir: str | Path | None = None, *, train_fraction: float = 0.8,
        seed: int = 0, target: str = "anchored", mlp_steps: int = 3000,
        targets: tuple[str, ...] = TARGETS) -> dict:
    run = Path(run_path)
    out = Path(out_dir) if out_dir else run / "fit"
    data = load_collection(run)
    meta = data["meta"]
    counter = load_counter(meta["space_spec"], meta["options"], tuple(meta["image_shape"]))
    if counter.space.fingerprint() != meta["space_fingerprint"]:
        raise RunDirError(f"{run} was collected on space {meta['space']!r} v{meta['version']} "
                          f"(fingerprint {meta['space_fingerprint']}), the code now defines fingerprint "
                          f"{counter.space.fingerprint()}; allowed: collect again for this space version")
    vectors = data["vectors"]
    order = np.random.default_rng(seed).permutation(len(vectors))
    n_train = int(round(train_fraction * len(vectors)))
    train, test = order[:n_train], order[n_train:]

    def make(kind, target_name):
        if kind == "lut":  # layers timed by the same statistic as the target
            return LutPredictor(counter, data["layer_ms"]["min" if "min" in target_name else "median"])
        if kind == "mlp":
            return MlpPredictor.create(counter.space, seed=seed)
        return FlopsProxy(counter)

    kinds = [k for k in ("lut", "mlp", "flops") if k != "lut" or data["layer_ms"]["median"]]
    results, fitted, held_out = {}, {}, {}
    for name in dict.fromkeys((target, *targets)):
        y = data["targets"][name]
        results[name] = {}
        for kind in kinds:
            predictor = make(kind, name)
            predictor = predictor.fit(vectors[train], y[train], steps=mlp_steps, seed=seed) if kind == "mlp" \
                else predictor.fit(vectors[train], y[train])
            predicted = np.asarray(predictor(vectors[test]), float)
            results[name][kind] = summary(predicted, y[test])
            if name == target:
                fitted[kind], held_out[kind] = predictor, predicted
    best = max((k for k in kinds if k != "flops"), key=lambda k: (results[target][k]["within_10pct"],
                                                                 results[target][k]["kendall_tau"] or -1.0))
    out.mkdir(parents=True, exist_ok=True)
    for kind, predictor in fitted.items():
        save_predictor(out / f"{kind}.json", predictor, space_spec=meta["space_spec"], options=meta["options"],
                       image_shape=meta["image_shape"], batch=meta["batch"], device=meta["device"],
                       device_fingerprint=meta["device_fingerprint"], metrics=results[target][kind])
    report = {"run": str(run), "space": meta["space"], "version": meta["version"], "batch": meta["batch"],
              "image_shape": meta["image_shape"], "device": meta["device"], "n_train": int(len(train)),
              "n_test": int(len(test)), "target": target, "best": best, "results": results,
              "noise": data["noise"], "median_compile_s": data["compile_s"],
              "predictors": {k: str(out / f"{k}.json") for k in fitted}}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    _scatter(out / "scatter.png", held_out, data["targets"][target][test], results[target], meta, target)
    return report


def _scatter(path: Path, predicted: dict, measured: np.ndarray, metrics: dict, meta: dict, target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(predicted), figsize=(4.2 * len(predicted), 4.2), squeeze=False)
    lo, hi = float(measured.min()) * 0.85, float(measured.max()) * 1.15
    line = np.array([lo, hi])
    for ax, (kind, values) in zip(axes[0], predicted.items()):
        ax.scatter(measured, values, s=10)
        ax.plot(line, line, "k-", lw=0.8)
        ax.plot(line, line * 1.1, "k--", lw=0.6)
        ax.plot(line, line * 0.9, "k--", lw=0.6)
        m = metrics[kind]
        tau = "n/a" if m["kendall_tau"] is None else f"{m['kendall_tau']:.2f}"
        ax.set_title(f"{kind}: {100 * m['within_10pct']:.0f}% in ±10%, tau {tau}")
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("predicted latency (ms)")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    fig.suptitle(f"{meta['space']} v{meta['version']}, batch {meta['batch']}, {meta['device']['cpu_model']}, "
                 f"{meta['device']['threads']} thread(s); held-out archs, target: {target} latency",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
