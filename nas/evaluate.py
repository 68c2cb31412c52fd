"""Scoring subnetworks with the shared weights: accuracy and BN recalibration.

Every function here compiles once for every arch (the arch is a traced vector)
and for every split (batches are padded to one fixed shape).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nas.lowering import masked_apply, standalone_apply
from nas.space import Space
from supernets.norms import ElasticBatchNorm


def make_masked_logits(graphdef, space: Space):
    """jit: (params, stats, images, arch_vector) -> eval-mode logits of that subnet."""
    def logits(params, stats, images, arch_vector):
        return masked_apply(graphdef, params, stats, space, images, arch_vector, train=False)[0]
    return jax.jit(logits)


def make_standalone_logits(graphdef):
    """jit: (params, stats, images) -> eval-mode logits of a standalone model."""
    def logits(params, stats, images):
        return standalone_apply(graphdef, params, stats, images, train=False)[0]
    return jax.jit(logits)


def _fixed_batches(images, labels, batch_size: int):
    """Batches of exactly `batch_size` (the last zero-padded) with a validity mask."""
    for start in range(0, len(images), batch_size):
        x, y = images[start:start + batch_size], labels[start:start + batch_size]
        valid = np.ones(batch_size, bool)
        if len(x) < batch_size:
            valid[len(x):] = False
            x = np.concatenate([x, np.zeros((batch_size - len(x), *x.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros((batch_size - len(y), *y.shape[1:]), y.dtype)])
        yield x, y, valid


def accuracy(logits_fn, images, labels, batch_size: int = 500) -> float:
    """Top-1 accuracy of `logits_fn(images_batch)` over a whole split."""
    correct = 0
    for x, y, valid in _fixed_batches(images, labels, batch_size):
        predictions = np.asarray(jnp.argmax(logits_fn(x), axis=-1))
        correct += int(np.sum((predictions == y) & valid))
    return correct / len(images)


def recalibrated_stats(graphdef, params, stats, space: Space, images, arch_vector, *, switch: bool = False):
    """That subnet's BN statistics: pure, traceable (the arch is a traced vector).

    One train-mode forward of a calibration batch with BN momentum 1, so each
    active BN's running statistics become exactly that batch's statistics
    (Once-for-All recalibrates the same way, averaging over a few batches).
    Inactive channels and skipped blocks keep their old statistics.
    """
    model = nnx.merge(graphdef, params, stats, copy=True)
    for _, module in nnx.iter_modules(model):  # a private copy: the caller's modules are untouched
        if isinstance(module, ElasticBatchNorm):
            module.momentum = 1.0
    values = space.values(arch_vector)
    model(images, train=True, arch=values, **({"switch": True} if switch else {}))
    return nnx.state(model, nnx.BatchStat)


def make_recalibrate(graphdef, space: Space):
    """jit: (params, stats, images, arch_vector) -> stats with that subnet's BN statistics."""
    def recalibrate(params, stats, images, arch_vector):
        return recalibrated_stats(graphdef, params, stats, space, images, arch_vector)
    return jax.jit(recalibrate)


def fixed_batches(images, labels, batch_size: int):
    """Stacked (images [B, b, ...], labels [B, b], valid [B, b]) of a split, the last batch padded."""
    xs, ys, valids = zip(*_fixed_batches(np.asarray(images), np.asarray(labels), batch_size))
    return np.stack(xs), np.stack(ys), np.stack(valids)


def make_batched_scorer(graphdef, space: Space, *, execution: str = "masked"):
    """jit: (params, stats, calibration, batches, arch_vectors [n, D]) -> accuracy [n].

    Scores many subnets in one call with shared weights: `lax.map` over the arch
    vectors; per arch, BN recalibration on `calibration` images, then a scan over
    the fixed-size evaluation `batches` from `fixed_batches`. One compile per
    number of archs n (searchers score fixed-size batches of candidates).
    `execution="switch"` runs each block at its chosen width only (spaces whose
    definition has `switch_execution`), much cheaper than the masked largest shapes.
    """
    switch = execution == "switch"
    if execution not in ("masked", "switch"):
        raise ValueError(f"unknown execution {execution!r}; allowed: masked, switch")

    def score(params, stats, calibration, batches, arch_vectors):
        images, labels, valid = batches

        def one(arch_vector):
            arch_stats = recalibrated_stats(graphdef, params, stats, space, calibration, arch_vector, switch=switch)
            values = space.values(arch_vector)

            def correct(total, batch):
                x, y, ok = batch
                model = nnx.merge(graphdef, params, arch_stats, copy=True)  # a module per trace (NNX rule)
                logits = model(x, train=False, arch=values, **({"switch": True} if switch else {}))
                return total + jnp.sum((jnp.argmax(logits, axis=-1) == y) & ok), None
            total, _ = jax.lax.scan(correct, jnp.zeros((), jnp.int32), (images, labels, valid))
            return total / jnp.sum(valid)
        return jax.lax.map(one, arch_vectors)
    return jax.jit(score)
