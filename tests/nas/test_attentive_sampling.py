"""AttentiveNAS best-up / worst-up: candidates near a target cost, the hardest or easiest on the batch kept;
training with it resumes exactly."""
import jax
import numpy as np
import pytest

from nas.hardware.counters import load_counter
from nas.run_dir import RunDir
from nas.train.attentive_sampling import AttentiveSampling
from nas.train.config import TrainConfig
from nas.train.loop import restore_trained, train

OPTIONS = {"max_layers": 3, "max_width": 64, "width_steps": 8}


def policy(pick: str) -> tuple:
    counter = load_counter("mlp", OPTIONS)
    return counter.space, AttentiveSampling(2, lambda v: np.asarray(counter.macs(v), float), pick=pick)


def test_candidates_are_near_one_cost_and_the_pick_follows_the_losses():
    space, worst = policy("worst")
    _, best = policy("best")
    counter = load_counter("mlp", OPTIONS)
    candidates = worst.candidate_archs(space, 0, 3)
    assert candidates.shape == (2, 4, space.num_decisions)
    spread = [np.ptp(np.log(np.asarray(counter.macs(group), float))) for group in candidates]
    whole = np.log(np.asarray(counter.macs(np.stack([space.smallest().to_vector(), space.largest().to_vector()]))))
    assert max(spread) < 0.5 * (whole[1] - whole[0])  # a group shares one cost region
    losses = np.array([[0.1, 0.9, 0.5, 0.2], [0.3, 0.2, 0.1, 0.8]])
    np.testing.assert_array_equal(worst.choose(candidates, losses), candidates[[0, 1], [1, 3]])
    np.testing.assert_array_equal(best.choose(candidates, losses), candidates[[0, 1], [0, 2]])
    with pytest.raises(ValueError, match="pick must be worst or best"):
        AttentiveSampling(1, lambda v: v, pick="median")


def test_worst_up_training_resumes_as_if_uninterrupted(tmp_path):
    config = TrainConfig(space="mlp", space_options=OPTIONS, sampling="attentive-worst", num_random=1,
                         distillation="none", data="synthetic", limit_train=256, batch_size=16, steps=6,
                         checkpoint_every=3)
    train(config, tmp_path / "whole", progress=False)
    train(config, tmp_path / "parts", progress=False, stop_at=3)
    train(config, tmp_path / "parts", progress=False)
    whole = restore_trained(RunDir.open(tmp_path / "whole"))[1].params
    parts = restore_trained(RunDir.open(tmp_path / "parts"))[1].params
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(parts)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
