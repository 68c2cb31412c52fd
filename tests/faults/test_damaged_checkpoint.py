"""A checkpoint cut short mid-write: the run resumes from the one before it, with a warning, and ends with
the parameters of an uninterrupted run; when no checkpoint can be read the error names the newest."""
import shutil

import jax
import numpy as np
import pytest

from nas.run_dir import RunDir
from nas.train.loop import restore_trained

from .conftest import finish, nas

TRAIN = ("train", "--space", "mlp", "--option", "max_width=32", "--option", "width_steps=4", "--data", "synthetic",
         "--limit-train", "256", "--steps", "12", "--batch-size", "32", "--checkpoint-every", "4",
         "--warmup-steps", "1", "--quiet")


def cut_short(checkpoint):
    """Halve the largest file of the checkpoint's arrays, as a write stopped half way would leave it."""
    largest = max((p for p in (checkpoint / "state").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = largest.read_bytes()
    largest.write_bytes(data[:len(data) // 2])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("damaged") / "straight"
    finish(nas(*TRAIN, "--run", str(run)))
    return run


@pytest.mark.slow
def test_a_checkpoint_cut_short_falls_back_to_the_one_before(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    cut_short(run / "checkpoints" / "12")
    resumed = nas(*TRAIN, "--run", str(run))
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    assert "checkpoints/12 cannot be read" in err and "resuming from checkpoint 8 instead" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["12", "8"]
    for a, b in zip(jax.tree.leaves(restore_trained(RunDir.open(trained))[1]),
                    jax.tree.leaves(restore_trained(RunDir.open(run))[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
def test_no_readable_checkpoint_is_one_error_naming_the_newest(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for step in ("8", "12"):
        cut_short(run / "checkpoints" / step)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    failed = nas(*TRAIN, "--run", str(run))
    _, err = failed.communicate(timeout=600)
    assert failed.returncode == 2
    assert err.strip().splitlines()[-1].startswith("error: checkpoint ")
    assert "checkpoints/12 cannot be read" in err and "nor can the earlier 8" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
