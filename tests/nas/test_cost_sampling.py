"""Cost-stratified sandwich sampling: random subnets spread over log cost, reproducible, one compile."""
import jax
import numpy as np
import optax
import pytest

from nas.data import synthetic_dataset
from nas.definition import get_definition
from nas.lowering import split
from nas.train.step import init_train_state, make_train_step

from nas.compile_counter import count_compiles
from nas.errors import ConfigError
from nas.hardware.counters import load_counter
from nas.train.config import TrainConfig
from nas.train.cost_sampling import CostStratifiedSampling
from nas.train.loop import make_sampling, train
from nas.train.sampling import SandwichSampling

OPTIONS = {"max_layers": 4, "max_width": 512, "width_steps": 32}


def test_random_subnets_cover_the_cheap_end_that_uniform_sampling_misses():
    counter = load_counter("mlp", OPTIONS)
    space = counter.space
    macs = lambda v: np.asarray(counter.macs(v), float)  # noqa: E731
    stratified = CostStratifiedSampling(2, macs)
    ends = np.log(macs(np.stack([space.smallest().to_vector(), space.largest().to_vector()])))
    cheap_quarter = ends[0] + (ends[1] - ends[0]) / 4

    def share_cheap(policy):
        vectors = np.concatenate([policy.archs(space, 0, step) for step in range(150)])
        return np.mean(np.log(macs(vectors)) <= cheap_quarter)

    assert share_cheap(stratified) > 0.15 > share_cheap(SandwichSampling(2))
    np.testing.assert_array_equal(stratified.archs(space, 3, 7), stratified.archs(space, 3, 7))
    assert stratified.static_archs(space) == (space.largest(), space.smallest())


def test_the_step_compiles_once_for_its_archs():
    counter = load_counter("mlp", {"max_layers": 2, "max_width": 32, "width_steps": 4})
    space = counter.space
    graphdef, params, stats = split(space_and_supernet()[1])
    optimizer = optax.sgd(0.05)
    policy = CostStratifiedSampling(2, lambda v: np.asarray(counter.macs(v), float))
    largest, smallest = policy.static_archs(space)
    step = make_train_step(graphdef, space, optimizer, static_first=largest, static_last=smallest,
                           input_shape=(28, 28, 1))
    state = init_train_state(params, stats, optimizer)
    data = synthetic_dataset(num_train=64, num_test=16)
    archs = [policy.archs(space, 0, index) for index in range(20)]  # the cost counter compiles apart
    assert len({a.tobytes() for a in archs}) > 10
    with count_compiles() as compiles:
        for batch_archs in archs:
            state, metrics = step(state, data.train.inputs[:16], data.train.labels[:16], batch_archs)
        jax.block_until_ready(metrics)
    assert compiles.count == 1


def space_and_supernet():
    definition = get_definition("mlp")
    return definition.build(definition.resolve_options({"max_layers": 2, "max_width": 32, "width_steps": 4},
                                                       (28, 28, 1)))


def test_training_runs_and_a_space_without_cost_model_is_refused(tmp_path):
    config = TrainConfig(space="mlp", space_options={"max_layers": 2, "max_width": 64, "width_steps": 4},
                         sampling="cost-stratified", num_random=2, distillation="none", data="synthetic",
                         limit_train=256, batch_size=16, steps=6, checkpoint_every=6)
    assert train(config, tmp_path / "run", progress=False)["steps"] == 6
    with pytest.raises(ConfigError, match="cost-stratified' needs the cost"):
        make_sampling(config, load_counter("mlp", {"max_layers": 2, "max_width": 64, "width_steps": 4}).space)


def test_no_smallest_leaves_the_largest_as_the_one_static_arch():
    counter = load_counter("mlp", OPTIONS)
    space = counter.space
    for policy in (SandwichSampling(2, smallest=False),
                   CostStratifiedSampling(2, lambda v: np.asarray(counter.macs(v), float), smallest=False)):
        assert policy.static_archs(space) == (space.largest(), None) and policy.num_archs == 3
    with pytest.raises(ConfigError, match="sandwich_smallest false drops"):
        TrainConfig(sampling="uniform", distillation="none", sandwich_smallest=False).check()
    config = TrainConfig(sampling="sandwich", sandwich_smallest=False)
    assert make_sampling(config, space).static_archs(space) == (space.largest(), None)
