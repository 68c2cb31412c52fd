"""`nas latency fit`: train the predictors on part of a collection, report on held-out archs.

Predictors: the per-layer lookup table (only where the collection timed layers), the MLP and the
linear (ridge) model on the arch's one-hot features, the linear model on its per-layer-kind costs
(`layer_cost_predictor`), and FLOPs as a proxy with a fitted linear scale. The
archs are split three ways: a test part held out from everything, and a training part from which a
validation part is cut; each predictor is fitted on the rest of the training part and scored on the
validation archs, the best of them (most within +/-10%, then Kendall tau) is named `best`, and then
every predictor is refitted on the whole training part and scored on the test archs (% within +/-10%
of measured latency, RMSE, Kendall tau, Spearman). Targets of a collection: the raw median latency of
each arch; the anchored latency (its median ratio to the reference arch timed beside it, times the
reference's typical latency over the collection, `anchor_scale`), which cancels a machine that drifts
between groups; the fastest call (min),
robust when other jobs preempt ours; and the min relative to the anchor's min. Imported measurements
(`nas latency import`) have one latency per arch, the median. Writes report.json, scatter.png and one
JSON file per predictor (fitted on the training part, on the chosen target).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.data import with_input_shape
from nas.errors import ConfigError, RunDirError
from nas.hardware.backends import backend_of, no_layers_reason
from nas.hardware.collect import ARCHS_FILE, COLLECTION_RECORD, LAYERS_FILE, META_FILE, read_jsonl
from nas.json_files import read_json_object
from nas.hardware.counters import load_counter
from nas.hardware.flops_proxy import FlopsProxy
from nas.hardware.layer_cost_predictor import LayerCostPredictor
from nas.hardware.linear_predictor import LinearPredictor
from nas.hardware.lut_predictor import LutPredictor
from nas.hardware.metrics import summary
from nas.hardware.mlp_predictor import MlpPredictor, MlpSettings
from nas.hardware.predictor_io import save_predictor

TARGETS = ("anchored", "median", "min", "anchored_min")
KINDS = ("lut", "mlp", "linear", "layer-cost", "flops")
MIN_SAMPLES = 5


def load_collection(run: Path) -> dict:
    if not (run / META_FILE).exists():
        raise RunDirError(f"{run} is not a latency collection (no {META_FILE}); allowed: a --run of nas latency "
                          "collect or nas latency import")
    meta = with_input_shape(read_json_object(run / META_FILE, COLLECTION_RECORD))  # older ones: "image_shape"
    rows = read_jsonl(run / ARCHS_FILE)
    samples = [r for r in rows if r["role"] == "sample"]
    if len(samples) < MIN_SAMPLES:
        raise RunDirError(f"{run} has {len(samples)} measured archs; fitting or retesting needs at least {MIN_SAMPLES} "
                          "(run nas latency collect with a larger --n, or import more rows)")
    for row in samples:
        for key in ("median_ms", "min_ms"):
            if key in row and not _positive_milliseconds(row[key]):
                raise RunDirError(f"{run / ARCHS_FILE}: arch {row.get('arch')!r} has {key}={row[key]!r}; allowed: a "
                                  "positive number of milliseconds (fix or delete that line)")
    vectors = np.array([r["vector"] for r in samples], np.int32)
    median = np.array([r["median_ms"] for r in samples])
    if meta.get("imported"):  # one latency per arch, measured elsewhere: no anchor, no per-call figures
        return {"meta": meta, "vectors": vectors, "targets": {"median": median},
                "layer_ms": {"median": {}, "min": {}}, "noise": {}, "compile_s": None}
    starts = [r for r in rows if r["role"] == "reference_start"]
    ends = [r for r in rows if r["role"] == "reference_end"]
    anchor_ms = anchor_scale(samples)
    anchor_min = starts[0]["min_ms"] if starts else None
    anchored = np.array([r["anchor_ratio"] * anchor_ms if "anchor_ratio" in r and anchor_ms else r["median_ms"]
                         for r in samples])
    fastest = np.array([r["min_ms"] for r in samples])
    anchored_min = np.array([r["min_ms"] / r["anchor_min_ms"] * anchor_min if "anchor_min_ms" in r and anchor_min
                             else r["min_ms"] for r in samples])
    return {"meta": meta, "vectors": vectors,
            "targets": {"median": median, "anchored": anchored, "min": fastest, "anchored_min": anchored_min},
            "layer_ms": {stat: {r["key"]: r[f"{stat}_ms"] for r in read_jsonl(run / LAYERS_FILE)}
                         for stat in ("median", "min")},
            "noise": _noise(starts, ends), "compile_s": float(np.median([r["compile_s"] for r in samples]))}


def _positive_milliseconds(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and value > 0)


def anchor_scale(samples) -> float | None:
    """The anchor's typical latency over a collection: the median over its archs of median / anchor_ratio
    (the anchor's latency beside each group). One timing of the reference arch alone would do, but its
    median moved by up to 1.5x between two collections on a shared machine (min by 3%), and with it every
    anchored latency; ranks do not depend on the scale, within +/-10% and RMSE do."""
    beside = [r["median_ms"] / r["anchor_ratio"] for r in samples if r.get("anchor_ratio")]
    return float(np.median(beside)) if beside else None


def _noise(starts, ends) -> dict:
    if not starts or not ends:
        return {}
    start, end = starts[0], ends[-1]
    return {"reference_arch": start["arch"], "start_ms": start["median_ms"], "end_ms": end["median_ms"],
            "relative_change": (end["median_ms"] - start["median_ms"]) / start["median_ms"],
            "start_min_ms": start["min_ms"], "end_min_ms": end["min_ms"],
            "relative_change_min": (end["min_ms"] - start["min_ms"]) / start["min_ms"],
            "start_spread": start["spread"], "end_spread": end["spread"]}


def collection_counter(run: Path, meta: dict):
    counter = load_counter(meta["space_spec"], meta["options"], tuple(meta["input_shape"]))
    if counter.space.fingerprint() != meta["space_fingerprint"]:
        raise RunDirError(f"{run} was collected on space {meta['space']!r} v{meta['version']} "
                          f"(fingerprint {meta['space_fingerprint']}), the code now defines fingerprint "
                          f"{counter.space.fingerprint()}; allowed: collect (or import) again for this space version")
    return counter


def split(n: int, train_fraction: float, validation_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """(fit, validation, test) indices: the test part is held out from everything; the validation part,
    cut from the training part, chooses the best predictor; each part has at least one arch."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = min(max(int(round(train_fraction * n)), 2), n - 1)
    n_validation = min(max(int(round(validation_fraction * n_train)), 1), n_train - 1)
    return order[n_validation:n_train], order[:n_validation], order[n_train:]


def _rank_key(metrics: dict) -> tuple:
    return metrics["within_10pct"], metrics["kendall_tau"] if metrics["kendall_tau"] is not None else -1.0


def fit(run_path: str | Path, out_dir: str | Path | None = None, *, train_fraction: float = 0.8,
        validation_fraction: float = 0.2, seed: int = 0, target: str | None = None,
        mlp: MlpSettings = MlpSettings(), mlp_steps: int | None = None, ridge_alpha: float | None = None,
        targets: tuple[str, ...] = TARGETS) -> dict:
    """Fit every predictor the collection allows; choose the best on a validation split of the training
    archs (refitted on the whole training part), report all on the held-out test archs.

    `target` defaults to anchored (imported measurements: median, their only one); `mlp_steps` overrides
    `mlp.steps`; `ridge_alpha=None` lets the linear model choose its own by leave-one-out.
    """
    run = Path(run_path)
    out = Path(out_dir) if out_dir else run / "fit"
    data = load_collection(run)
    meta = data["meta"]
    available = data["targets"]
    target = target or ("anchored" if "anchored" in available else "median")
    if target not in available:
        raise ConfigError(f"--target {target} is not measured in {run}"
                          f"{' (imported: one latency per arch)' if meta.get('imported') else ''}; "
                          f"allowed: {', '.join(available)}")
    if mlp_steps is not None:
        mlp = dataclasses.replace(mlp, steps=mlp_steps)
    counter = collection_counter(run, meta)
    vectors = data["vectors"]
    fit_part, validation, test = split(len(vectors), train_fraction, validation_fraction, seed)
    train = np.concatenate([fit_part, validation])

    def make(kind, target_name):
        if kind == "lut":  # layers timed by the same statistic as the target
            return LutPredictor(counter, data["layer_ms"]["min" if "min" in target_name else "median"])
        if kind == "mlp":
            return MlpPredictor.create(counter.space, hidden=mlp.hidden, seed=seed)
        if kind == "linear":
            return LinearPredictor(counter.space)
        if kind == "layer-cost":
            return LayerCostPredictor(counter)
        return FlopsProxy(counter)

    def fitted(kind, target_name, index):
        predictor, y = make(kind, target_name), available[target_name][index]
        if kind == "mlp":
            return predictor.fit(vectors[index], y, steps=mlp.steps, learning_rate=mlp.learning_rate,
                                 weight_decay=mlp.weight_decay, seed=seed)
        if kind in ("linear", "layer-cost"):
            return predictor.fit(vectors[index], y, alpha=ridge_alpha)
        return predictor.fit(vectors[index], y)

    skipped = {} if data["layer_ms"]["median"] else {"lut": no_layers_reason(meta)}
    kinds = [k for k in KINDS if k not in skipped]
    y = available[target]
    selection, on_fit_part = {}, {}
    for kind in kinds:  # choose on the validation archs, with predictors fitted on the rest of the training part
        predictor = fitted(kind, target, fit_part)
        selection[kind] = summary(np.asarray(predictor(vectors[validation]), float), y[validation])
        on_fit_part[kind] = summary(np.asarray(predictor(vectors[fit_part]), float), y[fit_part])
    best = max(kinds, key=lambda k: _rank_key(selection[k]))

    results, final, held_out = {}, {}, {}
    for name in dict.fromkeys((target, *(t for t in targets if t in available))):
        results[name] = {}
        for kind in kinds:
            predictor = fitted(kind, name, train)
            predicted = np.asarray(predictor(vectors[test]), float)
            results[name][kind] = summary(predicted, available[name][test])
            if name == target:
                final[kind], held_out[kind] = predictor, predicted
    out.mkdir(parents=True, exist_ok=True)
    for kind, predictor in final.items():
        save_predictor(out / f"{kind}.json", predictor, space_spec=meta["space_spec"], options=meta["options"],
                       input_shape=meta["input_shape"], batch=meta["batch"], device=meta["device"],
                       device_fingerprint=meta["device_fingerprint"], metrics=results[target][kind],
                       backend=backend_of(meta))
    report = {"run": str(run), "space": meta["space"], "version": meta["version"], "backend": backend_of(meta),
              "threads": meta.get("threads"), "batch": meta["batch"],
              "input_shape": meta["input_shape"], "device": meta["device"], "imported": meta.get("imported"),
              "n_train": int(len(train)), "n_validation": int(len(validation)), "n_test": int(len(test)),
              "target": target, "best": best,
              "selection": {"rule": "most validation archs within 10%, then Kendall tau; the chosen kind is refitted "
                                    "on the whole training part (validation included) and scored on the test archs",
                            "validation": selection, "fit_part": on_fit_part},
              "results": results, "skipped": skipped,
              "settings": {"mlp": dataclasses.asdict(mlp),
                           **({"ridge_alpha": final["linear"].alpha} if "linear" in final else {})},
              "noise": data["noise"], "median_compile_s": data["compile_s"],
              "predictors": {k: str(out / f"{k}.json") for k in final}}
    write_json_atomically(out / "report.json", report, indent=1)
    _scatter(out / "scatter.png", held_out, y[test], results[target], meta, target)
    return report


def device_label(device) -> str:
    """A device record in a few words; a record from elsewhere may lack any field (an imported one has a name)."""
    device = device if isinstance(device, dict) else {}
    parts = [str(device[key]) for key in ("name", "cpu_model", "device_kind") if device.get(key)][:1]
    if device.get("threads"):
        parts.append(f"{device['threads']} thread(s)")
    return ", ".join(parts) or "unknown device"


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
    fig.suptitle(f"{meta['space']} v{meta['version']}, {backend_of(meta) or 'imported'}, "
                 f"{'x'.join(map(str, meta['input_shape']))}, batch {meta['batch']}, {device_label(meta.get('device'))}; "
                 f"held-out archs, target: {target} latency", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
