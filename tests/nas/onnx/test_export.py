"""`nas export --format onnx` and `nas export-onnx`: model.onnx written only once onnxruntime computed what
jax computes on the test split, the check in report.json; an unsupported primitive or a failed check is
one error line and leaves nothing behind."""
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from nas import preprocessing
from nas.cli import main
from nas.export import load_export, load_stablehlo
from nas.onnx import primitives
from nas.onnx.lower import OPSET
from nas.onnx.verify import session
from nas.train.config import TrainConfig
from nas.train.loop import train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "mlp"
    config = TrainConfig(space="mlp", space_options={"max_width": 32, "width_steps": 4}, steps=20, batch_size=64,
                         data="synthetic", limit_train=512, checkpoint_every=100, warmup_steps=2,
                         calibration_images=128, eval_batch_size=256)
    train(config, run, progress=False)
    return run


def nas(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_export_format_onnx_writes_a_checked_model(trained_run, tmp_path):
    out = tmp_path / "largest"
    result = nas("export", "--run", trained_run, "--arch", "largest", "--format", "onnx", "--out", out)
    assert result.exit_code == 0, result.output
    assert "ONNX max |onnxruntime - jax|" in result.output
    record = json.loads((out / "report.json").read_text())["onnx"]
    assert record["opset"] == OPSET and record["checked_examples"] == 512  # the synthetic test split
    assert record["max_abs_diff_vs_jax"] <= record["allowed_diff"] <= 1e-5 * max(1.0, record["max_abs_logit"])
    assert record["argmax_agreement"] == 1.0
    # The file runs on raw inputs, any batch size, as model.stablehlo does.
    info = load_export(out).info
    raw = np.asarray(preprocessing.invert(info["preprocessing"], np.random.default_rng(0).normal(size=(3, 28, 28, 1))),
                     np.float32)
    got = session(out / "model.onnx").run(None, {"inputs": raw})[0]
    np.testing.assert_allclose(got, load_stablehlo(out)(raw), atol=1e-5)


def test_unsupported_primitive_or_failed_check_is_one_line_and_writes_nothing(trained_run, tmp_path, monkeypatch):
    handlers = dict(primitives.HANDLERS)
    del handlers["dot_general"]
    monkeypatch.setattr(primitives, "HANDLERS", handlers)
    result = nas("export", "--run", trained_run, "--arch", "smallest", "--format", "onnx", "--out", tmp_path / "a")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "primitive 'dot_general' has no ONNX lowering" in result.output
    assert "supernets/ops.py" in result.output and "not writing" in result.output  # where it came from

    handlers["dot_general"] = primitives._dot_general
    handlers["add"] = primitives._elementwise("Sub")  # a wrong lowering: the check must catch it
    result = nas("export", "--run", trained_run, "--arch", "smallest", "--format", "onnx", "--out", tmp_path / "b")
    assert result.exit_code == 2 and "ONNX check failed: max |onnxruntime - jax|" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no export, no staging directory


def test_export_onnx_adds_the_model_to_an_existing_export(trained_run, tmp_path, monkeypatch):
    out = tmp_path / "e"
    assert nas("export", "--run", trained_run, "--arch", "smallest", "--out", out).exit_code == 0
    report = json.loads((out / "report.json").read_text())
    assert "onnx" not in report and not (out / "model.onnx").exists()

    monkeypatch.setitem(primitives.HANDLERS, "add", primitives._elementwise("Sub"))
    result = nas("export-onnx", out)
    assert result.exit_code == 2 and "is unchanged" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["arch.json", "model.stablehlo", "params", "report.json"]
    monkeypatch.undo()

    result = nas("export-onnx", out)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "report.json").read_text())
    assert record["onnx"]["checked_examples"] == 512 and record["test_accuracy"] == report["test_accuracy"]
    assert (out / "model.onnx").exists()


def test_missing_packages_name_the_extra(trained_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = nas("export", "--run", trained_run, "--arch", "smallest", "--format", "onnx", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "pip install 'weft[onnx]'" in result.output
    assert not (tmp_path / "x").exists()


def test_a_language_model_exports_to_onnx_reading_token_windows(tmp_path):
    from tests.nas import fortune_corpus as corpus

    corpus.write_corpus(tmp_path / "fortunes", count=80)
    env = {"WEFT_FORTUNES": str(tmp_path / "fortunes")}
    tiny_lm = ["--space", "transformer_lm", "--option", "embed_dims=[16,24]", "--option", "depths=[1,2]",
               "--option", "heads=[1,2]", "--option", "ffn_widths=[32,64]", "--option", "head_dim=8",
               "--option", "context=16", "--data", "fortunes", "--batch-size", "8", "--warmup-steps", "1",
               "--distillation", "none", "--quiet", "--steps", "3", "--run", str(tmp_path / "run")]
    result = CliRunner().invoke(main, ["train", *tiny_lm], env=env)
    assert result.exit_code == 0, result.output
    out = tmp_path / "lm"
    result = CliRunner().invoke(main, ["export", "--run", str(tmp_path / "run"), "--arch", "largest", "--format",
                                       "onnx", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "report.json").read_text())["onnx"]
    assert record["max_abs_diff_vs_jax"] <= record["allowed_diff"] and record["checked_examples"] > 0
    tokens = np.random.default_rng(0).integers(0, 256, (3, 16)).astype(np.int32)
    got = session(out / "model.onnx").run(None, {"inputs": tokens})[0]
    assert got.shape == (3, 16, 256)
    np.testing.assert_allclose(got, load_stablehlo(out)(tokens), atol=1e-5)
