"""Experiments run end to end on generated data and resume without retraining."""
import json

import numpy as np
import pytest

from experiments import distillation, ranking, sortednet
from experiments.common import kendall_tau, spearman


def test_rank_correlations_match_their_definitions():
    a = [0.1, 0.4, 0.3, 0.9]
    assert kendall_tau(a, a) == pytest.approx(1.0) and kendall_tau(a, [-x for x in a]) == pytest.approx(-1.0)
    assert kendall_tau(a, [0.1, 0.3, 0.4, 0.9]) == pytest.approx(4 / 6)  # one discordant pair of six
    assert spearman(a, np.exp(a)) == pytest.approx(1.0)


def test_sortednet_on_mlp_scores_every_sorted_sub_model(tmp_path):
    config = sortednet.Config(space="mlp", steps=20, batch_size=32, data="synthetic", limit_train=512)
    results = sortednet.run(config, tmp_path, progress=False)
    assert len(results["sub_models"]) == 8  # width_steps=8 levels
    assert results["sub_models"][-1]["fraction_of_largest"] == 1.0
    assert (tmp_path / "fractions.png").stat().st_size > 0
    stamp = (tmp_path / "train" / "summary.json").stat().st_mtime
    assert sortednet.run(config, tmp_path, progress=False) == results  # resumed: nothing retrained
    assert (tmp_path / "train" / "summary.json").stat().st_mtime == stamp
    assert json.loads((tmp_path / "results.json").read_text())["min_fraction"] == results["min_fraction"]


@pytest.mark.slow
def test_distillation_and_ranking_experiments_run_on_a_tiny_budget(tmp_path):
    results = distillation.run(distillation.Config(seeds=(0,), steps=6, width_mult=0.25, batch_size=16,
                                                   data="synthetic", limit_train=256, mid_archs=2),
                               tmp_path / "distillation", progress=False)
    assert set(results["accuracy"]) == {"alpha", "kl", "none"}
    assert (tmp_path / "distillation" / "accuracy.png").exists()
    results = ranking.run(ranking.Config(archs=3, supernet_steps=6, standalone_steps=4, width_mult=0.25,
                                         batch_size=16, data="synthetic", limit_train=256),
                          tmp_path / "ranking", progress=False)
    assert len(results["archs"]) == 3 and -1 <= results["kendall_tau"] <= 1
