"""The mixtures experiment (issue 9) end to end on generated data: every variant scored against the same
stand-alone runs, finished sub-runs of another directory reused only when their config is the same."""
import json

import numpy as np
import pytest

from experiments import mixtures
from nas.errors import ConfigError

TINY = dict(isolate=False, space="mlp", space_options=(("max_width", 64), ("width_steps", 2), ("max_layers", 2)),
            split_decision="depth", archs=4, supernet_steps=4, standalone_steps=3, batch_size=16,
            data="synthetic", limit_train=256)


def test_every_variant_is_scored_against_the_same_stand_alone_runs_and_a_rerun_trains_nothing(tmp_path):
    config = mixtures.Config(variants=("single", "few-shot:2", "mos-layer:2"), **TINY)
    results = mixtures.run(config, tmp_path, progress=False)
    assert [v["variant"] for v in results["variants"]] == ["single", "few-shot:2", "mos-layer:2"]
    assert len(results["standalone"]) == len(results["archs"]) == len(results["costs"]) == 4
    parameters = {v["variant"]: v["parameters"] for v in results["variants"]}
    assert parameters["few-shot:2"] == 2 * parameters["single"]  # two full copies
    assert parameters["mos-layer:2"] > parameters["single"]  # a second expert per kernel and the router
    for variant in results["variants"]:
        pick = variant["under_budget"]
        assert results["costs"][pick["index"]] <= results["budget"]
        assert pick["standalone"] <= pick["oracle_standalone"] and pick["regret"] >= 0
        assert len(variant["inherited"]) == 4 and variant["seconds_per_step"] > 0
    assert (tmp_path / "scatter.png").stat().st_size > 0 and "| few-shot:2 |" in (tmp_path / "table.md").read_text()
    assert "| size: params |" in (tmp_path / "table.md").read_text() and set(results["size_rankers"]) == {"params", "macs"}
    assert all(len(v["agreement"]["kendall_tau_interval"]) == 2 for v in results["variants"])
    stamps = {p: p.stat().st_mtime for p in tmp_path.glob("*/summary.json")}
    rerun = json.loads(json.dumps(mixtures.run(config, tmp_path, progress=False), default=float))
    assert rerun == json.loads((tmp_path / "results.json").read_text())
    assert {p: p.stat().st_mtime for p in tmp_path.glob("*/summary.json")} == stamps


@pytest.mark.slow  # two more trainings (~30 s)
def test_reuse_reads_same_config_sub_runs_and_trains_the_rest(tmp_path):
    first = mixtures.Config(variants=("single",), **TINY)
    mixtures.run(first, tmp_path / "first", progress=False)
    longer = mixtures.Config(variants=("single",), **{**TINY, "supernet_steps": 5}, reuse=str(tmp_path / "first"))
    results = mixtures.run(longer, tmp_path / "second", progress=False)
    assert not list((tmp_path / "second").glob("standalone-*"))  # same stand-alone configs: read from first
    assert results["variants"][0]["run"] == str(tmp_path / "second" / "supernet")  # 5 steps, not 4: trained
    assert np.allclose(results["standalone"], json.loads((tmp_path / "first" / "results.json").read_text())["standalone"])


@pytest.mark.parametrize("variant", ["few-shot", "single:2", "moe:2", "mos-layer:two"])
def test_a_malformed_variant_is_one_clear_error(tmp_path, variant):
    with pytest.raises(ConfigError, match="variant"):
        mixtures.run(mixtures.Config(variants=(variant,), **TINY), tmp_path, progress=False)
