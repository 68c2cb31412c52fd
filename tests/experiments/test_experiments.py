"""Experiments run end to end on generated data and resume without retraining."""
import dataclasses
import json

import pytest

from experiments import distillation, ranking, sortednet
from experiments.common import check_same_training
from nas.config import from_dict
from nas.errors import ConfigError
from nas.train.config import TrainConfig


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
    # Re-run with other steps: refused, not the old training scored under the new settings.
    written = (tmp_path / "results.json").read_bytes()
    with pytest.raises(ConfigError, match="train was trained with steps=20, and this experiment asks for steps=25"):
        sortednet.run(dataclasses.replace(config, steps=25), tmp_path, progress=False)
    assert (tmp_path / "results.json").read_bytes() == written
    # How the sub-run was run (checkpoint and log intervals, devices, execution) may differ, as on a resume.
    record = json.loads((tmp_path / "train" / "config.json").read_text())
    trained = from_dict(TrainConfig, record["config"], "test")
    check_same_training(dataclasses.replace(trained, checkpoint_every=3, log_every=7, devices=1,
                                            execution="sliced", eval_batch_size=64), tmp_path / "train")
    # A setting the record predates counts at its default, and the message says so (not None).
    del record["config"]["calibration_images"]
    (tmp_path / "train" / "config.json").write_text(json.dumps(record))
    default = TrainConfig().calibration_images
    with pytest.raises(ConfigError, match=f"with calibration_images={default}, and this experiment asks for "
                                          f"calibration_images={default + 1}"):
        check_same_training(dataclasses.replace(trained, calibration_images=default + 1), tmp_path / "train")


@pytest.mark.slow
def test_distillation_and_ranking_experiments_run_on_a_tiny_budget(tmp_path):
    results = distillation.run(distillation.Config(seeds=(0,), steps=6, width_mult=0.25, batch_size=16,
                                                   data="synthetic", limit_train=256, mid_archs=2, isolate=False),
                               tmp_path / "distillation", progress=False)
    assert set(results["accuracy"]) == {"alpha", "kl", "none"}
    assert (tmp_path / "distillation" / "accuracy.png").exists()
    results = ranking.run(ranking.Config(archs=3, supernet_steps=6, standalone_steps=4, width_mult=0.25,
                                         batch_size=16, data="synthetic", limit_train=256, isolate=False),
                          tmp_path / "ranking", progress=False)
    assert len(results["archs"]) == 3 and set(results["agreement"]) == {"ranker", "params", "macs"}
    assert results["agreement"]["params"]["n"] == 3 and len(results["agreement"]["ranker"]["regret"]) == 3


@pytest.mark.slow  # trains and scores a 3x3 grid of LMs (~40 s); the grid sampling itself is in test_sampling
def test_sortednet_on_the_lm_scores_a_depth_by_width_grid(tmp_path, monkeypatch):
    from tests.nas import fortune_corpus as corpus

    corpus.write_corpus(tmp_path / "fortunes", count=80)
    monkeypatch.setenv("WEFT_FORTUNES", str(tmp_path / "fortunes"))
    tiny = (("embed_dims", (8, 16)), ("depths", (1, 2, 3)), ("heads", (1, 2)), ("ffn_widths", (8, 16, 24)),
            ("head_dim", 4), ("context", 16))
    config = sortednet.Config(space="transformer_lm", space_options=tiny, steps=4, batch_size=8, warmup_steps=1,
                              num_models=3, isolate=False)
    results = sortednet.run(config, tmp_path / "run", progress=False)
    assert results["grid_shape"] == [3, 3]  # depth 1..3 x width levels (3 FFN widths; the 2 embeds shared)
    cells = results["sub_models"]
    assert [tuple(c["levels"]) for c in cells] == [(d, w) for d in range(3) for w in range(3)]
    assert len({c["arch"] for c in cells}) == 9  # every cell a distinct nested sub-model
    assert cells[0]["arch"] == sortednet.get_definition("transformer_lm").make_space(
        **dict(tiny)).smallest().to_string()
    assert cells[-1]["relative_to_largest"] == 1.0
    assert all(c["validation_bits_per_char"] > 0 for c in cells)
    config_file = json.loads((tmp_path / "run" / "train" / "config.json").read_text())["config"]
    assert config_file["data"] == "fortunes" and config_file["optimizer"] == "adamw"
    assert config_file["sorted_axes"] == ["depth", "embed_dim,*heads,*ffn_width"]
    assert (tmp_path / "run" / "heatmap.png").stat().st_size > 0
