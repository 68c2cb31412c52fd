"""Inherited scores: each arch's test (or validation) score with a trained run's shared weights.

The run's own network scores the archs (a mixture's routing included), batched and BN-recalibrated as
`nas search` scores them, and the scores are cached in the run directory keyed by arch.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from nas.atomic_write import write_json_atomically
from nas.evaluate import fixed_batches, make_batched_scorer
from nas.run_dir import RunDir
from nas.train.loop import restore_trained


def check_metric(metric: str, caller: str) -> None:
    if metric not in ("accuracy", "bits_per_char"):
        raise ValueError(f"{caller}: metric must be accuracy or bits_per_char, got {metric!r}")


def arch_key(vector) -> str:
    return ",".join(map(str, vector))


def make_scorer(session, *, metric: str, execution: str = "masked", limit: int | None = None):
    """(params, stats, arch_vectors [n, D]) -> `metric` of each arch on the session's test or validation split
    (`split` picked per call; its first `limit` examples when given, as `nas search --limit` scores), BN
    recalibrated on the session's first `calibration_images` training inputs; one compile per chunk size."""
    check_metric(metric, "make_scorer")
    if metric == "bits_per_char":
        from nas.evaluate_text import make_batched_next_token_scorer
        text_scorer = make_batched_next_token_scorer(session.graphdef, session.space, execution=execution)
        scorer = lambda *args: text_scorer(*args)[metric]  # noqa: E731
    else:
        scorer = make_batched_scorer(session.graphdef, session.space, execution=execution)
    calibration = session.dataset.train.inputs[:session.config.calibration_images]
    batches = {}

    def score(params, stats, vectors, split: str):
        if split not in batches:
            data = getattr(session.dataset, split)
            inputs, labels = data.inputs[:limit], data.labels[:limit]
            batches[split] = fixed_batches(inputs, labels, min(session.config.eval_batch_size, len(inputs)))
        return np.asarray(jax.device_get(scorer(params, stats, calibration, batches[split], vectors))).tolist()
    return score


def score_with(scorer, params, stats, vectors: np.ndarray, *, split: str, chunk: int = 8) -> list[float]:
    """`scorer` (`make_scorer`) of each arch (int32 [n, D]) in fixed-size chunks (one compile for all); not
    cached."""
    todo = np.asarray(vectors)
    pad = (-len(todo)) % chunk
    padded = np.concatenate([todo, np.repeat(todo[:1], pad, axis=0)])
    scores = []
    for start in range(0, len(padded), chunk):
        scores.extend(scorer(params, stats, padded[start:start + chunk], split))
    return scores[:len(todo)]


def score_archs(path: Path, vectors: np.ndarray, *, split: str = "test", execution: str = "masked",
                chunk: int = 8, metric: str = "accuracy") -> np.ndarray:
    """`metric` on `split` of each arch (int32 [n, D]) with the run's weights, BN recalibrated.

    `metric` is "accuracy" (top-1, or next-byte for text) or "bits_per_char" (text runs).
    Cached in the run directory (`scores-<split>.json`, `scores-<split>-<metric>.json` for
    other metrics; keyed by arch), so a repeated experiment does not score again.
    """
    check_metric(metric, "score_archs")
    cache_file = path / (f"scores-{split}.json" if metric == "accuracy" else f"scores-{split}-{metric}.json")
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    keys = [arch_key(v) for v in np.asarray(vectors)]
    missing = [i for i, key in enumerate(keys) if key not in cache]
    if missing:
        session, state = restore_trained(RunDir.open(path))
        scores = score_with(make_scorer(session, metric=metric, execution=execution), state.params, state.stats,
                            np.asarray(vectors)[missing], split=split, chunk=chunk)
        for index, score in zip(missing, scores):
            cache[keys[index]] = score
        write_json_atomically(cache_file, cache, indent=1)  # an interrupted write keeps the old cache whole
    return np.array([cache[key] for key in keys])
