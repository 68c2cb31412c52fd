"""Which copy of the data a run was trained on: a hash of each split, recorded with the run and its exports.

Data are found through the environment (`WEFT_FASHION_MNIST`, `WEFT_FORTUNES`) or a system package, so the
same config can load other examples on another day: a resumed run would mix two datasets, and a search,
export or evaluation would score the subnets on examples other than those the run was trained and scored on,
each without a word. The hashes tell those cases apart from the run's own data.
"""
from __future__ import annotations

import hashlib

import numpy as np

from nas.errors import RunDirError

SPLITS = ("train", "validation", "test")
# Where each kind of data is read from, for the message that names what to point back.
DATA_LOCATIONS = {"fashion-mnist": "WEFT_FASHION_MNIST", "fashion-mnist-knn": "WEFT_FASHION_MNIST",
                  "fortunes": "WEFT_FORTUNES"}


def split_fingerprints(dataset, splits: tuple[str, ...] = SPLITS) -> dict[str, str]:
    """{split: a 16-hex-digit hash of its inputs and labels (shapes, dtypes and values)}, and {"source": ...}
    for data the model holds rather than reads per example (a graph built from images)."""
    def fingerprint(split) -> str:
        digest = hashlib.sha256()
        for array in (split.inputs, split.labels):
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.data)
        return digest.hexdigest()[:16]

    held = getattr(dataset, "source_fingerprint", None)
    return {**{name: fingerprint(getattr(dataset, name)) for name in splits}, **({"source": held} if held else {})}


def differing_splits(recorded, fingerprints: dict[str, str]) -> list[str]:
    """The splits hashed in both whose hashes differ; none when nothing was recorded (a run or an export from
    before hashes were kept)."""
    if not isinstance(recorded, dict):
        return []
    return [name for name in (*SPLITS, "source")
            if name in recorded and name in fingerprints and recorded[name] != fingerprints[name]]


def check_same_data(recorded, now: dict[str, str], data: str, where: str, remedy: str) -> None:
    """Refuse to go on with the data hashed as `now` when `recorded` (the run's hashes) says the run was trained
    on other data."""
    differ = differing_splits(recorded, now)
    if differ:
        location = DATA_LOCATIONS.get(data)
        point = f"point {location} back at the copy it was trained on" if location else \
            "the data's loader changed since"
        parts = [f"{name} split" if name in SPLITS else "source (what the model holds)" for name in differ]
        raise RunDirError(f"{where} was trained on other data than data {data!r} loads now: its "
                          f"{', '.join(parts)} differ{'s' if len(differ) == 1 else ''} ("
                          + ", ".join(f"{name} {recorded[name]} there, {now[name]} here" for name in differ)
                          + f"); {point}, or {remedy}")
