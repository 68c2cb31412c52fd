"""Batched scoring of many subnets equals scoring them one by one (BN recalibration included)."""
import numpy as np
import pytest

from nas.data import synthetic_dataset
from nas.definition import get_definition
from nas.evaluate import accuracy, fixed_batches, make_batched_scorer, make_masked_logits, make_recalibrate
from nas.lowering import split
from tests.search_spaces.checks import moved_off_init


@pytest.mark.parametrize("space_name, options, execution", [
    ("mlp", {"max_width": 32, "width_steps": 4}, "masked"),
    ("mobilenetv3", {"width_mult": 0.25, "depths": (1, 2)}, "masked"),
    # The switch form compiles every arch's branch again (~30 s on 2 cores): make test-slow.
    pytest.param("mobilenetv3", {"width_mult": 0.25}, "switch", marks=pytest.mark.slow),
])
def test_batched_scores_equal_one_by_one_scores(space_name, options, execution):
    definition = get_definition(space_name)
    space, supernet = definition.build(definition.resolve_options(options, (28, 28, 1)), seed=1)
    graphdef, params, stats = split(supernet)
    params = moved_off_init(params, np.random.default_rng(4), 0.1)  # numpy: eager jax.random compiles per shape
    data = synthetic_dataset(num_train=64, num_test=70, seed=3)
    calibration = data.train.inputs[:64]
    rng = np.random.default_rng(0)
    archs = np.stack([space.smallest().to_vector(), space.largest().to_vector()]
                     + [space.sample(rng).to_vector() for _ in range(2)])

    scorer = make_batched_scorer(graphdef, space, execution=execution)
    batched = np.asarray(scorer(params, stats, calibration, fixed_batches(data.test.inputs, data.test.labels, 32),
                                archs))
    recalibrate, logits = make_recalibrate(graphdef, space), make_masked_logits(graphdef, space)
    for vector, score in zip(archs, batched):
        arch_stats = recalibrate(params, stats, calibration, vector)
        expected = accuracy(lambda x: logits(params, arch_stats, x, vector), data.test.inputs, data.test.labels, 32)
        assert score == pytest.approx(expected, abs=1e-6), space.from_vector(vector)
    assert len(set(batched.tolist())) > 1  # the archs really differ
