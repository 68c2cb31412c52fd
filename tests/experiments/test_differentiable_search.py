"""The differentiable search experiment: NB201 op counts, bad options in one line, single-path reported as not
applicable to NB201's op types, and (slow) the whole experiment on a tiny NB201 cell with synthetic data, resumed
without searching, training or measuring again, and single-path's chain on a tiny MLP space."""
import dataclasses
import json
import math

import pytest
from click.testing import CliRunner

from experiments import differentiable_search as experiment
from experiments.differentiable_search import Config, op_counts, run
from nas.cli import main
from nas.hardware.counters import load_counter
from nas.hardware.flops_proxy import FlopsProxy
from nas.hardware.predictor_io import save_predictor

TINY = {"channels": 4, "cells_per_stage": 1}


def nb201_predictor(path, options=TINY):
    """A FLOPs-proxy latency predictor of the tiny NB201 cell (any device: threads 0, no XLA flags)."""
    counter = load_counter("nb201", options, (28, 28, 1))
    return save_predictor(path, FlopsProxy(counter, ms_per_mmac=0.5, offset_ms=0.05), space_spec="nb201",
                          options=options, input_shape=(28, 28, 1), batch=1, device={"threads": 0, "xla_flags": ""},
                          device_fingerprint="test")


def test_parameter_free_edges_of_an_nb201_cell_and_null_without_op_types():
    cell = {"node1.from0": "skip_connect", "node2.from0": "none", "node2.from1": "nor_conv_3x3",
            "node3.from0": "avg_pool_3x3", "node3.from1": "skip_connect", "node3.from2": "nor_conv_1x1"}
    assert op_counts(cell) == {"param_free_ops": 4, "skip_connect": 2, "none_ops": 1, "edges": 6}
    assert op_counts({"s1.depth": 2, "s1.b0.kernel": 3}) == {"param_free_ops": None, "skip_connect": None,
                                                            "none_ops": None, "edges": None}


@pytest.mark.parametrize("options, names", [
    (["methods=[\"enas\"]"], "unknown method(s) 'enas'; allowed: tangle, darts, gdas"),
    (["seeds=[]"], "seeds must be a non-empty list"),
    (["latency_budget_fraction=1.5"], "latency_budget_fraction must be in (0, 1)"),
    (["search_steps={\"vit\": 10}"], "search_steps names space(s) vit that the experiment does not search"),
    (["space_options={\"nb201\": {\"cells\": 2}}"], "space 'nb201': unknown option(s) cells"),
    (["data=\"mnist\""], "data must be one of fashion-mnist, synthetic"),
    (["budget_only=true"], "budget_only needs a latency_predictor and latency_space ('mobilenetv3') among spaces"),
    (["latency_predictor=\"P\"", "latency_space=\"nb201\"", "spaces=[\"nb201\"]",
      "space_options={\"nb201\": {\"channels\": 8, \"cells_per_stage\": 1}}"],
     "with options {'channels': 4, 'cells_per_stage': 1} (largest arch"),
])
def test_bad_options_get_one_line_and_exit_2(tmp_path, options, names):
    predictor = nb201_predictor(tmp_path / "predictor.json")
    arguments = [a.replace('"P"', json.dumps(str(predictor))) for a in options]
    result = CliRunner().invoke(main, ["experiment", "differentiable_search", "--run", str(tmp_path / "run"),
                                       *[x for a in arguments for x in ("--option", a)]])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: "), result.output
    assert names in result.output, result.output
    run_dir = tmp_path / "run"
    assert not run_dir.exists() or not any(run_dir.iterdir())  # nothing searched or written


def finite(value) -> bool:
    """Every number in a JSON tree is finite (None allowed)."""
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@pytest.mark.slow  # 12 searches, up to 12 stand-alone trainings, 2 latency timing child processes
def test_the_experiment_end_to_end_on_a_tiny_cell_then_resumes_without_redoing_anything(tmp_path, monkeypatch):
    predictor = nb201_predictor(tmp_path / "predictor.json")
    config = Config(spaces=("nb201",), seeds=(0, 1), space_options={"nb201": TINY}, search_steps={"nb201": 4},
                    isolate=False,
                    standalone_steps={"nb201": 4}, search_batch_size=16, batch_size=16, warmup_steps=1,
                    data="synthetic", limit_train=256, validation_size=64, latency_predictor=str(predictor),
                    latency_space="nb201", latency_repeats=3)
    results = run(config, tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved == json.loads(json.dumps(results)) and finite(saved)
    methods = saved["spaces"]["nb201"]["methods"]
    assert list(methods) == ["tangle", "darts", "gdas", "single-path"]
    assert "not nested" in methods.pop("single-path")["not_applicable"]  # NB201's op types
    for method, summary in methods.items():
        assert [r["seed"] for r in summary["runs"]] == [0, 1]
        for row in summary["runs"]:
            assert 0.0 <= row["test_accuracy"] <= 1.0 and row["search_seconds"] > 0
            assert row["edges"] == 6 and 0 <= row["skip_connect"] <= row["param_free_ops"] <= 6
        assert summary["test_accuracy"]["per_seed"] == [r["test_accuracy"] for r in summary["runs"]]
        assert summary["step"]["memory_mb"] > 0 and summary["step"]["step_ms"] > 0
        assert len(summary["skip_connect"]["per_seed"]) == 2
    latency = saved["latency"]
    assert latency["smallest_predicted_ms"] < latency["budget_ms"] < latency["largest_predicted_ms"]
    assert latency["budget_position"] == pytest.approx(0.25)
    for method in ("tangle", "darts", "gdas"):
        [row] = latency["methods"][method]["runs"]
        assert row["measured_ms"] > 0 and row["ratio"] == pytest.approx(row["measured_ms"] / latency["budget_ms"])
        assert row["within_10pct_or_under"] == (row["ratio"] <= 1.1)
        assert row["position"] is None or -1 < row["position"] < 2  # between the smallest (0) and largest (1)
        assert "test_accuracy" not in row  # latency_standalone is off
    assert saved["latency_within_10pct_or_under"].endswith("/3")
    assert "nb201.darts.test_accuracy" in saved
    table = (tmp_path / "run" / "table.md").read_text()
    assert table.count("| nb201 |") == 4 and "Latency budget on nb201" in table
    assert list(latency["methods"]) == ["tangle", "darts", "gdas"]  # single-path does not apply to NB201
    for plot in ("accuracy.png", "latency.png"):
        assert (tmp_path / "run" / plot).stat().st_size > 0

    # Re-running: every search, training, step measurement and latency measurement is already done.
    names = ("result.json", "summary.json", "measured.json", "tangle-step.json", "darts-step.json", "gdas-step.json")
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.name in names}
    assert sum(p.name == "result.json" for p in stamps) == 6 + 3 and len(stamps) >= 9 + 1 + 3 + 1

    def refuse(*args, **kwargs):
        raise AssertionError("a finished sub-run was run again")
    monkeypatch.setattr(experiment, "search", refuse)
    monkeypatch.setattr("experiments.common.train", refuse)
    monkeypatch.setattr(experiment.subprocess, "run", refuse)
    again = run(config, tmp_path / "run", progress=False)
    assert json.loads(json.dumps(again)) == saved
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items())
    monkeypatch.undo()

    # budget_only: the latency space's searches of every seed run under the budget, and are its rows. Seed 0's
    # budget searches are the ones above (the same settings), so only seed 1 searches.
    budget_only = run(dataclasses.replace(config, budget_only=True), tmp_path / "run", progress=False)
    nb201 = budget_only["spaces"]["nb201"]
    assert nb201["under_latency_budget"] and not saved["spaces"]["nb201"]["under_latency_budget"]
    for method in ("tangle", "darts", "gdas"):
        rows = budget_only["latency"]["methods"][method]["runs"]
        assert [r["seed"] for r in rows] == [0, 1] and rows == nb201["methods"][method]["runs"]
        assert rows[0]["arch"] == latency["methods"][method]["runs"][0]["arch"]
        assert all(0.0 <= r["test_accuracy"] <= 1.0 and r["measured_ms"] > 0 for r in rows)
    assert sum(p.name == "result.json" for p in (tmp_path / "run" / "latency").rglob("result.json")) == 6
    assert "nb201 (under latency budget)" in (tmp_path / "run" / "table.md").read_text()


def test_single_path_on_op_types_is_reported_not_applicable_with_its_reason_and_searches_nothing(tmp_path):
    config = Config(spaces=("nb201",), methods=("single-path",), seeds=(0, 1), space_options={"nb201": TINY},
                    isolate=False,
                    search_steps={"nb201": 4}, standalone_steps={"nb201": 4}, search_batch_size=16, batch_size=16,
                    data="synthetic", limit_train=256, validation_size=64)
    results = run(config, tmp_path / "run", progress=False)
    summary = results["spaces"]["nb201"]["methods"]["single-path"]
    assert "decision 'node1.from0' is not nested" in summary["not_applicable"] and summary["runs"] == []
    assert "| nb201 | single-path | not applicable: its decisions are not nested |" in \
        (tmp_path / "run" / "table.md").read_text()
    assert not list((tmp_path / "run").rglob("result.json"))


MLP = {"max_layers": 2, "max_width": 16, "width_steps": 2}


@pytest.mark.slow  # a single-path search, its stand-alone training, its step cost and a latency timing child
def test_single_path_searches_under_the_budget_on_a_nested_space_end_to_end(tmp_path):
    counter = load_counter("mlp", MLP, (28, 28, 1))
    predictor = save_predictor(tmp_path / "predictor.json", FlopsProxy(counter, ms_per_mmac=0.5, offset_ms=0.05),
                               space_spec="mlp", options=MLP, input_shape=(28, 28, 1), batch=1,
                               device={"threads": 0, "xla_flags": ""}, device_fingerprint="test")
    config = Config(spaces=("mlp",), methods=("single-path",), seeds=(0,), space_options={"mlp": MLP}, isolate=False,
                    search_steps={"mlp": 6}, standalone_steps={"mlp": 4}, search_batch_size=16, batch_size=16,
                    warmup_steps=1, data="synthetic", limit_train=256, validation_size=64,
                    latency_predictor=str(predictor), latency_space="mlp", latency_repeats=3, budget_only=True)
    results = run(config, tmp_path / "run", progress=False)
    [row] = results["spaces"]["mlp"]["methods"]["single-path"]["runs"]
    assert 0.0 <= row["test_accuracy"] <= 1.0 and row["search_seconds"] > 0 and row["measured_ms"] > 0
    assert row["predicted_ms"] == pytest.approx(row["expected_ms"], rel=1e-5)  # 0/1 indicators: the arch's own
    assert results["spaces"]["mlp"]["methods"]["single-path"]["step"]["step_ms"] > 0
    result = json.loads((tmp_path / "run" / "latency" / "single-path-seed0" / "result.json").read_text())
    assert result["method"] == "single-path" and result["warmup_steps"] == 3 and result["arch_string"] == row["arch"]
    assert "| single-path | 0 |" in (tmp_path / "run" / "table.md").read_text()
