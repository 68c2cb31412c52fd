"""Test-retest of latency measurement: the same archs measured by two collections.

A predictor is scored against measured latencies, so it can rank held-out archs no
better than the measurement ranks them against itself. Two collections of the same
space, input and batch (the second typically re-run later, in a new process, with
the same seed and a smaller `--n`) share archs; comparing their figures on those
archs with the predictors' report metrics gives that ceiling: if the second
measurement of an arch is within +/-10% of the first only 60% of the time, no
predictor reaches 95% on this machine.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nas.errors import RunDirError
from nas.hardware.backends import backend_of
from nas.hardware.metrics import summary
from nas.hardware.report import load_collection

MUST_MATCH = ("space_fingerprint", "input_shape", "batch")


def retest(first: Path, second: Path) -> dict:
    """Per target (min, median, anchored, anchored_min): `second` scored as a predictor of `first`
    on their shared archs, and the ratio second/first (median and quartiles)."""
    a, b = load_collection(Path(first)), load_collection(Path(second))
    if backend_of(a["meta"]) != backend_of(b["meta"]):
        raise RunDirError(f"{second} was measured with backend {backend_of(b['meta'])} but {first} with "
                          f"{backend_of(a['meta'])}; a retest compares two measurements of one runtime")
    for key in MUST_MATCH:
        if a["meta"].get(key) != b["meta"].get(key):
            raise RunDirError(f"{second} was collected with {key}={b['meta'].get(key)!r} but {first} with "
                              f"{a['meta'].get(key)!r}; a retest compares collections of the same space, input "
                              f"and batch")
    index = {tuple(v): i for i, v in enumerate(a["vectors"])}
    pairs = [(index[tuple(v)], j) for j, v in enumerate(b["vectors"]) if tuple(v) in index]
    if len(pairs) < 2:
        raise RunDirError(f"{first} and {second} share {len(pairs)} measured arch(s); a retest needs at least 2 "
                          "(collect the second with the first's --seed)")
    ia, ib = (np.array(p) for p in zip(*pairs))
    results = {}
    for target, first_ms in a["targets"].items():
        second_ms = b["targets"][target][ib]
        ratio = second_ms / first_ms[ia]
        quartiles = np.percentile(ratio, [25, 50, 75])
        results[target] = {**summary(second_ms, first_ms[ia]),
                           "ratio_median": float(quartiles[1]), "ratio_iqr": [float(quartiles[0]), float(quartiles[2])]}
    return {"first": str(first), "second": str(second), "backend": backend_of(a["meta"]), "shared_archs": len(pairs),
            "first_device": a["meta"].get("device_fingerprint"), "second_device": b["meta"].get("device_fingerprint"),
            "results": results}
