"""Smoke runs of the benchmarks at tiny sizes: a broken bench fails `make test`, not the next `make bench`."""
import json

import pytest

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
        assert "error" not in row, row  # the bench reports a failed space as a row; the smoke wants none
        assert row["max_abs_diff"] <= row["allowed_diff"] and row["checked_examples"] == 16
        assert row["ort_ms"] > 0 and row["xla_ms"] > 0 and 0 <= row["argmax_agreement"] <= 1
    assert (tmp_path / "table.md").read_text().count("| ok (") == 4 and (tmp_path / "results.json").exists()


def test_train_bench_prints_its_figures(capsys):
    import experiments.bench.train as train_bench

    train_bench.main(["--smoke"])
    result = json_line(capsys)
    # The smoke mlp has no switched execution: the switched strategy is left out, the other measured each round.
    assert result["bench"] == "train" and result["space"] == "mlp" and result["peer"].startswith("skipped")
    assert list(result["ours_ms"]) == ["static_masked"] and len(result["ours_ms_per_round"]["static_masked"]) == 2
    # Every compile counted from the first call on: one step, compiled once, none in the warm-up or the rounds.
    assert result["compile_count"] == {"total": 1, "first_call": {"static_masked": 1}, "after_first_call": 0}
    assert result["cold_compile_s"]["static_masked"] > 0 and result["peak_rss_mb"]["ours"] > 0
    assert len(result["machine"]["start"]["loadavg"]) == 3


def test_evaluate_bench_prints_its_figures(capsys):
    import experiments.bench.evaluate as evaluate_bench

    evaluate_bench.main(["--smoke"])
    result = json_line(capsys)
    assert result["bench"] == "evaluate" and result["subnets"] == 3 and result["ours_ms"]["score_all"] > 0
    # nas search's scorer: SupernetEvaluator's defaults (the mlp has no switched execution, so masked).
    assert result["scorer"]["execution"] == "masked" and result["scorer"]["chunk"] == 8
    assert result["compile_count"]["total"] == 1 and result["compile_count"]["after_first_call"] == 0


def test_rounds_alternate_and_ratios_are_per_round():
    from experiments.bench.peer import alternate

    calls, ours_ms, peer_ms = [], iter([100.0, 200.0, 100.0]), iter([300.0, 500.0, 400.0])
    ours = lambda: calls.append("ours") or {"step": next(ours_ms)}
    peer = lambda: calls.append("peer") or {"ms": next(peer_ms), "peak_rss_mb": 1.0}
    summary = alternate(ours, peer, 3)
    assert calls == ["ours", "peer", "peer", "ours", "ours", "peer"]
    assert summary["order"] == ["ours first", "peer first", "ours first"]
    assert summary["ratio_per_round"] == {"step": [3.0, 2.5, 4.0]} and summary["ratio_median"] == {"step": 3.0}
    assert summary["ratio_range"] == {"step": [2.5, 4.0]} and summary["peer_ms"] == 400.0
    assert summary["ours_ms"] == {"step": 100.0} and summary["peer_per_round"][0] == {"peak_rss_mb": 1.0}


def test_the_peers_subnets_map_onto_our_mobilenetv3():
    from experiments.bench.peer import ofa_eval_archs, ofa_sandwich_archs, to_weft
    from nas.definition import get_definition

    definition = get_definition("mobilenetv3")
    space = definition.make_space(**definition.resolve_options({"width_mult": 1.0}, (32, 32, 3)))
    # The peer's first sandwich draw (step 0, k 0: random.seed(0)) and a deterministic eval list.
    first = ofa_sandwich_archs(0)[0]
    assert len(first["ks"]) == len(first["e"]) == 20 and len(first["d"]) == 5
    assert ofa_eval_archs(0, 4) == ofa_eval_archs(0, 4) and ofa_eval_archs(0, 4) != ofa_eval_archs(1, 4)
    arch = space.from_vector(space.to_vector(to_weft(first)))
    for stage in range(5):
        depth = first["d"][stage]
        assert arch[f"s{stage + 1}.depth"] == depth
        for block in range(depth):  # OFA slot 4*stage+block is our block `block` of that stage
            assert arch[f"s{stage + 1}.b{block}.kernel"] == first["ks"][4 * stage + block]
            assert arch[f"s{stage + 1}.b{block}.expand"] == first["e"][4 * stage + block]
    largest = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5}
    assert space.from_vector(space.to_vector(to_weft(largest))) == space.largest()


@pytest.mark.parametrize("what", ["train", "evaluate"])
def test_profile_bench_prints_where_the_time_goes(capsys, tmp_path, what):
    import experiments.bench.profile_ops as profile_ops

    profile_ops.main(["--smoke", "--what", what, "--trace-dir", str(tmp_path)])
    result = json_line(capsys)
    assert result["bench"] == "profile_ops" and result["what"] == what
    assert result["wall_ms_per_step"] > 0 and result["xla_flops_per_step_g"] > 0
    assert result["slowest_ops"] and all(op["ms_per_step"] >= 0 and op["hlo"] for op in result["slowest_ops"])


def test_step_bench_prints_the_sandwich_against_its_subnets_sliced(capsys):
    import experiments.bench.step as step_bench

    step_bench.main(["--smoke"])
    result = json_line(capsys)
    assert result["bench"] == "step" and result["space"] == "mlp" and len(result["middle_archs"]) == 1
    assert result["compile_count"] == 1  # one masked program for every arch, warm-up and timed calls included
    # The static sandwich runs the same three subnets the sliced sum adds up.
    assert result["sliced_sandwich_ms"] > 0 and result["static_sandwich_over_sliced"] > 0
    assert result["peak_rss_mb"] > 0 and result["sandwich_first_call_s"]["static"] > 0
    assert result["cold_compile_s"] > 0 and result["warm_first_step_overhead_s"] >= 0
