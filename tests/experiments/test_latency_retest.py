"""Smoke test of experiments/latency_retest on a tiny MLP (collections in this process, unpinned): every
setting measured twice and scored, a setting chosen, predictors fitted there, the outputs written; a
re-run resumes without measuring again."""
import json

import pytest

from experiments.latency_retest import Config, run, settings
from nas.errors import ConfigError

TINY = {"max_layers": 2, "width_steps": 4, "max_width": 64}


def _config(**overrides):
    fields = dict(space="mlp", space_options=TINY, batches=(1,), threads=(1,), skip=(), n=5, repeats=3, fit_n=8,
                  fit_seeds=(0,), mlp_steps=20, processes=False)
    fields.update(overrides)
    return Config(**fields)


@pytest.mark.slow  # two pinned child collections per setting: ~45 s
def test_latency_retest_smoke(tmp_path):
    results = run(_config(), tmp_path, progress=False)
    # mlp declares no deployment input: one resolution, both backends.
    assert results["settings"] == ["xla/training/1/1", "onnxruntime/training/1/1"]
    for record in results["retest"].values():
        assert record["shared_archs"] == 5 and set(record["targets"]) == {"anchored", "median", "min"}
        assert record["load"]["a"]["load_1min_mean"] is not None
    chosen = results["chosen"]["setting"]
    assert chosen in results["settings"]
    (backend,) = results["fit"]
    fit = results["fit"][backend]
    assert fit["n_train"] + fit["n_test"] == 8 and {"mlp", "linear", "layer-cost", "flops"} <= set(fit["results"])
    assert ("lut" in fit["results"]) == (backend == "xla")
    assert {p.name for p in tmp_path.iterdir()} >= {"results.json", "table.md", "retest.png", "collections"}
    assert "Chosen setting" in (tmp_path / "table.md").read_text()
    before = {p: p.stat().st_size for p in (tmp_path / "collections").rglob("archs.jsonl")}
    again = run(_config(), tmp_path, progress=False)  # resumes: nothing measured again
    assert {p: p.stat().st_size for p in (tmp_path / "collections").rglob("archs.jsonl")} == before
    assert json.loads((tmp_path / "results.json").read_text())["chosen"] == again["chosen"]


def test_bad_settings_are_one_line():
    with pytest.raises(ConfigError, match="allowed: some of xla, onnxruntime"):
        settings(_config(backends=("tflite",)), {"training": (2, 2, 3)})
    with pytest.raises(ConfigError, match="every setting of the grid is in skip"):
        settings(_config(backends=("xla",), skip=("xla/training/1/1",)), {"training": (2, 2, 3)})
