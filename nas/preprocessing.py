"""What a model expects of its raw inputs, recorded in an export so that it can run without weft.

Images are normalised with scalar statistics of the training split (`nas.data`): a raw example `r`
(as stored: uint8 pixels for Fashion-MNIST, floats for synthetic data) reaches the model as
`(r * pixel_scale - mean) / std`. Token windows reach it unchanged. The record is plain JSON
(`arch.json`'s "preprocessing"); `apply` is jittable, so an export bakes it into `model.stablehlo`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import jax.numpy as jnp

from nas.errors import CheckpointError

NORMALISE, TOKENS = "normalise", "tokens"


def describe(dataset) -> dict:
    """The preprocessing record of a `nas.data.Dataset`."""
    if dataset.inputs == "tokens":
        return {"kind": TOKENS}
    return {"kind": NORMALISE, "pixel_scale": float(dataset.pixel_scale), "mean": float(dataset.mean),
            "std": float(dataset.std)}


def _checked(record: Mapping) -> Mapping:
    kind = record.get("kind") if isinstance(record, Mapping) else None
    if kind == TOKENS:
        return record
    numbers = ("pixel_scale", "mean", "std")
    if (kind == NORMALISE and all(isinstance(record.get(k), (int, float)) and not isinstance(record.get(k), bool)
                                  and math.isfinite(record[k]) for k in numbers)
            and record["std"] > 0 and record["pixel_scale"] > 0):  # a zero scale would divide the inputs away
        return record
    raise CheckpointError(f"preprocessing record {record!r} is malformed; allowed: {{'kind': 'tokens'}} or "
                          "{'kind': 'normalise', 'pixel_scale': float > 0, 'mean': float, 'std': float > 0}, "
                          "all finite")


def apply(record: Mapping, raw, dtype=jnp.float32):
    """Raw inputs -> what the model reads (jittable); `dtype` float64 for a float64 reference."""
    record = _checked(record)
    if record["kind"] == TOKENS:
        return raw
    scaled = jnp.asarray(raw, dtype) * dtype(record["pixel_scale"])
    return (scaled - dtype(record["mean"])) / dtype(record["std"])


def invert(record: Mapping, model_inputs):
    """What the model reads -> raw inputs (to feed a data split, already normalised, to a raw-input export)."""
    record = _checked(record)
    if record["kind"] == TOKENS:
        return model_inputs
    restored = jnp.asarray(model_inputs, jnp.float32) * jnp.float32(record["std"]) + jnp.float32(record["mean"])
    return restored / jnp.float32(record["pixel_scale"])
