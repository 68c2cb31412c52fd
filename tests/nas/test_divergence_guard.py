"""Divergence guard: a NaN/inf step stops the run in one line (last checkpoint kept) or is skipped."""
import json

import jax
import numpy as np
import pytest
from click.testing import CliRunner

from nas.checkpoint import Checkpointer
from nas.cli import main
from nas.data import BatchStream, Split, synthetic_dataset
from nas.errors import TrainingDiverged
from nas.run_dir import RunDir
from nas.train import loop
from nas.train.divergence import DivergenceGuard
from nas.train.loop import restore_trained, train
from tests.nas.test_train import sandwich_step, small_mlp, tiny_config

TINY = ["--space", "mlp", "--option", "max_width=32", "--option", "width_steps=4", "--data", "synthetic",
        "--limit-train", "256", "--batch-size", "32", "--quiet"]
NAN_EXAMPLES = (3, 200, 411)  # training examples made NaN: the batches holding them diverge


def strict_json_lines(path):
    """metrics.jsonl parsed as strict JSON (NaN and Infinity are not JSON)."""
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}")
    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_step_that_diverges_keeps_its_input_state_and_flags_the_subnet():
    space, state, sampling, step = sandwich_step(num_random=1, donate=False)
    data = synthetic_dataset(num_train=64, num_test=16)
    images, labels = data.train.inputs[:32].copy(), data.train.labels[:32]
    archs = sampling.archs(space, seed=0, step=0)
    good, metrics = step(state, images, labels, archs)
    assert np.asarray(metrics["finite"]).tolist() == [True, True, True] and bool(metrics["update_finite"])
    images[0, 0, 0, 0] = np.nan
    bad, metrics = step(good, images, labels, archs)
    assert not np.asarray(metrics["finite"]).any()
    for before, after in zip(jax.tree.leaves((good.params, good.stats, good.opt_state)),
                             jax.tree.leaves((bad.params, bad.stats, bad.opt_state))):
        np.testing.assert_array_equal(before, after)
    assert int(bad.step) == int(good.step) + 1  # steps taken, skipped or not (exports name their source step)


def guard_with(policy, metrics, checkpoint=4):
    space, _ = small_mlp()
    guard = DivergenceGuard(policy, space, lambda phase: (space.largest(), space.smallest()),
                            "try a lower --lr", lambda: checkpoint)
    archs = np.stack([space.smallest().to_vector()])
    guard.watch(7, metrics, archs, "main")
    return guard, space


def test_stop_message_names_the_step_and_the_first_bad_subnet():
    guard, space = guard_with("stop", {"finite": np.array([True, False, False]), "update_finite": np.bool_(False)})
    with pytest.raises(TrainingDiverged) as raised:
        guard.check()
    message = str(raised.value)
    assert f"step 7: the loss or gradients of the sampled subnet 0 ({space.smallest().to_string()})" in message
    assert "2 of the step's 3 subnets" in message
    assert "last checkpoint (step 4) is kept" in message and "try a lower --lr" in message


def test_an_update_that_overflows_is_named_as_such_and_skip_counts_it():
    metrics = {"finite": np.array([True, True, True]), "update_finite": np.bool_(False)}
    guard, _ = guard_with("stop", metrics, checkpoint=None)
    with pytest.raises(TrainingDiverged, match="the update made the parameters .* no checkpoint was written"):
        guard.check()
    guard, _ = guard_with("skip", metrics)
    guard.check()
    guard.check()  # a step is judged once
    assert guard.skipped == 1


def test_cli_stops_a_diverging_run_in_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    # Warm-up starts at lr 0 (step 1), step 2 takes lr 1e30, step 3's loss is NaN.
    result = CliRunner().invoke(main, ["train", *TINY, "--lr", "1e30", "--warmup-steps", "1", "--steps", "8",
                                       "--checkpoint-every", "2", "--run", str(run)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for fragment in ("diverged at step 3", "largest subnet (depth=", "last checkpoint (step 2) is kept",
                     "--lr (now 1e+30)", "--grad-clip 1.0", "in a new --run", "resume this one with --on-nonfinite skip"):
        assert fragment in errors[0], errors[0]
    checkpointer = Checkpointer(RunDir(run).checkpoints)
    assert checkpointer.manager.all_steps() == [2]
    checkpointer.close()
    _, state = restore_trained(RunDir.open(run))
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state.params))
    assert not (run / "summary.json").exists()


@pytest.fixture
def nan_in_training_data(monkeypatch):
    """Some training examples turn NaN after loading (past the checks a Split makes when built)."""
    def load_with_nan(config, context=None):
        dataset = load_dataset(config, context)
        dataset.train.inputs[list(NAN_EXAMPLES)] = np.nan
        return dataset
    load_dataset = loop.load_dataset
    monkeypatch.setattr(loop, "load_dataset", load_with_nan)


def batches_with_nan(config):
    """How many of the run's batches hold a NaN example: the same stream over examples that are their index."""
    size = config.limit_train
    indices = Split(np.arange(size, dtype=np.float32).reshape(size, 1, 1, 1), np.zeros(size, np.int32))
    stream = BatchStream(indices, config.batch_size, seed=config.seed)
    return sum(bool(set(stream.next()[0].ravel().astype(int)) & set(NAN_EXAMPLES)) for _ in range(config.steps))


def test_skip_drops_diverged_steps_counts_them_across_a_resume_and_keeps_params_finite(tmp_path,
                                                                                      nan_in_training_data):
    config = tiny_config(on_nonfinite="skip", steps=16, limit_train=512, log_every=1)
    expected = batches_with_nan(config)
    assert 0 < expected < config.steps
    with pytest.raises(TrainingDiverged, match="on-nonfinite skip"):
        train(tiny_config(steps=16, limit_train=512), tmp_path / "stopped", progress=False)
    assert train(config, tmp_path / "run", progress=False, stop_at=9) is None
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["skipped_steps"] == expected
    assert strict_json_lines(tmp_path / "run" / "metrics.jsonl")[-1]["skipped_steps"] == expected
    _, state = restore_trained(RunDir.open(tmp_path / "run"))
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state.params))
    assert summary["largest"]["test_accuracy"] > 0.5  # the good steps trained it
