"""Scoring a language model's subnets: next-byte accuracy and bits per character over a whole split.

Both are exact over every position of the split: the split is cut into
fixed-size batches (one compile for every split and arch), the padding windows
of the last batch masked out, and the sums kept on the host in float64.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from nas.evaluate import batched_sums, fixed_batches
from nas.lowering import masked_apply
from nas.space import Space


def next_token_totals(logits, labels, valid):
    """(summed negative log-likelihood in nats, correct predictions) over the valid windows.

    logits [b, T, V], labels int [b, T], valid bool [b].
    """
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
    nats = -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    mask = jnp.broadcast_to(valid[:, None], labels.shape)
    correct = (jnp.argmax(logits, axis=-1) == labels) & mask
    return jnp.sum(jnp.where(mask, nats, 0.0)), jnp.sum(correct)


def make_masked_next_token_totals(graphdef, space: Space):
    """jit: (params, stats, tokens, labels, valid, arch_vector) -> `next_token_totals` of that subnet."""
    def totals(params, stats, tokens, labels, valid, arch_vector):
        logits = masked_apply(graphdef, params, stats, space, tokens, arch_vector, train=False)[0]
        return next_token_totals(logits, labels, valid)
    return jax.jit(totals)


def next_token_scores(totals_fn, tokens, labels, batch_size: int = 500) -> dict:
    """{"accuracy", "bits_per_char"} of `totals_fn(tokens, labels, valid)` summed over a split.

    bits_per_char is the mean next-byte cross-entropy over every position, in bits
    (a character is a byte: the models read and predict bytes).
    """
    xs, ys, valids = fixed_batches(tokens, labels, batch_size)
    nats, correct = 0.0, 0
    for x, y, valid in zip(xs, ys, valids):
        batch_nats, batch_correct = totals_fn(x, y, valid)
        nats += float(batch_nats)
        correct += int(batch_correct)
    positions = int(np.asarray(labels).size)
    return {"accuracy": correct / positions, "bits_per_char": nats / positions / math.log(2)}


def logits_next_token_scores(logits_fn, tokens, labels, batch_size: int = 500) -> dict:
    """`next_token_scores` of any `logits_fn(tokens_batch) -> logits` (a standalone model, a StableHLO export)."""
    return next_token_scores(lambda x, y, valid: next_token_totals(logits_fn(x), y, valid), tokens, labels,
                             batch_size)


def make_batched_next_token_scorer(graphdef, space: Space, *, execution: str = "masked"):
    """jit: (params, stats, calibration, batches, arch_vectors [n, D]) -> {"accuracy", "bits_per_char"}, each [n].

    `nas.evaluate.make_batched_scorer` for token windows, with bits per character
    beside next-byte accuracy (one pass computes both). The sums run in float32 on
    the device, so they agree with `next_token_scores` to float32 rounding.
    """
    sums = batched_sums(graphdef, space, next_token_totals, execution=execution)

    def score(params, stats, calibration, batches, arch_vectors):
        _, labels, valid = batches
        positions = jnp.sum(valid) * labels.shape[-1]
        nats, correct = sums(params, stats, calibration, batches, arch_vectors)
        return {"accuracy": correct / positions, "bits_per_char": nats / positions / math.log(2)}
    return jax.jit(score)
