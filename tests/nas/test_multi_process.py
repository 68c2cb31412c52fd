"""Two local processes (multi-process JAX over gloo) train to the parameters of one process."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from nas.run_dir import RunDir
from nas.train.loop import restore_trained

TRAIN = [sys.executable, "-m", "nas.cli", "train", "--space", "mlp", "--option", "max_width=32",
         "--option", "width_steps=4", "--data", "synthetic", "--limit-train", "256", "--steps", "6",
         "--batch-size", "32", "--warmup-steps", "1", "--checkpoint-every", "3", "--quiet"]


def nas_train(run, *extra):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(TRAIN + ["--run", str(run), *extra], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    one = nas_train(tmp_path / "one")
    assert one.returncode == 0, one.stderr[-3000:]
    two = nas_train(tmp_path / "two", "--num-processes", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    # Process 0 alone wrote the run's files and reported; both processes wrote the checkpoints together.
    assert json.loads(two.stdout.strip().splitlines()[-1]).keys() == json.loads(one.stdout.strip().splitlines()[-1]).keys()
    assert len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == ["3", "6"]
    leaves = [jax.tree.leaves(restore_trained(RunDir.open(tmp_path / run))[1]) for run in ("one", "two")]
    worst = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(*leaves))
    print("max |2 processes - 1 process|:", worst)
    assert worst <= 1e-5
