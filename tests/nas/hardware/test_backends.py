"""Latency backends: onnxruntime collects a tiny space end to end and the collection records it; fit
on it offers no lookup table and says why; one collection (and one retest) holds one backend; an arch
that cannot be lowered is one error and no half-written collection; the default input is the space's
deployment input (MobileNetV3 224x224x3, which its strides and pooling accept)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.errors import RunDirError
from nas.hardware.backends import LoweringError, backend_of
from nas.hardware.collect import ARCHS_FILE, LAYERS_FILE, META_FILE, CollectConfig, collect, read_jsonl

TINY = {"max_layers": 2, "width_steps": 2, "max_width": 64}  # 6 archs


def _config(n, backend="onnxruntime", **overrides):
    fields = dict(space="mlp", n=n, input_shape=(2, 2, 3), options=TINY, repeats=3, warmup=1, group=2,
                  backend=backend, threads=1)
    fields.update(overrides)
    return CollectConfig(**fields)


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("onnx") / "run"
    collect(_config(5), run, progress=False)
    return run


def test_onnxruntime_collection_records_its_backend_and_times_every_arch(onnx_run):
    meta = json.loads((onnx_run / META_FILE).read_text())
    assert meta["backend"] == "onnxruntime" and backend_of(meta) == "onnxruntime"
    assert meta["device"]["runtime"] == "onnxruntime" and meta["device"]["intra_op_threads"] == 1
    assert meta["threads"] == 1 and meta["layers"] is False and len(meta["load_average"]) == 3
    rows = read_jsonl(onnx_run / ARCHS_FILE)
    assert sorted({r["role"] for r in rows}) == ["reference_end", "reference_start", "sample"]
    assert sum(r["role"] == "sample" for r in rows) == 5
    assert all(r["median_ms"] > 0 and "anchor_ratio" in r and len(r["load_average"]) == 3 for r in rows)
    assert not (onnx_run / LAYERS_FILE).exists()  # whole models only


def test_fit_on_onnxruntime_offers_no_lookup_table_and_says_why(onnx_run, tmp_path):
    result = CliRunner().invoke(main, ["latency", "fit", "--run", str(onnx_run), "--out", str(tmp_path / "fit"),
                                       "--mlp-steps", "20", "--train-fraction", "0.6", "--target", "median"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output.strip().splitlines()[-1])
    assert printed["backend"] == "onnxruntime" and "lut" not in printed["results"]["median"]
    assert "backend onnxruntime times whole models only" in printed["skipped"]["lut"]
    assert json.loads((tmp_path / "fit" / "linear.json").read_text())["backend"] == "onnxruntime"


def test_a_collection_holds_one_backend(onnx_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in (META_FILE, ARCHS_FILE):
        (run / name).write_bytes((onnx_run / name).read_bytes())
    with pytest.raises(RunDirError, match="measured with --backend onnxruntime, not xla"):
        collect(_config(5, backend="xla"), run, progress=False)
    assert (run / ARCHS_FILE).read_bytes() == (onnx_run / ARCHS_FILE).read_bytes()


def test_retest_refuses_two_backends(onnx_run, tmp_path):
    from nas.hardware.retest import retest

    xla = collect(_config(5, backend="xla", layers=False), tmp_path / "xla", progress=False)
    assert json.loads((xla / META_FILE).read_text())["backend"] == "xla"
    with pytest.raises(RunDirError, match="backend onnxruntime but .* with xla"):
        retest(xla, onnx_run)
    same = retest(onnx_run, onnx_run)
    assert same["backend"] == "onnxruntime" and same["shared_archs"] == 5


def test_collections_from_before_backends_are_xla():
    assert backend_of({"space": "mlp"}) == "xla"
    assert backend_of({"imported": {"csv": "x.csv"}}) is None


def test_an_arch_that_cannot_be_lowered_is_one_error_and_writes_nothing(tmp_path, monkeypatch):
    """Simulated: weft's lowering refuses every model (as it would a primitive without an ONNX form)."""
    import nas.onnx
    from nas.errors import ExportError

    def refuse(*args, **kwargs):
        raise ExportError("ONNX export: primitive 'sort' has no ONNX form")
    monkeypatch.setattr(nas.onnx, "to_onnx", refuse)
    with pytest.raises(LoweringError, match=r"arch .* cannot be lowered to ONNX .*sort.*allowed: --backend xla"):
        collect(_config(3), tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()


def test_a_later_arch_that_cannot_be_lowered_keeps_whole_groups(tmp_path, monkeypatch):
    """Simulated: the 5th lowering fails (the anchor, then groups [reference], [s1, s2], [s3, s4]): the
    groups before it stay whole, nothing of its group is written."""
    import nas.onnx
    from nas.errors import ExportError

    real, calls = nas.onnx.to_onnx, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise ExportError("ONNX export: primitive 'sort' has no ONNX form")
        return real(*args, **kwargs)
    monkeypatch.setattr(nas.onnx, "to_onnx", flaky)
    with pytest.raises(LoweringError, match="keeps the 2 archs measured before it, whole"):
        collect(_config(5, group=2, sessions=1), tmp_path / "run", progress=False)
    rows = read_jsonl(tmp_path / "run" / ARCHS_FILE)
    assert [r["role"] for r in rows] == ["reference_start", "sample", "sample"]


def test_default_input_is_the_deployment_shape():
    from nas.definition import get_definition
    from nas.hardware.cli import _input_shape

    assert get_definition("mobilenetv3").deployment_input_shape == (224, 224, 3)
    assert get_definition("mlp").deployment_input_shape is None
    assert _input_shape("mobilenetv3", None, None) == (224, 224, 3)
    assert _input_shape("mobilenetv3", "28,28,1", None) == (28, 28, 1)
    assert _input_shape("mobilenetv3", None, None, (32, 32, 3)) == (32, 32, 3)  # a predictor's stored input
    assert _input_shape("mlp", None, None) == (28, 28, 1)  # no declared deployment: the training input


def test_cost_counts_at_the_deployment_input_unless_told(tmp_path):
    runner = CliRunner()
    counts = {}
    for args in ([], ["--input-shape", "28,28,1"], ["--image-shape", "28,28,1"]):
        result = runner.invoke(main, ["cost", "--space", "mobilenetv3", "--arch", "smallest", *args])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.output.strip().splitlines()[-1])
        counts[tuple(args)] = (tuple(printed["input_shape"]), printed["flops_multiply_adds"])
    assert counts[()][0] == (224, 224, 3)
    assert counts[("--input-shape", "28,28,1")] == counts[("--image-shape", "28,28,1")]
    assert counts[()][1] > 20 * counts[("--input-shape", "28,28,1")][1]  # 64x the pixels (the head is fixed)


def test_collect_without_an_input_shape_uses_the_deployment_shape(tmp_path, monkeypatch):
    import dataclasses

    import nas.hardware.collect as collect_module
    from nas.definition import get_definition

    mlp = dataclasses.replace(get_definition("mlp"), deployment_input_shape=(2, 2, 3))
    monkeypatch.setattr(collect_module, "get_definition", lambda name: mlp)
    run = collect(_config(2, input_shape=None), tmp_path / "run", progress=False)
    assert json.loads((run / META_FILE).read_text())["input_shape"] == [2, 2, 3]


def test_mobilenetv3_runs_at_its_deployment_input():
    """Strides divide 224 by 32 (7x7), global pooling takes any size: a subnet's logits are [batch, classes]."""
    import jax

    from nas.definition import get_definition
    from nas.hardware.collect import _subnet_program

    definition = get_definition("mobilenetv3")
    options = definition.resolve_options(None, input_shape=(224, 224, 3))
    space, supernet = definition.build(options)
    program = _subnet_program(supernet, space.smallest(), 2, (224, 224, 3))
    shape = jax.eval_shape(program.function, *program.args)
    assert shape.shape == (2, options["num_classes"]) and np.dtype(shape.dtype) == np.float32
