"""Scoring subnetworks with the shared weights: accuracy and BN recalibration
(bits per character of language models: `nas.evaluate_text`).

Every function here compiles once for every arch (the arch is a traced vector)
and for every split (batches are padded to one fixed shape).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nas.data import DataError
from nas.errors import ConfigError
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
    if len(images) == 0:  # a score over no examples is 0/0
        raise DataError("cannot score an empty split (0 examples); allowed: a split with at least one example")
    for start in range(0, len(images), batch_size):
        x, y = images[start:start + batch_size], labels[start:start + batch_size]
        valid = np.ones(batch_size, bool)
        if len(x) < batch_size:
            valid[len(x):] = False
            x = np.concatenate([x, np.zeros((batch_size - len(x), *x.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros((batch_size - len(y), *y.shape[1:]), y.dtype)])
        yield x, y, valid


def accuracy(logits_fn, images, labels, batch_size: int = 500) -> float:
    """Top-1 accuracy of `logits_fn(images_batch)` over a whole split (token windows: over every position)."""
    correct = 0
    for x, y, valid in _fixed_batches(images, labels, batch_size):
        correct += int(correct_predictions(logits_fn(x), y, valid)[0])
    return correct / np.asarray(labels).size


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


def check_example_limit(limit, what: str) -> None:
    """A limit on the examples scored is None (the whole split) or an integer >= 1 (its first N); a negative
    one would silently drop the split's last examples instead."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"{what} must be an integer >= 1 (the first N examples of the split), got {limit!r}")


def fixed_batches(images, labels, batch_size: int):
    """Stacked (images [B, b, ...], labels [B, b], valid [B, b]) of a split, the last batch padded."""
    xs, ys, valids = zip(*_fixed_batches(np.asarray(images), np.asarray(labels), batch_size))
    return np.stack(xs), np.stack(ys), np.stack(valids)


def batched_sums(graphdef, space: Space, per_batch, *, execution: str = "masked"):
    """(params, stats, calibration, batches, arch_vectors [n, D]) -> tuple of sums, each [n]; not jitted.

    The shared structure of batched scoring: `lax.map` over the arch vectors; per
    arch, BN recalibration on `calibration` inputs (skipped for a supernet without
    batch statistics, e.g. LayerNorm transformers), then a scan over the fixed-size
    evaluation `batches` from `fixed_batches`, adding up `per_batch(logits, labels,
    valid) -> tuple of scalars`. `execution="switch"` runs each block at its chosen
    width only (spaces whose definition has `switch_execution`), much cheaper than
    the masked largest shapes.
    """
    switch = execution == "switch"
    if execution not in ("masked", "switch"):
        raise ValueError(f"unknown execution {execution!r}; allowed: masked, switch")

    def sums(params, stats, calibration, batches, arch_vectors):
        has_batch_stats = bool(jax.tree.leaves(stats))  # static: the tree's structure, not its values

        def one(arch_vector):
            arch_stats = (recalibrated_stats(graphdef, params, stats, space, calibration, arch_vector, switch=switch)
                          if has_batch_stats else stats)
            values = space.values(arch_vector)

            def batch_sums(x, y, ok):
                model = nnx.merge(graphdef, params, arch_stats, copy=True)  # a module per trace (NNX rule)
                logits = model(x, train=False, arch=values, **({"switch": True} if switch else {}))
                return per_batch(logits, y, ok)

            def add(totals, batch):
                return tuple(t + s for t, s in zip(totals, batch_sums(*batch))), None
            # Zeros of the sums' own dtypes (counts stay integers, log-likelihoods floats).
            shapes = jax.eval_shape(batch_sums, *(b[0] for b in batches))
            start = tuple(jnp.zeros(s.shape, s.dtype) for s in shapes)
            return jax.lax.scan(add, start, batches)[0]
        return jax.lax.map(one, arch_vectors)
    return sums


def correct_predictions(logits, labels, valid):
    """(top-1 correct count,) over the valid examples: one label per image, or one per position of a window."""
    ok = jnp.reshape(valid, valid.shape + (1,) * (labels.ndim - valid.ndim))  # [b] -> [b, 1...] for token windows
    return (jnp.sum((jnp.argmax(logits, axis=-1) == labels) & ok),)


def make_batched_scorer(graphdef, space: Space, *, execution: str = "masked"):
    """jit: (params, stats, calibration, batches, arch_vectors [n, D]) -> accuracy [n].

    Scores many subnets in one call with shared weights (`batched_sums`). One
    compile per number of archs n (searchers score fixed-size batches of
    candidates). Image batches: top-1 accuracy. Token windows: next-token
    accuracy over every position (`nas.evaluate_text` adds bits per character).
    """
    sums = batched_sums(graphdef, space, correct_predictions, execution=execution)

    def score(params, stats, calibration, batches, arch_vectors):
        _, labels, valid = batches
        positions = jnp.sum(valid) * (labels[0, 0].size)  # positions per example: 1 for images, T for windows
        (correct,) = sums(params, stats, calibration, batches, arch_vectors)
        return correct / positions
    return jax.jit(score)


def evaluate_endpoints(session, params, stats, *, progress: bool = True) -> dict:
    """Validation and test scores of the largest and smallest subnets (or a stand-alone run's arch) of a
    training session (`nas.train.loop.Session`), after BN recalibration.

    Images: accuracy. Token windows: next-byte accuracy and bits per character, and
    the unigram baseline's bits per character beside them.
    """
    from nas.evaluate_text import make_masked_next_token_totals, next_token_scores  # it builds on this module

    config, dataset = session.config, session.dataset
    text = dataset.inputs == "tokens"
    recalibrate = make_recalibrate(session.graphdef, session.space)
    logits = make_masked_logits(session.graphdef, session.space)
    totals = make_masked_next_token_totals(session.graphdef, session.space) if text else None
    calibration = dataset.train.inputs[:config.calibration_images]
    has_batch_stats = bool(jax.tree.leaves(stats))  # nothing to recalibrate otherwise (LayerNorm spaces)
    summary = {}
    archs = (("arch", session.space.from_string(config.arch)),) if config.arch else (
        ("largest", session.space.largest()), ("smallest", session.space.smallest()))
    for name, arch in archs:
        vector = arch.to_vector()
        arch_stats = recalibrate(params, stats, calibration, vector) if has_batch_stats else stats
        summary[name] = {"arch": arch.to_dict()}
        for split_name in ("validation", "test"):
            split = getattr(dataset, split_name)
            if text:
                scores = next_token_scores(
                    lambda x, y, valid, arch_stats=arch_stats, vector=vector: totals(params, arch_stats, x, y,
                                                                                     valid, vector),
                    split.inputs, split.labels, config.eval_batch_size)
                summary[name][f"{split_name}_accuracy"] = scores["accuracy"]
                summary[name][f"{split_name}_bits_per_char"] = scores["bits_per_char"]
            else:
                summary[name][f"{split_name}_accuracy"] = accuracy(
                    lambda x, arch_stats=arch_stats, vector=vector: logits(params, arch_stats, x, vector),
                    split.inputs, split.labels, config.eval_batch_size)
        if progress:
            scores = summary[name]
            line = (f"{name:>8}: test bits/char {scores['test_bits_per_char']:.4f} "
                    f"(validation {scores['validation_bits_per_char']:.4f}), "
                    f"next-byte test accuracy {scores['test_accuracy']:.4f}") if text else (
                    f"{name:>8}: test accuracy {scores['test_accuracy']:.4f} "
                    f"(validation {scores['validation_accuracy']:.4f})")
            print(line)
    if text:
        for split_name, value in dataset.unigram_bits_per_char.items():
            summary[f"unigram_{split_name}_bits_per_char"] = value
        if progress:
            print(f" unigram: test bits/char {summary['unigram_test_bits_per_char']:.4f} "
                  f"(validation {summary['unigram_validation_bits_per_char']:.4f})")
    return summary
