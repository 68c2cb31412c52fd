"""Smoke runs of the benchmarks at tiny sizes: a broken bench fails `make test`, not the next `make bench`."""
import json

import experiments.bench.differentiable as differentiable
import experiments.bench.predictor as predictor


def json_line(capsys) -> dict:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def test_differentiable_bench_prints_its_figures(capsys):
    # The bench's own path (parse, compile both forms, time, report) on the cheapest space with choices;
    # MobileNetV3's mixed-op step takes over a minute to compile, which is the bench's figure, not its smoke.
    differentiable.main(["--space", "mlp", "--batch", "2", "--resolution", "8", "--channels", "1", "--repeats", "1",
                         "--option", "max_layers=2", "--option", "max_width=32", "--option", "width_steps=2"])
    result = json_line(capsys)
    assert result["bench"] == "differentiable" and result["space"] == "mlp" and result["decisions"] == 3
    for form in ("superposition", "mixed_op"):
        assert result[f"{form}_step_ms"] > 0 and result[f"{form}_memory_mb"] > 0 and result[f"{form}_compile_s"] > 0


def test_predictor_bench_prints_its_figures(capsys):
    predictor.main(["--space", "mlp", "--archs", "64", "--repeats", "2", "--measure-archs", "1"])
    result = json_line(capsys)
    assert result["bench"] == "predictor" and result["archs"] == 64
    assert all(result[f"{name}_archs_per_s"] > 0 for name in ("mlp", "lut", "flops_counter"))
    assert len(result["measured_median_ms"]) == 1 and result["measured_median_ms"][0] > 0


def test_onnx_bench_prints_its_figures(capsys, tmp_path):
    import experiments.bench.onnx as onnx_bench

    onnx_bench.main(["--smoke", "--threads", "0", "--spaces", "mlp,transformer_lm", "--out", str(tmp_path)])
    result = json_line(capsys)
    assert result["bench"] == "onnx" and [(r["space"], r["subnet"]) for r in result["rows"]] == [
        ("mlp", "largest"), ("mlp", "smallest"), ("transformer_lm", "largest"), ("transformer_lm", "smallest")]
    for row in result["rows"]:
        assert row["max_abs_diff"] <= row["allowed_diff"] and row["checked_examples"] == 16
        assert row["ort_ms"] > 0 and row["xla_ms"] > 0 and 0 <= row["argmax_agreement"] <= 1
    assert (tmp_path / "table.md").read_text().count("| ok (") == 4 and (tmp_path / "results.json").exists()


def test_train_bench_prints_its_figures(capsys):
    import experiments.bench.train as train_bench

    train_bench.main(["--space", "mlp", "--batch", "4", "--resolution", "8", "--channels", "1", "--repeats", "1",
                      "--skip-peer", "--skip-compile-probe"])
    result = json_line(capsys)
    # The mlp has no switched execution: the switched strategy is left out, the others measured.
    assert result["bench"] == "train" and result["masked_ms"] > 0 and result["static_masked_ms"] > 0
    assert "static_switch_ms" not in result and result["best"] in ("masked", "static_masked")


def test_evaluate_bench_prints_its_figures(capsys):
    import experiments.bench.evaluate as evaluate_bench

    evaluate_bench.main(["--space", "mlp", "--resolution", "8", "--channels", "1", "--subnets", "2",
                         "--calibration-images", "16", "--eval-images", "16", "--eval-batch", "8", "--repeats", "1",
                         "--skip-peer"])
    result = json_line(capsys)
    assert result["bench"] == "evaluate" and result["subnets"] == 2 and result["masked_ms_per_subnet"] > 0
