"""`nas train` SIGKILLed at a random point, then run again: parameters bit-identical to an uninterrupted
run, and metrics.jsonl holds each logged step once."""
import json
import random

import jax
import numpy as np
import pytest

from nas.run_dir import RunDir
from nas.train.loop import restore_trained

from .conftest import SEEDS, finish, kill_when, nas

STEPS, EVERY = 60, 3
TRAIN = ("train", "--space", "mlp", "--option", "max_width=32", "--option", "width_steps=4", "--data", "synthetic",
         "--limit-train", "512", "--steps", str(STEPS), "--batch-size", "32", "--checkpoint-every", str(EVERY),
         "--warmup-steps", "2", "--optimizer", "adamw", "--num-random", "1", "--quiet")


def final_leaves(run):
    return jax.tree.leaves(restore_trained(RunDir.open(run))[1])


def checkpoint_steps(run) -> list[int]:
    directory = run / "checkpoints"
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit()) if directory.exists() else []


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("train") / "straight"
    finish(nas(*TRAIN, "--run", str(run)))
    metrics = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    return final_leaves(run), metrics


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_killed_training_resumes_to_identical_parameters(uninterrupted, tmp_path, seed):
    reference, reference_metrics = uninterrupted
    run = tmp_path / "run"
    draw = random.Random(seed)
    after_checkpoint, delay = draw.choice(range(0, STEPS, EVERY)), draw.uniform(0.0, 0.3)
    killed = kill_when(nas(*TRAIN, "--run", str(run)),
                       lambda: after_checkpoint == 0 or after_checkpoint in checkpoint_steps(run), delay)
    print(f"seed {seed}: kill {delay:.3f}s after checkpoint {after_checkpoint}: killed={killed}, "
          f"checkpoints then {checkpoint_steps(run)}")
    assert killed
    finish(nas(*TRAIN, "--run", str(run)))
    for a, b in zip(reference, final_leaves(run), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    logged = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == reference_metrics
