"""nas.evaluate_text: next-byte accuracy and bits per character are exact over a split, padding masked out."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas.evaluate_text import next_token_scores, next_token_totals

VOCAB, LENGTH = 7, 5


def bigram_logits(tokens):
    """A fixed per-position model: logits depend on the current token only, so padding cannot leak in."""
    table = jnp.asarray(np.random.default_rng(0).standard_normal((VOCAB, VOCAB)), jnp.float32)
    return table[tokens]


@pytest.mark.parametrize("batch_size", [3, 7, 50])
def test_scores_equal_a_direct_computation_whatever_the_padding(batch_size):
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, VOCAB, (11, LENGTH)).astype(np.int32)
    labels = rng.integers(0, VOCAB, (11, LENGTH)).astype(np.int32)
    totals = jax.jit(lambda x, y, valid: next_token_totals(bigram_logits(x), y, valid))
    scores = next_token_scores(totals, tokens, labels, batch_size)

    log_probs = np.asarray(jax.nn.log_softmax(bigram_logits(tokens)), np.float64)
    nats = -np.take_along_axis(log_probs, labels[..., None], axis=-1).mean()
    correct = (log_probs.argmax(-1) == labels).mean()
    assert scores["bits_per_char"] == pytest.approx(nats / math.log(2), rel=1e-5)
    assert scores["accuracy"] == pytest.approx(correct, abs=1e-12)


def test_uniform_logits_cost_log2_vocab_bits():
    tokens = np.zeros((4, LENGTH), np.int32)
    totals = lambda x, y, valid: next_token_totals(jnp.zeros((*x.shape, 256)), y, valid)
    assert next_token_scores(totals, tokens, tokens, 3)["bits_per_char"] == pytest.approx(8.0, rel=1e-6)
