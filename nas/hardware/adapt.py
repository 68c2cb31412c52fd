"""Few-sample adaptation of latency predictors to a new device (`nas latency adapt`).

HELP (Lee et al. 2021) characterises a device by the latencies of a few reference archs measured on it
and meta-learns a predictor that adapts from 10 of them. We keep its premise, that devices share most of
their structure, with a model that needs no meta-training: the new device's latency is a combination of
predictors already fitted on other devices (each with many measurements), plus a small per-feature
correction on the same one-hot features as the linear model:

    latency_ms(arch) = b + sum_d c_d * source_d(arch) + features(arch) @ delta

fitted in closed form by ridge on the few measured archs: the coefficients c are pulled towards an
equal mix of the sources rescaled to the new device's mean latency, delta towards zero; the two ridge
strengths are chosen by exact leave-one-out error among `SOURCE_ALPHAS` x `ALPHAS`. With few archs
it is the sources rescaled; with more, it learns which source the device resembles and where it differs.

`adaptation_curve` measures what that buys: for k archs of the new device drawn at random (repeated),
Kendall tau and Spearman on the rest of its archs for the adapted predictor, the sources rescaled alone,
a linear model and a FLOPs proxy fitted on the same k archs only, and the sources with no target data.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nas.hardware.features import RelaxedFeatures
from nas.hardware.linear_predictor import ALPHAS, ridge_fit, ridge_solve
from nas.hardware.metrics import summary

SOURCE_ALPHAS = (1e-3, 1e-1, 1e1, 1e3, 1e5)
MIN_ARCHS = 3


def _design(source_predictions: np.ndarray, features: np.ndarray, source_alpha: float, feature_alpha: float,
            prior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns scaled so one ridge strength of 1 is `source_alpha` on c and `feature_alpha` on delta."""
    scale = np.concatenate([np.full(source_predictions.shape[1], source_alpha ** -0.5),
                            np.full(features.shape[1], feature_alpha ** -0.5)])
    design = np.concatenate([source_predictions, features], axis=1) * scale
    return design, scale, prior / scale


def fit_adapted(source_predictions, features, latency_ms) -> dict:
    """{"coefficients", "delta", "bias", "source_alpha", "feature_alpha"} from the few measured archs.

    `source_predictions` [n, D]: each source predictor on the measured archs; `features` [n, F]."""
    s = np.asarray(source_predictions, np.float64)
    x = np.asarray(features, np.float64)
    y = np.asarray(latency_ms, np.float64)
    n_sources = s.shape[1]
    # An equal mix of the sources, rescaled to this device's mean latency: what c is pulled towards.
    mix = np.full(n_sources, y.mean() / max(float(s.mean()), 1e-12) / n_sources)
    prior = np.concatenate([mix, np.zeros(x.shape[1])])
    best = None
    grid = [(a, f) for a in SOURCE_ALPHAS for f in ALPHAS] if len(y) >= MIN_ARCHS else [(SOURCE_ALPHAS[1], ALPHAS[-1])]
    for source_alpha, feature_alpha in grid:
        design, scale, scaled_prior = _design(s, x, source_alpha, feature_alpha, prior)
        w, b, loo = ridge_fit(design, y, 1.0, scaled_prior)
        if best is None or (np.isfinite(loo) and loo < best[0]):
            best = (loo, w * scale, b, source_alpha, feature_alpha)
    _, w, b, source_alpha, feature_alpha = best
    return {"coefficients": w[:n_sources], "delta": w[n_sources:], "bias": float(b),
            "source_alpha": source_alpha, "feature_alpha": feature_alpha}


class AdaptedPredictor:
    kind = "adapted"

    def __init__(self, space, sources: Sequence, documents: Sequence[Mapping], coefficients, delta, bias: float,
                 settings: Mapping | None = None):
        self.space, self.sources, self.documents = space, list(sources), [dict(d) for d in documents]
        self.coefficients = np.asarray(coefficients, np.float32)
        self.delta, self.bias, self.settings = jnp.asarray(delta, jnp.float32), float(bias), dict(settings or {})
        self._relaxed = RelaxedFeatures(space)
        self._correction = jax.jit(lambda delta, vectors: self._relaxed.hard(vectors) @ delta)

    def __call__(self, vectors):
        """Predicted latency (ms) of int32 arch vectors [..., D]: each source jitted, the correction jitted."""
        total = self._correction(self.delta, vectors) + self.bias
        for coefficient, source in zip(self.coefficients, self.sources):
            total = total + coefficient * source(vectors)
        return total

    def expected(self, probs):
        """Expected latency (ms) under relaxed weights [..., D, C]; differentiable where the sources are."""
        total = self._relaxed(probs) @ self.delta + self.bias
        for coefficient, source in zip(self.coefficients, self.sources):
            total = total + coefficient * source.expected(probs)
        return total

    @classmethod
    def fit(cls, space, sources: Sequence, documents: Sequence[Mapping], vectors, latency_ms) -> "AdaptedPredictor":
        vectors = np.asarray(vectors, np.int32)
        predictions = np.stack([np.asarray(source(vectors), np.float64) for source in sources], axis=1)
        features = np.asarray(jax.jit(RelaxedFeatures(space).hard)(vectors))
        fitted = fit_adapted(predictions, features, latency_ms)
        return cls(space, sources, documents, fitted["coefficients"], fitted["delta"], fitted["bias"],
                   {"source_alpha": fitted["source_alpha"], "feature_alpha": fitted["feature_alpha"],
                    "archs": int(len(vectors))})

    def payload(self) -> dict:
        return {"sources": self.documents, "coefficients": self.coefficients.tolist(),
                "delta": np.asarray(self.delta).tolist(), "bias": self.bias, "settings": self.settings}


def _draws(n: int, k: int, repeats: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.choice(n, size=k, replace=False) for _ in range(repeats)]


def adaptation_curve(space, counter, sources: Sequence, vectors, latency_ms, samples: Sequence[int], *,
                     repeats: int = 10, seed: int = 0) -> dict:
    """Per k in `samples`: each method's mean and spread of Kendall tau, Spearman and within-10% on the
    archs not drawn, over `repeats` random draws of k archs of the new device."""
    vectors = np.asarray(vectors, np.int32)
    y = np.asarray(latency_ms, np.float64)
    predictions = np.stack([np.asarray(source(vectors), np.float64) for source in sources], axis=1)
    features = np.asarray(jax.jit(RelaxedFeatures(space).hard)(vectors))
    macs = np.asarray(counter.macs(vectors), np.float64) / 1e6 if counter is not None else None
    curve = {"n_archs": int(len(y)), "repeats": repeats, "seed": seed, "samples": list(samples), "methods": {}}
    zero_shot = predictions.mean(axis=1)
    curve["zero_shot"] = summary(zero_shot, y)  # the sources' mean, no measurement of the new device

    def add(method, k, metrics):
        curve["methods"].setdefault(method, {}).setdefault(str(k), []).append(metrics)

    for k in samples:
        if not MIN_ARCHS <= k < len(y):
            raise ValueError(f"adaptation_curve: k must be in {MIN_ARCHS}..{len(y) - 1}, got {k}")
        for draw in _draws(len(y), k, repeats, seed + k):
            rest = np.setdiff1d(np.arange(len(y)), draw)
            fitted = fit_adapted(predictions[draw], features[draw], y[draw])
            adapted = predictions[rest] @ fitted["coefficients"] + features[rest] @ fitted["delta"] + fitted["bias"]
            add("adapted", k, summary(adapted, y[rest]))
            rescaled = fit_adapted(predictions[draw], np.zeros((k, 0)), y[draw])
            add("sources_rescaled", k, summary(predictions[rest] @ rescaled["coefficients"] + rescaled["bias"], y[rest]))
            w, b, _ = ridge_solve(features[draw], y[draw])
            add("linear_alone", k, summary(features[rest] @ w + b, y[rest]))
            if macs is not None:
                slope, offset = np.polyfit(macs[draw], y[draw], 1)
                add("flops_alone", k, summary(slope * macs[rest] + offset, y[rest]))
    for method, per_k in curve["methods"].items():
        for k, runs in per_k.items():
            per_k[k] = _aggregate(runs)
    return curve


def _aggregate(runs: list[dict]) -> dict:
    out = {"n_test": runs[0]["n"]}
    for key in ("kendall_tau", "spearman", "within_10pct"):
        values = np.array([r[key] for r in runs if r[key] is not None], float)
        out[key] = float(values.mean()) if values.size else None
        out[f"{key}_std"] = float(values.std()) if values.size else None
    return out


def plot_curve(curve: dict, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, per_k in curve["methods"].items():
        ks = [int(k) for k in per_k]
        mean = np.array([per_k[k]["kendall_tau"] for k in per_k], float)
        std = np.array([per_k[k]["kendall_tau_std"] for k in per_k], float)
        ax.errorbar(ks, mean, yerr=std, marker="o", capsize=3, label=method)
    if curve["zero_shot"]["kendall_tau"] is not None:
        ax.axhline(curve["zero_shot"]["kendall_tau"], color="k", ls="--", lw=0.8, label="sources, no target archs")
    ax.set_xscale("log")
    ax.set_xlabel("measured archs of the new device")
    ax.set_ylabel(f"Kendall tau on the other archs (mean of {curve['repeats']})")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)



def adapt(source_paths: Sequence, run_path, out_dir=None, *, samples: int | None = None,
          curve: Sequence[int] = (), repeats: int = 10, seed: int = 0) -> dict:
    """`nas latency adapt`: the predictor of the collection RUN (a new device) from `source_paths` (predictor
    files of other devices) and `samples` of RUN's archs (default: all); with `curve`, the tau-vs-archs curve
    over RUN's archs. Writes OUT/adapted.json (and curve.json, curve.png); returns the summary."""
    from pathlib import Path

    from nas.atomic_write import write_json_atomically
    from nas.errors import ConfigError
    from nas.hardware.predictor_io import load_predictor, save_predictor
    from nas.hardware.report import collection_counter, device_label, load_collection

    run = Path(run_path)
    out = Path(out_dir) if out_dir else run / "adapt"
    data = load_collection(run)
    meta = data["meta"]
    counter = collection_counter(run, meta)
    loaded = [load_predictor(path, counter) for path in source_paths]
    if not loaded:
        raise ConfigError("nas latency adapt needs at least one --source predictor (a file of nas latency fit)")
    sources, documents = [p for p, _ in loaded], [d for _, d in loaded]
    target = "anchored" if "anchored" in data["targets"] else "median"
    vectors, y = data["vectors"], data["targets"][target]
    if samples is not None and not MIN_ARCHS <= samples <= len(y):
        raise ConfigError(f"--samples must be in {MIN_ARCHS}..{len(y)} (the archs of {run}), got {samples}")
    too_many = [k for k in curve if not MIN_ARCHS <= k < len(y)]
    if too_many:  # checked before anything is written
        raise ConfigError(f"--curve sizes must be in {MIN_ARCHS}..{len(y) - 1} (fewer than the archs of {run}), "
                          f"got {too_many}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(y), size=samples, replace=False)) \
        if samples is not None else np.arange(len(y))
    predictor = AdaptedPredictor.fit(counter.space, sources, documents, vectors[chosen], y[chosen])
    rest = np.setdiff1d(np.arange(len(y)), chosen)
    metrics = {"fitted_on": int(len(chosen)), "target": target,
               **({"held_out": summary(np.asarray(predictor(vectors[rest]), float), y[rest])} if len(rest) else {})}
    out.mkdir(parents=True, exist_ok=True)
    save_predictor(out / "adapted.json", predictor, space_spec=meta["space_spec"], options=meta["options"],
                   input_shape=meta["input_shape"], batch=meta["batch"], device=meta["device"],
                   device_fingerprint=meta["device_fingerprint"], metrics=metrics)
    result = {"predictor": str(out / "adapted.json"), "device": device_label(meta.get("device")),
              "sources": [device_label(d.get("device")) for d in documents],
              "coefficients": predictor.coefficients.tolist(), **metrics}
    if curve:
        measured = adaptation_curve(counter.space, counter, sources, vectors, y, curve, repeats=repeats, seed=seed)
        measured.update({"device": result["device"], "sources": result["sources"], "target": target})
        write_json_atomically(out / "curve.json", measured, indent=1)
        plot_curve(measured, out / "curve.png", f"{meta['space']}: {result['device']} from "
                                                 f"{', '.join(result['sources'])}")
        result["curve"] = {method: {k: v["kendall_tau"] for k, v in per_k.items()}
                           for method, per_k in measured["methods"].items()}
        result["zero_shot_tau"] = measured["zero_shot"]["kendall_tau"]
    return result
