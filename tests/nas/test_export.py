"""Export: the standalone model reloads without the supernet and computes what the supernet computes."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nas import preprocessing
from nas.errors import CheckpointError, ConfigError
from nas.evaluate import make_masked_logits
from nas.export import export_subnet, export_subnets, load_export, load_stablehlo
from nas.run_dir import RunDir
from nas.space import SpaceError
from nas.train.config import TrainConfig
from nas.train.loop import restore_trained, train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "mlp"
    config = TrainConfig(space="mlp", space_options={"max_width": 32, "width_steps": 4}, steps=30, batch_size=64,
                         data="synthetic", limit_train=1024, checkpoint_every=100, warmup_steps=2,
                         calibration_images=256, eval_batch_size=256)
    train(config, run, progress=False)
    return run


def test_export_reloads_without_supernet_and_matches(trained_run, tmp_path):
    arch_json = json.dumps({"depth": 2, "width_0": 16, "width_1": 24})
    out = export_subnet(trained_run, arch_json, tmp_path / "export", progress=False)
    exported = load_export(out)
    report = json.loads((out / "report.json").read_text())
    assert exported.info["arch"] == {"depth": 2, "width_0": 16, "width_1": 24}
    assert report["max_abs_diff_vs_supernet"] <= 1e-5

    session, state = restore_trained(RunDir.open(trained_run))
    arch = session.space.validate(exported.info["arch"])
    images = session.dataset.test.inputs[:32]
    # The exported model carries BN-recalibrated statistics; the MLP has none, so the supernet's equal.
    supernet_logits = make_masked_logits(session.graphdef, session.space)(state.params, state.stats, images,
                                                                        arch.to_vector())
    np.testing.assert_allclose(exported.logits(images), supernet_logits, atol=1e-5)
    # model.stablehlo reads raw inputs: the normalisation is baked in (synthetic data: scale 1).
    raw = preprocessing.invert(exported.info["preprocessing"], images)
    np.testing.assert_allclose(load_stablehlo(out)(raw), supernet_logits, atol=1e-5)
    np.testing.assert_allclose(exported.predict(raw), supernet_logits, atol=1e-5)


def test_stablehlo_runs_on_raw_fashion_mnist_pixels_in_plain_jax(tmp_path):
    """The README's five lines: raw uint8 test images in, the standalone model's logits out, no weft."""
    import jax

    from nas.data import _locate_fashion_mnist_files, DEFAULT_ROOT, read_idx

    config = TrainConfig(space="mlp", space_options={"max_width": 32, "width_steps": 4}, steps=5, batch_size=32,
                         data="fashion-mnist", limit_train=256, checkpoint_every=100, warmup_steps=1,
                         calibration_images=64, eval_batch_size=500)
    train(config, tmp_path / "run", progress=False)
    out = export_subnet(tmp_path / "run", "largest", tmp_path / "export", progress=False)
    raw_pixels = read_idx(_locate_fashion_mnist_files(Path(DEFAULT_ROOT))["test_images"])[:50]  # uint8 [50, 28, 28]

    with open(out / "model.stablehlo", "rb") as f:
        model = jax.export.deserialize(bytearray(f.read()))
    logits = model.call(raw_pixels[..., None].astype(np.float32))

    exported = load_export(out)
    normalised = restore_trained(RunDir.open(tmp_path / "run"))[0].dataset.test.inputs[:50]
    np.testing.assert_allclose(logits, exported.logits(normalised), atol=1e-5)
    assert exported.info["preprocessing"]["pixel_scale"] == 1 / 255
    # The normalisation is inside: normalised images fed to it as if raw give other logits.
    assert not np.allclose(model.call(np.asarray(normalised)), logits, atol=1e-2)


def test_export_errors_are_clear_and_write_nothing(trained_run, tmp_path):
    with pytest.raises(SpaceError, match="width_1"):
        export_subnet(trained_run, json.dumps({"depth": 2, "width_0": 16}), tmp_path / "a", progress=False)
    with pytest.raises(SpaceError, match="allowed"):
        export_subnet(trained_run, json.dumps({"depth": 9, "width_0": 16}), tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="largest, smallest"):
        export_subnet(trained_run, "biggest", tmp_path / "c", progress=False)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_an_interrupted_export_of_several_archs_resumes_with_the_same_command(trained_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    first, second = export_subnets(run, ["largest", "smallest"], progress=False)
    shutil.rmtree(second)  # interrupted after the first
    stamp = (first / "arch.json").stat().st_mtime_ns
    assert export_subnets(run, ["largest", "smallest"], progress=False) == [first, second]
    assert (first / "arch.json").stat().st_mtime_ns == stamp and (second / "arch.json").exists()
    # Another arch's export in the way is not taken for this one.
    info = json.loads((first / "arch.json").read_text())
    (first / "arch.json").write_text(json.dumps({**info, "arch_string": "depth=1;width_0=8"}))
    with pytest.raises(ConfigError, match="exists and is not empty"):
        export_subnets(run, ["largest"], progress=False)


def test_corrupt_or_mismatched_export_is_refused(trained_run, tmp_path):
    out = export_subnet(trained_run, "smallest", tmp_path / "smallest", progress=False)
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    info = json.loads((broken / "arch.json").read_text())
    info["arch"] = {"depth": 1, "width_0": 32}  # claims a wider layer than the saved params hold
    (broken / "arch.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="shape"):
        load_export(broken)
    info["arch"] = {"depth": 1, "width_0": 33}  # not in the space at all
    (broken / "arch.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="does not fit space 'mlp'.*width_0"):
        load_export(broken)
    info["space_fingerprint"] = "0" * 16
    (broken / "arch.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="another version of space"):
        load_export(broken)
    (broken / "arch.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="arch.json is damaged \\(not JSON"):
        load_export(broken)
    with pytest.raises(CheckpointError, match="not a complete export"):
        load_export(tmp_path / "nowhere")


def test_a_run_and_an_export_from_before_input_shape_still_read(trained_run, tmp_path):
    """Run records and export info written before "image_shape" was renamed "input_shape" keep loading."""
    from nas.data import stored_input_shape

    run = tmp_path / "old-run"
    shutil.copytree(trained_run, run)
    record = json.loads((run / "config.json").read_text())
    assert record["input_shape"] == [28, 28, 1] and "image_shape" not in record
    record["image_shape"] = record.pop("input_shape")
    (run / "config.json").write_text(json.dumps(record))
    assert stored_input_shape(RunDir.open(run).read_config()) == (28, 28, 1)
    out = export_subnet(run, "smallest", tmp_path / "export", progress=False)

    info = json.loads((out / "arch.json").read_text())
    assert info["input_shape"] == [28, 28, 1] and "image_shape" not in info
    info["image_shape"] = info.pop("input_shape")
    del info["space_options"]  # older still: the options are resolved again from the input shape
    (out / "arch.json").write_text(json.dumps(info))
    exported = load_export(out)
    assert exported.input_shape == (28, 28, 1)
    raw = np.zeros((2, 28, 28, 1), np.float32)
    np.testing.assert_allclose(exported.predict(raw), load_stablehlo(out)(raw), atol=1e-5)


CUSTOM_SPACE = '''
from nas.declared_space import declared_space
from search_spaces.mlp import MLP


def tiny_mlp(in_features=784, *, rngs):
    return MLP(max_layers=2, max_width=16, width_steps=2, in_features=in_features, rngs=rngs)


TINY = declared_space("tiny-mlp", tiny_mlp)
'''


def train_and_export_custom_space(folder, module: str, monkeypatch):
    """CUSTOM_SPACE saved as `module`.py in `folder` (the current folder), trained 3 steps into runs/tiny and
    its largest arch exported; returns the CLI runner and `main`."""
    from click.testing import CliRunner

    from nas.cli import main

    (folder / f"{module}.py").write_text(CUSTOM_SPACE)
    monkeypatch.chdir(folder)
    runner = CliRunner()
    trained = runner.invoke(main, ["train", "--space", f"{module}:TINY", "--steps", "3", "--run", "runs/tiny",
                                   "--data", "synthetic", "--batch-size", "16", "--limit-train", "64", "--quiet"])
    assert trained.exit_code == 0, trained.output
    exported = runner.invoke(main, ["export", "--run", "runs/tiny", "--arch", "largest"])
    assert exported.exit_code == 0, exported.output
    return runner, main


def test_a_custom_space_in_the_current_folder_exports_and_reloads_with_no_extra_flags(tmp_path, monkeypatch):
    runner, main = train_and_export_custom_space(tmp_path, "my_spaces", monkeypatch)
    for flags in ([], ["--stablehlo"]):
        evaluated = runner.invoke(main, ["eval-export", "runs/tiny/exports/largest", *flags])
        assert evaluated.exit_code == 0, evaluated.output
        assert json.loads(evaluated.output.splitlines()[-1])["space"] == "tiny-mlp"
    # From another folder the module is not found: the error says where it looked and what to do.
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.delitem(__import__("sys").modules, "my_spaces")  # as in a fresh process
    elsewhere = runner.invoke(main, ["eval-export", str(tmp_path / "runs/tiny/exports/largest")])
    assert elsewhere.exit_code != 0 and "my_spaces" in elsewhere.output and "PYTHONPATH" in elsewhere.output
    # The artifact alone needs none of the space's code.
    alone = runner.invoke(main, ["eval-export", str(tmp_path / "runs/tiny/exports/largest"), "--stablehlo"])
    assert alone.exit_code == 0, alone.output
    # An export from before the preprocessing record is scored, its graph left unchecked with a note.
    monkeypatch.chdir(tmp_path)
    legacy = tmp_path / "legacy"
    __import__("shutil").copytree(tmp_path / "runs/tiny/exports/largest", legacy)
    info = json.loads((legacy / "arch.json").read_text())
    del info["preprocessing"]
    (legacy / "arch.json").write_text(json.dumps(info))
    scored = runner.invoke(main, ["eval-export", str(legacy)])
    assert scored.exit_code == 0, scored.output
    assert "note: " in scored.output and "not checked against its exported graph" in scored.output


CHANGED_SPACE = '''
from nas.declared_space import declared_space
from search_spaces.mlp import MLP


class Negated(MLP):
    def __call__(self, x, **kwargs):
        return -super().__call__(x, **kwargs)


def tiny_mlp(in_features=784, *, rngs):
    return Negated(max_layers=2, max_width=16, width_steps=2, in_features=in_features, rngs=rngs)


TINY = declared_space("tiny-mlp", tiny_mlp)
'''


def test_code_changed_since_the_export_is_not_scored_under_its_name(tmp_path, monkeypatch):
    """Same decisions, same parameters, another forward: only the exported graph can tell."""
    runner, main = train_and_export_custom_space(tmp_path, "edited_spaces", monkeypatch)
    (tmp_path / "edited_spaces.py").write_text(CHANGED_SPACE)
    monkeypatch.delitem(__import__("sys").modules, "edited_spaces")  # as in a fresh process
    changed = runner.invoke(main, ["eval-export", "runs/tiny/exports/largest"])
    assert changed.exit_code == 2 and "differs from the exported model.stablehlo" in changed.output
    assert "code changed since the export; allowed: --stablehlo" in changed.output
    assert runner.invoke(main, ["eval-export", "runs/tiny/exports/largest", "--stablehlo"]).exit_code == 0
