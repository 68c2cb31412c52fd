"""Latency collection: resumable after a kill (torn last line included), refuses another setup;
fit writes a report, predictors and a scatter plot; the CLI prints costs and one-line errors."""
import json
import shutil

import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.errors import RunDirError
from nas.hardware.collect import ARCHS_FILE, LAYERS_FILE, CollectConfig, collect, read_jsonl
from nas.hardware.report import fit

TINY = {"max_layers": 2, "width_steps": 2, "max_width": 64}  # 6 archs, 8 layer configs


def _config(n, **overrides):
    fields = dict(space="mlp", n=n, input_shape=(2, 2, 3), options=TINY, repeats=3, warmup=1, group=3,
                  min_sample_s=0.0005)
    fields.update(overrides)
    return CollectConfig(**fields)


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    run = tmp_path_factory.mktemp("latency") / "run"
    collect(_config(5), run, progress=False)
    return run


def test_collection_has_every_arch_once_and_the_reference_twice(collected):
    rows = read_jsonl(collected / ARCHS_FILE)
    samples = [r["arch"] for r in rows if r["role"] == "sample"]
    assert len(samples) == len(set(samples)) == 5
    assert [r["role"] for r in rows].count("reference_start") == 1
    assert rows[0]["role"] == "reference_start" and rows[-1]["role"] == "reference_end"
    assert rows[0]["arch"] == rows[-1]["arch"]
    assert all(r["median_ms"] > 0 and r["compile_s"] > 0 and "anchor_ratio" in r for r in rows)
    assert len(read_jsonl(collected / LAYERS_FILE)) > 4


def test_killed_collection_resumes_keeping_what_it_measured(collected, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("collection.json", LAYERS_FILE):
        (run / name).write_bytes((collected / name).read_bytes())
    kept = (collected / ARCHS_FILE).read_text().splitlines(keepends=True)[:3]
    # As if killed mid-write: three whole lines and a torn sixth.
    (run / ARCHS_FILE).write_text("".join(kept) + '{"role": "sample", "arch": "depth=1;wid')
    collect(_config(5), run, progress=False)
    rows = read_jsonl(run / ARCHS_FILE)
    assert [json.dumps(r) + "\n" for r in rows[:3]] == [json.dumps(json.loads(line)) + "\n" for line in kept]
    samples = [r["arch"] for r in rows if r["role"] == "sample"]
    assert sorted(samples) == sorted(r["arch"] for r in read_jsonl(collected / ARCHS_FILE) if r["role"] == "sample")
    # Nothing left to do: a second resume measures nothing.
    collect(_config(5), run, progress=False)
    assert len(read_jsonl(run / ARCHS_FILE)) == len(rows)


def test_fit_reads_a_device_record_without_cpu_model(collected, tmp_path):
    """A record written elsewhere (another tool, an older weft) may lack any device field."""
    import shutil

    from nas.hardware.report import fit

    run = tmp_path / "run"
    shutil.copytree(collected, run)
    meta = json.loads((run / "collection.json").read_text())
    meta["device"] = {"backend": "cpu"}
    (run / "collection.json").write_text(json.dumps(meta))
    report = fit(run, tmp_path / "fit", mlp_steps=20, targets=("anchored",), train_fraction=0.6)
    assert report["device"] == {"backend": "cpu"} and (tmp_path / "fit" / "scatter.png").exists()


def test_resume_with_another_setup_is_refused(collected):
    with pytest.raises(RunDirError, match="batch=1, not 2"):
        collect(_config(5, batch=2), collected, progress=False)


def test_fit_writes_report_predictors_and_plot(collected, tmp_path):
    from nas.hardware.report import fit

    report = fit(collected, tmp_path / "fit", mlp_steps=200, targets=("anchored",), train_fraction=0.6)
    assert set(report["results"]["anchored"]) == {"lut", "mlp", "linear", "layer-cost", "flops"}
    for kind in ("lut", "mlp", "linear", "layer-cost", "flops"):
        assert (tmp_path / "fit" / f"{kind}.json").exists()
    assert report["best"] in report["selection"]["validation"] and report["n_validation"] == 1
    assert (tmp_path / "fit" / "scatter.png").read_bytes()[:4] == b"\x89PNG"
    assert report["noise"]["reference_arch"] and report["n_test"] == 2

    runner = CliRunner()
    result = runner.invoke(main, ["cost", "--space", "mlp", "--arch", "largest", "--image-shape", "2,2,3",
                                  *sum((["--option", f"{k}={v}"] for k, v in TINY.items()), []),
                                  "--predictor", str(tmp_path / "fit" / "lut.json")])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output)
    assert line["flops_multiply_adds"] == 12 * 64 + 64 * 64 + 64 * 10 and line["latency_ms"]


def test_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["cost", "--space", "mlp", "--arch", '{"depth": 9}'])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "depth" in result.output
    result = runner.invoke(main, ["latency", "fit", "--run", str(tmp_path)])
    assert result.exit_code == 2 and "not a latency collection" in result.output
    result = runner.invoke(main, ["cost", "--space", "mlp", "--arch", "largest", "--image-shape", "28x28"])
    assert result.exit_code == 2 and "--image-shape" in result.output


def test_retest_pairs_the_shared_archs_of_two_collections(collected, tmp_path):
    from nas.hardware.retest import retest

    itself = retest(collected, collected)
    assert itself["shared_archs"] == 5
    assert itself["results"]["min"]["kendall_tau"] == pytest.approx(1.0) and itself["results"]["min"]["within_10pct"] == 1.0
    again = tmp_path / "again"
    collect(_config(3), again, progress=False)  # same seed: the first 3 archs of `collected`, measured anew
    collect(_config(5), again, progress=False)  # extended to all 5, still the same list
    report = retest(collected, again)
    assert report["shared_archs"] == 5 and set(report["results"]) == {"min", "median", "anchored", "anchored_min"}
    assert all(r["ratio_median"] > 0 for r in report["results"].values())
    other = tmp_path / "other"
    collect(_config(5, batch=2), other, progress=False)
    result = CliRunner().invoke(main, ["latency", "retest", "--run", str(collected), "--against", str(other)])
    assert result.exit_code == 2 and "batch=2" in result.output and result.output.count("\n") == 1


def _as_written_before_input_shape(document: dict) -> dict:
    """A document as weft wrote it before "image_shape" was renamed "input_shape"."""
    document = dict(document)
    document["image_shape"] = document.pop("input_shape")
    return document


def test_a_collection_and_a_predictor_from_before_input_shape_still_read(collected, tmp_path):
    import shutil

    from nas.hardware.predictor_io import load_predictor
    from nas.hardware.report import fit
    from nas.hardware.retest import retest

    old = tmp_path / "old"
    shutil.copytree(collected, old)
    meta_path = old / "collection.json"
    meta_path.write_text(json.dumps(_as_written_before_input_shape(json.loads(meta_path.read_text()))))
    collect(_config(5), old, progress=False)  # resuming it: the same input, nothing left to measure
    assert "input_shape" not in json.loads(meta_path.read_text())
    assert retest(collected, old)["shared_archs"] == 5  # an old and a new collection of one input compare
    report = fit(old, tmp_path / "fit", mlp_steps=20, targets=("anchored",), train_fraction=0.6)
    assert report["input_shape"] == [2, 2, 3]

    predictor_path = tmp_path / "fit" / "flops.json"
    document = json.loads(predictor_path.read_text())
    assert document["space"]["input_shape"] == [2, 2, 3] and "image_shape" not in document["space"]
    document["space"] = _as_written_before_input_shape(document["space"])
    predictor_path.write_text(json.dumps(document))
    predictor, loaded = load_predictor(predictor_path)  # the counter at the stored input
    assert predictor.counter.cost_model.input_shape == (2, 2, 3) and loaded["space"]["input_shape"] == [2, 2, 3]
    result = CliRunner().invoke(main, ["cost", "--space", "mlp", "--arch", "largest",
                                       *sum((["--option", f"{k}={v}"] for k, v in TINY.items()), []),
                                       "--predictor", str(predictor_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["input_shape"] == [2, 2, 3]  # the predictor's stored input, not 28x28x1


def test_a_fresh_collect_command_pins_one_thread_by_default(tmp_path):
    """The measured setting (retest tau >= 0.9 on one thread) is the default where it can be honoured: a
    fresh process, before JAX starts; the JSON line reports it, the collection records it."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "nas.cli", "latency", "collect", "--space", "mlp",
                          *[a for k, v in TINY.items() for a in ("--option", f"{k}={v}")], "--n", "1", "--repeats",
                          "3", "--group", "1", "--no-layers", "--run", str(tmp_path / "c"), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["threads"] == 1


def test_each_arch_is_timed_in_every_session_and_their_ratios_pooled(collected, tmp_path):
    import shutil

    import numpy as np

    run = tmp_path / "sessions"
    collect(_config(3, sessions=2), run, progress=False)
    rows = read_jsonl(run / ARCHS_FILE)
    assert len(rows) == 5 and json.loads((run / "collection.json").read_text())["sessions"] == 2
    for row in rows:
        ratios = row["session_anchor_ratios"]
        assert row["sessions"] == 2 and len(ratios) == 2 and len(row["samples_ms"]) == 2 * 3
        assert row["anchor_ratio"] == pytest.approx(np.sqrt(ratios[0] * ratios[1]), rel=1e-6)
    with pytest.raises(RunDirError, match="sessions=2, not 3"):
        collect(_config(3, sessions=3), run, progress=False)
    # A collection from before sessions were recorded was timed in one: it resumes as such, and only as such.
    old = tmp_path / "old"
    shutil.copytree(collected, old)
    meta = json.loads((old / "collection.json").read_text())
    del meta["sessions"]
    (old / "collection.json").write_text(json.dumps(meta))
    collect(_config(5), old, progress=False)
    with pytest.raises(RunDirError, match="sessions=1, not 2"):
        collect(_config(5, sessions=2), old, progress=False)


def test_sessions_below_one_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["latency", "collect", "--space", "mlp", "--run", str(tmp_path / "r"),
                                       "--sessions", "0", "--threads", "0"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "--sessions" in result.output
    assert not (tmp_path / "r").exists()


def test_anchored_latency_takes_its_scale_from_every_group_not_one_timing_of_the_reference(collected, tmp_path):
    import shutil

    import numpy as np

    from nas.hardware.report import load_collection

    run = tmp_path / "run"
    shutil.copytree(collected, run)
    rows = read_jsonl(run / ARCHS_FILE)
    before = load_collection(run)["targets"]["anchored"]
    samples = [r for r in rows if r["role"] == "sample"]
    scale = np.median([r["median_ms"] / r["anchor_ratio"] for r in samples])
    np.testing.assert_allclose(before, [r["anchor_ratio"] * scale for r in samples], rtol=1e-6)
    rows[0]["median_ms"] *= 1.5  # the reference timed alone at a slow moment
    (run / ARCHS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    np.testing.assert_allclose(load_collection(run)["targets"]["anchored"], before, rtol=1e-6)


def test_a_damaged_line_stops_every_reader_and_the_measurements_after_it_stay(collected, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(collected, run)
    lines = (run / ARCHS_FILE).read_text().splitlines(keepends=True)
    damaged = "".join(lines[:2] + ["{bad\n"] + lines[3:])
    (run / ARCHS_FILE).write_text(damaged)
    for call in (lambda: read_jsonl(run / ARCHS_FILE), lambda: read_jsonl(run / ARCHS_FILE, repair=True),
                 lambda: fit(run, tmp_path / "fit"), lambda: collect(_config(5), run, progress=False)):
        with pytest.raises(RunDirError, match="archs.jsonl line 3 is not a JSON record.*fix or delete that line"):
            call()
        assert (run / ARCHS_FILE).read_text() == damaged  # the later lines are measurements: never cut


def test_a_torn_last_line_is_left_out_and_cut_only_by_a_collection_that_appends(tmp_path, capsys):
    path = tmp_path / "records.jsonl"  # a file with no required fields
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    assert path.read_text().endswith('{"a": 3') and "torn line" in capsys.readouterr().err
    assert read_jsonl(path, repair=True) == [{"a": 1}, {"a": 2}]
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'


@pytest.mark.parametrize("damage, message", [({"vector": None}, "line 2 lacks vector"),
                                             ({"vector": [1, "2"]}, "line 2 has vector \\[1, '2'\\], not a list"),
                                             ({"role": None}, "line 2 lacks role")])
def test_a_record_without_its_fields_stops_the_readers_and_stays(collected, tmp_path, damage, message):
    run = tmp_path / "run"
    shutil.copytree(collected, run)
    rows = read_jsonl(run / ARCHS_FILE)
    rows[1] = {key: value for key, value in {**rows[1], **damage}.items() if value is not None}
    damaged = "".join(json.dumps(r) + "\n" for r in rows)
    (run / ARCHS_FILE).write_text(damaged)
    for call in (lambda: fit(run, tmp_path / "fit"), lambda: collect(_config(5), run, progress=False)):
        with pytest.raises(RunDirError, match=f"archs.jsonl {message}.*fix or delete that line"):
            call()
        assert (run / ARCHS_FILE).read_text() == damaged


def test_a_measurement_that_is_no_latency_is_refused_by_fit(collected, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(collected, run)
    rows = read_jsonl(run / ARCHS_FILE)
    sample = next(i for i, r in enumerate(rows) if r["role"] == "sample")
    rows[sample]["median_ms"] = -3.0
    (run / ARCHS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(RunDirError, match="has median_ms=-3.0; allowed: a positive number of milliseconds"):
        fit(run, tmp_path / "fit")
