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
            y = np.concatenate([y, np.zeros(batch_size - len(y), y.dtype)])
        yield x, y, valid


def accuracy(logits_fn, images, labels, batch_size: int = 500) -> float:
    """Top-1 accuracy of `logits_fn(images_batch)` over a whole split."""
    correct = 0
    for x, y, valid in _fixed_batches(images, labels, batch_size):
        predictions = np.asarray(jnp.argmax(logits_fn(x), axis=-1))
        correct += int(np.sum((predictions == y) & valid))
    return correct / len(images)


def make_recalibrate(graphdef, space: Space):
    """jit: (params, stats, images, arch_vector) -> stats with that subnet's BN statistics.

    One train-mode forward of a calibration batch with BN momentum 1, so each
    active BN's running statistics become exactly that batch's statistics
    (Once-for-All recalibrates the same way, averaging over a few batches).
    Inactive channels and skipped blocks keep their old statistics.
    """
    def recalibrate(params, stats, images, arch_vector):
        model = nnx.merge(graphdef, params, stats, copy=True)
        for _, module in nnx.iter_modules(model):
            if isinstance(module, ElasticBatchNorm):
                module.momentum = 1.0
        model(images, train=True, arch=space.values(arch_vector))
        return nnx.state(model, nnx.BatchStat)
    return jax.jit(recalibrate)
