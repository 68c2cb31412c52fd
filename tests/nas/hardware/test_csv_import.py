"""nas latency import: a CSV of latencies becomes a collection that fit, retest, cost and search use;
a bad CSV is one clear line and leaves nothing written.

The latencies here are synthetic (a known additive cost per decision plus noise), not any device's."""
import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.hardware.counters import load_counter

OPTIONS = {"max_width": 32, "width_steps": 4, "max_layers": 3}
OPTION_ARGS = sum((["--option", f"{k}={json.dumps(v)}"] for k, v in OPTIONS.items()), [])


@pytest.fixture(scope="module")
def space():
    return load_counter("mlp", OPTIONS).space


def _synthetic_latency(space, archs, seed=0):
    """A made-up device: 0.3 ms + a cost per active decision value + 3% noise."""
    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(99).uniform(0.01, 0.2, space.num_features)
    features = np.asarray(space.features_jax(np.stack([a.to_vector() for a in archs])))
    return (0.3 + features @ weights) * rng.uniform(0.97, 1.03, len(archs))


def _write_csv(path, rows, header=("arch", "latency_ms")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def measured_csv(space, tmp_path_factory):
    rng = np.random.default_rng(0)
    archs = list({a.to_string(): a for a in (space.sample(rng) for _ in range(200))}.values())
    latency = _synthetic_latency(space, archs)
    rows = [(a.to_string() if i % 2 else json.dumps(dict(a)), f"{ms:.5f}") for i, (a, ms) in
            enumerate(zip(archs, latency))]
    return _write_csv(tmp_path_factory.mktemp("csv") / "board.csv", rows)


def _cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def _import(csv_path, run, *extra):
    return _cli("latency", "import", "--space", "mlp", *OPTION_ARGS, "--csv", csv_path, "--run", run, *extra)


def test_import_fit_and_cost(measured_csv, tmp_path):
    code, output = _import(measured_csv, tmp_path / "board", "--device", "edge-board")
    assert code == 0, output
    summary = json.loads(output)
    assert summary["archs"] == summary["rows"] > 40 and summary["device"] == "edge-board"
    meta = json.loads((tmp_path / "board" / "collection.json").read_text())
    assert meta["device"] == {"name": "edge-board", "source": "imported"} and meta["imported"]["rows"] == summary["rows"]

    code, output = _cli("latency", "fit", "--run", tmp_path / "board", "--mlp-steps", "300", "--mlp-hidden", "16")
    assert code == 0, output
    line = json.loads(output)
    assert line["target"] == "median" and set(line["results"]) == {"median"}
    assert set(line["results"]["median"]) == {"mlp", "linear", "layer-cost", "flops"}
    assert "imported" in line["skipped"]["lut"]  # the lookup table needs per-layer timings, and says so
    assert line["results"]["median"]["linear"]["kendall_tau"] > 0.8  # the made-up device is additive
    report = json.loads((tmp_path / "board" / "fit" / "report.json").read_text())
    assert report["best"] in report["selection"]["validation"] and report["settings"]["mlp"]["hidden"] == [16]
    for kind in ("mlp", "linear", "layer-cost", "flops"):
        code, output = _cli("cost", "--space", "mlp", *OPTION_ARGS, "--arch", "largest",
                            "--predictor", tmp_path / "board" / "fit" / f"{kind}.json")
        assert code == 0, output
        assert json.loads(output)["latency_ms"]

    code, output = _cli("latency", "fit", "--run", tmp_path / "board", "--target", "anchored")
    assert code == 2 and output.count("\n") == 1 and "allowed: median" in output


def test_rows_of_one_arch_are_one_arch_at_their_median(space, tmp_path):
    largest, smallest = space.largest().to_string(), space.smallest().to_string()
    path = _write_csv(tmp_path / "repeats.csv", [(largest, 3), (largest, 1), (largest, 2)]
                      + [(smallest, 0.5)] + [(space.sample(np.random.default_rng(i)).to_string(), 1.0)
                                             for i in range(6)])
    assert _import(path, tmp_path / "run")[0] == 0
    rows = {json.loads(line)["arch"]: json.loads(line) for line in
            (tmp_path / "run" / "archs.jsonl").read_text().splitlines()}
    assert rows[largest]["median_ms"] == 2.0 and rows[largest]["measurements"] == 3


def test_retest_of_two_imports(space, measured_csv, tmp_path):
    lines = list(csv.reader(open(measured_csv)))
    again = [(arch, f"{float(ms) * 1.05:.5f}") for arch, ms in lines[1:41]]  # the same board, 5% slower, later
    assert _import(measured_csv, tmp_path / "first")[0] == 0
    assert _import(_write_csv(tmp_path / "again.csv", again), tmp_path / "second")[0] == 0
    code, output = _cli("latency", "retest", "--run", tmp_path / "first", "--against", tmp_path / "second")
    assert code == 0, output
    result = json.loads(output)
    assert result["shared_archs"] == 40 and set(result["results"]) == {"median"}
    assert result["results"]["median"]["ratio_median"] == pytest.approx(1.05, rel=1e-3)


@pytest.mark.parametrize("header,rows,expected", [
    (("arch", "latency_ms"), [("largest", "1.0")], "line 2, column arch: 'largest' is not an arch of space 'mlp'"),
    (("arch", "latency_ms"), [('{"depth": 9}', "1.0")], "line 2, column arch"),
    (("arch", "ms"), [("x", "1.0")], "has no 'latency_ms' column (its header: 'arch', 'ms')"),
    (("architecture", "latency_ms"), [("x", "1.0")], "has no 'arch' column"),
    (("arch", "latency_ms"), [("SMALLEST", "-2.5")], "line 2, column latency_ms: '-2.5' is not a latency; "
                                                     "allowed: a number of milliseconds > 0"),
    (("arch", "latency_ms"), [("SMALLEST", "1"), ("SMALLEST", "0")], "line 3, column latency_ms: '0'"),
    (("arch", "latency_ms"), [("SMALLEST", "fast")], "line 2, column latency_ms: 'fast'"),
    (("arch", "latency_ms"), [("SMALLEST", "nan")], "line 2, column latency_ms: 'nan'"),
    (("arch", "latency_ms"), [], "has a header but no data rows"),
    (("arch", "latency_ms"), [("SMALLEST", "1", "2")], "line 2: has more fields than the header"),
])
def test_a_bad_csv_is_one_line_and_writes_nothing(header, rows, expected, space, tmp_path):
    smallest = space.smallest().to_string()
    rows = [tuple(smallest if cell == "SMALLEST" else cell for cell in row) for row in rows]
    path = _write_csv(tmp_path / "bad.csv", rows, header)
    out = tmp_path / "runs"
    out.mkdir()
    code, output = _import(path, out / "bad")
    assert code == 2 and output.count("\n") == 1 and "Traceback" not in output, output
    assert expected in output
    assert list(out.iterdir()) == []  # no run, no temporary directory


def test_missing_file_and_existing_run_are_refused(measured_csv, tmp_path):
    code, output = _import(tmp_path / "nope.csv", tmp_path / "run")
    assert code == 2 and "nope.csv does not exist" in output and not (tmp_path / "run").exists()
    (tmp_path / "taken").mkdir()
    code, output = _import(measured_csv, tmp_path / "taken")
    assert code == 2 and "already exists" in output and list((tmp_path / "taken").iterdir()) == []


def test_search_under_an_imported_predictor(measured_csv, tmp_path):
    """End to end: CSV -> import -> fit -> nas search --latency-predictor with a latency budget."""
    from nas.search.study import load_front_inputs
    from nas.train.config import TrainConfig
    from nas.train.loop import train

    run = tmp_path / "supernet"
    train(TrainConfig(space="mlp", space_options=OPTIONS, steps=3, batch_size=32, data="synthetic", limit_train=256,
                      checkpoint_every=100, warmup_steps=1, calibration_images=64, eval_batch_size=64),
          run, progress=False)
    assert _import(measured_csv, tmp_path / "board")[0] == 0
    code, output = _cli("latency", "fit", "--run", tmp_path / "board", "--mlp-steps", "200")
    assert code == 0, output
    predictor_path = tmp_path / "board" / "fit" / "linear.json"
    code, output = _cli("search", "--run", run, "--study", "board", "--searcher", "random", "--trials", "12",
                        "--objectives", "accuracy:max,latency:min", "--constraint", "latency<=1.2ms",
                        "--latency-predictor", predictor_path, "--quiet")
    assert code == 0, output
    from nas.hardware.predictor_io import load_predictor

    predictor, _ = load_predictor(predictor_path)
    records, _, _ = load_front_inputs(run, None, "board")
    assert len(records) == 12
    for record in records:
        expected = float(predictor(predictor.space.from_string(record.arch).to_vector()[None])[0])
        assert record.metrics["latency"] == pytest.approx(expected, rel=1e-5)
        assert record.feasible == (record.metrics["latency"] <= 1.2)
