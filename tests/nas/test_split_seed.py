"""The held-out split is the data's identity: fixed by `split_seed`, apart from the training `seed`."""
import json

import numpy as np
import pytest

from nas.errors import ConfigError, RunDirError
from nas.train.config import TrainConfig, saved_settings
from nas.data import load_dataset
from nas.train.loop import train

from tests.nas.fortune_corpus import write_corpus


def test_two_training_seeds_share_the_test_split_and_another_split_seed_changes_it():
    seed0 = load_dataset(TrainConfig(data="synthetic", limit_train=256, seed=0))
    seed1 = load_dataset(TrainConfig(data="synthetic", limit_train=256, seed=1))
    other_split = load_dataset(TrainConfig(data="synthetic", limit_train=256, seed=0, split_seed=1))
    np.testing.assert_array_equal(seed0.test.inputs, seed1.test.inputs)
    np.testing.assert_array_equal(seed0.train.labels, seed1.train.labels)
    assert not np.array_equal(seed0.test.inputs, other_split.test.inputs)


def test_fortunes_are_dealt_by_the_split_seed_only(tmp_path, monkeypatch):
    write_corpus(tmp_path / "fortunes", count=200)
    monkeypatch.setenv("WEFT_FORTUNES", str(tmp_path / "fortunes"))
    tokens = lambda **kw: load_dataset(TrainConfig(space="transformer_lm", data="fortunes", **kw), context=16)  # noqa: E731
    np.testing.assert_array_equal(tokens(seed=0).test.inputs, tokens(seed=3).test.inputs)
    assert not np.array_equal(tokens(seed=0).test.inputs, tokens(seed=0, split_seed=3).test.inputs)


def test_a_run_saved_before_split_seed_reads_its_seed_as_the_split():
    assert saved_settings({"seed": 2})["split_seed"] == 2
    assert saved_settings({"seed": 2, "split_seed": 0})["split_seed"] == 0


def test_resuming_a_pre_split_seed_run_keeps_its_split(tmp_path):
    config = TrainConfig(space="mlp", space_options={"max_width": 16, "width_steps": 2}, data="synthetic",
                         limit_train=128, batch_size=16, steps=4, seed=1, split_seed=1, sampling="uniform",
                         distillation="none", checkpoint_every=2)
    run = tmp_path / "run"
    train(config, run, progress=False, stop_at=2)
    record = json.loads((run / "config.json").read_text())
    del record["config"]["split_seed"]  # as a run written before the setting existed
    (run / "config.json").write_text(json.dumps(record))
    with pytest.raises(RunDirError, match="split_seed=1"):  # default 0 would silently re-deal the data
        train(TrainConfig(**{**config.__dict__, "split_seed": 0}), run, progress=False)
    assert train(config, run, progress=False)["steps"] == 4


def test_negative_split_seed_is_one_clear_error():
    with pytest.raises(ConfigError, match="split_seed must be >= 0"):
        TrainConfig(split_seed=-1).check()
