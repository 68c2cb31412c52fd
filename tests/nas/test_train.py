"""Training: one compile for every arch, checked inputs, resumable runs."""
import json

import jax
import numpy as np
import optax
import pytest

from nas.compile_counter import count_compiles
from nas.data import DataError, synthetic_dataset
from nas.definition import get_definition
from nas.lowering import split
from nas.space import SpaceError
from nas.train.config import TrainConfig
from nas.train.loop import train
from nas.train.sampling import SandwichSampling, UniformSampling
from nas.train.step import init_train_state, make_train_step

pytestmark = pytest.mark.early  # a minute or more in all: handed to a test worker first (tests/conftest.py)


def small_mlp():
    definition = get_definition("mlp")
    return definition.build(definition.resolve_options({"max_width": 32, "width_steps": 4}, (28, 28, 1)))


def sandwich_step(num_random: int, **step_options):
    """The small MLP's sandwich-rule step: (space, initial state, sampling, step)."""
    space, supernet = small_mlp()
    graphdef, params, stats = split(supernet)
    optimizer = optax.sgd(0.05, momentum=0.9)
    sampling = SandwichSampling(num_random=num_random)
    largest, smallest = sampling.static_archs(space)
    step = make_train_step(graphdef, space, optimizer, static_first=largest, static_last=smallest,
                           input_shape=(28, 28, 1), **step_options)
    return space, init_train_state(params, stats, optimizer), sampling, step


def test_training_step_compiles_once_over_200_steps_of_random_archs():
    space, state, sampling, step = sandwich_step(num_random=2)
    data = synthetic_dataset(num_train=256, num_test=16)
    images, labels = data.train.inputs[:32], data.train.labels[:32]
    seen = set()
    with count_compiles() as compiles:
        for index in range(200):
            archs = sampling.archs(space, seed=0, step=index)
            seen.update(map(tuple, archs))
            state, metrics = step(state, images, labels, archs)
        jax.block_until_ready(metrics)
    assert len(seen) > 150  # really many different archs
    assert compiles.count == 1
    assert np.isfinite(float(metrics["loss"]))


def test_step_rejects_wrong_batch_and_archs_with_clear_errors():
    space, supernet = small_mlp()
    graphdef, params, stats = split(supernet)
    optimizer = optax.sgd(0.1)
    state = init_train_state(params, stats, optimizer)
    step = make_train_step(graphdef, space, optimizer, input_shape=(28, 28, 1))
    archs = UniformSampling(2).archs(space, 0, 0)
    with pytest.raises(DataError, match=r"\(N, 28, 28, 1\)"):
        step(state, np.zeros((4, 32, 32, 3), np.float32), np.zeros(4, np.int32), archs)
    with pytest.raises(SpaceError, match="shape"):
        step(state, np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int32), archs[:, :2])
    bad = archs.copy()
    bad[0, 0] = 99
    with pytest.raises(SpaceError, match="depth"):
        step(state, np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int32), bad)


def tiny_config(**overrides):
    values = dict(space="mlp", space_options={"max_width": 32, "width_steps": 4}, steps=12, batch_size=32,
                  data="synthetic", limit_train=512, checkpoint_every=5, log_every=2, warmup_steps=2,
                  calibration_images=64, eval_batch_size=128, num_random=1)
    values.update(overrides)
    return TrainConfig(**values)


def final_params(run):
    from nas.run_dir import RunDir
    from nas.train.loop import restore_trained
    _, state = restore_trained(RunDir.open(run))
    return jax.tree.leaves(state)


@pytest.mark.parametrize("sampling", [{"sampling": "sandwich"},
                                      {"sampling": "delayed", "delay": 0.5, "ramp_steps": 3, "optimizer": "adamw"},
                                      {"sampling": "progressive", "resort": True}])
def test_resumed_run_equals_uninterrupted_run(tmp_path, sampling):
    config = tiny_config(steps=12, **sampling)  # delayed: the interrupt falls after the phase change
    train(config, tmp_path / "straight", progress=False)
    assert train(config, tmp_path / "resumed", progress=False, stop_at=7) is None  # interrupted
    train(config, tmp_path / "resumed", progress=False)  # the same command again: resumes
    for a, b in zip(final_params(tmp_path / "straight"), final_params(tmp_path / "resumed")):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # no duplicated metric lines after resuming


def test_an_earlier_kept_checkpoint_restores_the_state_of_that_step(tmp_path):
    from nas.errors import CheckpointError
    from nas.run_dir import RunDir
    from nas.train.loop import restore_trained
    config = tiny_config(steps=12)  # checkpoints at 5, 10 and 12; the last two are kept
    train(config, tmp_path / "full", progress=False)
    assert train(config, tmp_path / "cut", progress=False, stop_at=10) is None
    _, at_10 = restore_trained(RunDir.open(tmp_path / "full"), step=10)
    for a, b in zip(jax.tree.leaves(at_10), final_params(tmp_path / "cut")):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(at_10.step) == 10 and int(restore_trained(RunDir.open(tmp_path / "full"))[1].step) == 12
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 5 .* keeps steps 10, 12"):
        restore_trained(RunDir.open(tmp_path / "full"), step=5)


def test_run_directory_of_another_space_or_settings_is_refused(tmp_path):
    from nas.errors import RunDirError

    run = tmp_path / "run"
    train(tiny_config(steps=2), run, progress=False)
    before = (run / "config.json").read_text()
    with pytest.raises(RunDirError, match="belongs to space 'mlp'"):
        train(tiny_config(space="mobilenetv3", space_options={"width_mult": 0.25}, steps=2), run, progress=False)
    with pytest.raises(RunDirError, match="batch_size"):
        train(tiny_config(steps=2, batch_size=16), run, progress=False)
    options = tiny_config().space_options
    with pytest.raises(RunDirError, match=f"holds space 'mlp' with other options \\(max_width={options['max_width']} "
                                          f"there, {2 * options['max_width']} here\\)"):
        train(tiny_config(steps=2, space_options={**options, "max_width": 2 * options["max_width"]}), run,
              progress=False)
    # Fewer steps than the weights have had would make the record claim less training than was done.
    summary = (run / "summary.json").read_text()
    with pytest.raises(RunDirError, match="has trained 2 steps; resume it with --steps >= 2"):
        train(tiny_config(steps=1), run, progress=False)
    assert (run / "config.json").read_text() == before  # nothing already written was changed
    assert (run / "summary.json").read_text() == summary



@pytest.mark.parametrize("distillation", ["kl", "alpha"])
def test_distillation_target_is_stop_gradient_so_students_never_move_teacher_only_weights(distillation):
    """Plain SGD: (teacher + distilled smallest) minus (teacher alone) moves only the smallest's slices."""
    from nas.lowering import param_usage
    from nas.train.step import StepOptions

    space, supernet = small_mlp()
    graphdef, params, stats = split(supernet)
    optimizer = optax.sgd(1.0)
    data = synthetic_dataset(num_train=64, num_test=8)
    images, labels = data.train.inputs[:32], data.train.labels[:32]
    none = np.zeros((0, space.num_decisions), np.int32)

    def new_params(static_last):
        step = make_train_step(graphdef, space, optimizer, static_first=space.largest(), static_last=static_last,
                               options=StepOptions(distillation=distillation), donate=False)
        state, metrics = step(init_train_state(params, stats, optimizer), images, labels, none)
        return state.params, metrics

    with_student, metrics = new_params(space.smallest())
    teacher_only, _ = new_params(None)
    assert metrics["losses"].shape == (2,) and float(metrics["losses"][1]) > 0
    student_used = np.concatenate([u.ravel() for u in param_usage(graphdef, params, stats, space.smallest())])
    moved_by_student = np.concatenate([np.asarray(a - b).ravel() for a, b in
                                       zip(jax.tree.leaves(with_student), jax.tree.leaves(teacher_only))]) != 0
    assert moved_by_student.any()
    assert not (moved_by_student & ~student_used).any()


@pytest.mark.parametrize("overrides, message", [
    ({"resort": True, "sampling": "progressive"}, None),  # mlp has sort_channels: accepted
    ({"resort": True, "sampling": "delayed", "space": "nb201", "space_options": {}},
     "space 'nb201': its supernet has no sort_channels\\(\\), so --resort is not available"),
    ({"devices": 64}, "devices"),
    ({"execution": "switch"}, "switch execution"),
    ({"sampling": "fair", "distillation": "none"}, "single-path"),
])
def test_configs_the_space_cannot_run_are_refused_before_the_run_directory_is_written(tmp_path, overrides,
                                                                                       message):
    from nas.errors import ConfigError

    config = tiny_config(steps=2, **overrides)
    if message is None:
        train(config, tmp_path / "run", progress=False)
        return
    with pytest.raises(ConfigError, match=message):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
