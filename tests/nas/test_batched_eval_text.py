"""Batched scoring of a language model's subnets equals scoring them one by one (next-byte accuracy, bits/char)."""
import jax
import numpy as np
import pytest

from nas.definition import get_definition
from nas.evaluate import fixed_batches, make_batched_scorer
from nas.evaluate_text import make_batched_next_token_scorer, make_masked_next_token_totals, next_token_scores
from nas.lowering import split

TINY_LM = {"embed_dims": (16, 24), "depths": (1, 2), "heads": (1, 2), "ffn_widths": (32, 64), "head_dim": 8,
           "context": 16}


def test_batched_text_scores_equal_one_by_one_scores():
    definition = get_definition("transformer_lm")
    space, supernet = definition.build(definition.resolve_options(TINY_LM, (16,)), seed=1)
    graphdef, params, stats = split(supernet)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 256, (23, 16)).astype(np.int32)  # 23 windows in batches of 10: the last padded
    labels = rng.integers(0, 256, (23, 16)).astype(np.int32)
    archs = np.stack([space.smallest().to_vector(), space.largest().to_vector()]
                     + [space.sample(rng).to_vector() for _ in range(2)])
    batches = fixed_batches(tokens, labels, 10)

    batched = jax.device_get(make_batched_next_token_scorer(graphdef, space)(params, stats, tokens[:8], batches,
                                                                             archs))
    accuracy_only = np.asarray(make_batched_scorer(graphdef, space)(params, stats, tokens[:8], batches, archs))
    totals = make_masked_next_token_totals(graphdef, space)
    for index, vector in enumerate(archs):
        expected = next_token_scores(lambda x, y, valid: totals(params, stats, x, y, valid, vector), tokens, labels, 10)
        assert batched["bits_per_char"][index] == pytest.approx(expected["bits_per_char"], rel=1e-5)
        assert batched["accuracy"][index] == pytest.approx(expected["accuracy"], abs=1e-6)
        assert accuracy_only[index] == pytest.approx(expected["accuracy"], abs=1e-6)
    assert len(set(np.round(batched["bits_per_char"], 5).tolist())) > 1  # the archs really differ
