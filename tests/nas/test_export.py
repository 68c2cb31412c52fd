"""Export: the standalone model reloads without the supernet and computes what the supernet computes."""
import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from nas.errors import CheckpointError, ConfigError
from nas.evaluate import make_masked_logits
from nas.export import export_subnet, load_export, load_stablehlo
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
    images = session.dataset.test.images[:32]
    # The exported model carries BN-recalibrated statistics; the MLP has none, so the supernet's equal.
    supernet_logits = make_masked_logits(session.graphdef, session.space)(state.params, state.stats, images,
                                                                        arch.to_vector())
    np.testing.assert_allclose(exported.logits(images), supernet_logits, atol=1e-5)
    np.testing.assert_allclose(load_stablehlo(out)(jnp.asarray(images)), supernet_logits, atol=1e-5)


def test_export_errors_are_clear_and_write_nothing(trained_run, tmp_path):
    with pytest.raises(SpaceError, match="width_1"):
        export_subnet(trained_run, json.dumps({"depth": 2, "width_0": 16}), tmp_path / "a", progress=False)
    with pytest.raises(SpaceError, match="allowed"):
        export_subnet(trained_run, json.dumps({"depth": 9, "width_0": 16}), tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="largest, smallest"):
        export_subnet(trained_run, "biggest", tmp_path / "c", progress=False)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_corrupt_or_mismatched_export_is_refused(trained_run, tmp_path):
    out = export_subnet(trained_run, "smallest", tmp_path / "smallest", progress=False)
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    info = json.loads((broken / "arch.json").read_text())
    info["config"]["hidden"] = [32]  # claims a wider layer than the saved params hold
    (broken / "arch.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="shape"):
        load_export(broken)
    (broken / "arch.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="malformed"):
        load_export(broken)
    with pytest.raises(CheckpointError, match="not a complete export"):
        load_export(tmp_path / "nowhere")
