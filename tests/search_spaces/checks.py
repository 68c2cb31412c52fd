"""Shared by the space tests: the lowering-agreement helpers of test_lowering.py, and a CLI round trip.

Tests run with --import-mode=importlib, so sibling modules are loaded by path.
"""
import importlib.util
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from click.testing import CliRunner

from nas.cli import main
from nas.evaluate import make_masked_logits
from nas.export import load_export, load_stablehlo
from nas.run_dir import RunDir
from nas.train.loop import restore_trained


def _load_sibling(name: str):
    spec = importlib.util.spec_from_file_location(f"weft_tests_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_lowering = _load_sibling("test_lowering")
perturbed_supernet = _lowering.perturbed_supernet
archs_to_check = _lowering.archs_to_check
check_agreement = _lowering.check_agreement
batch_of = _lowering.batch_of


def cli(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def train_export_reload(space: str, options: dict, arch: dict, tmp_path: Path) -> float:
    """`nas train` (3 synthetic steps) then `nas export` of `arch`; the reloaded export must match the supernet.

    Returns the largest |export - supernet| over a batch of test images.
    """
    run, out = tmp_path / "run", tmp_path / "export"
    option_args = [a for key, value in options.items() for a in ("--option", f"{key}={json.dumps(value)}")]
    cli("train", "--space", space, *option_args, "--data", "synthetic", "--limit-train", 256, "--batch-size", 32,
        "--warmup-steps", 1, "--steps", 3, "--quiet", "--run", run)
    assert json.loads((run / "summary.json").read_text())["steps"] == 3
    cli("export", "--run", run, "--arch", json.dumps(arch), "--out", out)
    exported = load_export(out)
    assert exported.info["arch"] == arch
    session, state = restore_trained(RunDir.open(run))
    images = session.dataset.test.images[:32]
    vector = session.space.validate(arch).to_vector()
    # The export carries BN statistics recalibrated for the subnet; compare against the supernet with those.
    stats = _recalibrated_stats(session, state, vector)
    supernet_logits = make_masked_logits(session.graphdef, session.space)(state.params, stats, images, vector)
    difference = float(jnp.max(jnp.abs(exported.logits(images) - supernet_logits)))
    np.testing.assert_allclose(load_stablehlo(out)(jnp.asarray(images)), exported.logits(images), atol=1e-5)
    return difference


def _recalibrated_stats(session, state, vector):
    from nas.evaluate import make_recalibrate

    calibration = session.dataset.train.images[:session.config.calibration_images]
    return make_recalibrate(session.graphdef, session.space)(state.params, state.stats, calibration, vector)
