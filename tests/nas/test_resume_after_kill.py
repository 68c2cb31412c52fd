"""A `nas train` killed with SIGKILL and re-run ends bit-identical to an uninterrupted run; SIGTERM saves first."""
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from nas.run_dir import RunDir
from nas.train.loop import restore_trained

COMMAND = [sys.executable, "-m", "nas.cli", "train", "--space", "mlp", "--option", "max_width=32",
           "--option", "width_steps=4", "--data", "synthetic", "--limit-train", "512", "--steps", "40",
           "--batch-size", "32", "--checkpoint-every", "4", "--warmup-steps", "2", "--optimizer", "adamw",
           "--num-random", "1", "--quiet"]


def run_command(run, **kwargs):
    return subprocess.Popen(COMMAND + ["--run", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"}, **kwargs)


def final_state(run):
    return jax.tree.leaves(restore_trained(RunDir.open(run))[1])


def test_sigkill_then_same_command_resumes_to_identical_parameters(tmp_path):
    straight = run_command(tmp_path / "straight")
    assert straight.wait(timeout=600) == 0, straight.stderr.read().decode()

    killed = tmp_path / "killed"
    process = run_command(killed)
    deadline = time.time() + 600
    while time.time() < deadline:  # kill once a few checkpoints exist, mid-run
        steps = [int(p.name) for p in (killed / "checkpoints").glob("[0-9]*") if p.name.isdigit()] if (killed / "checkpoints").exists() else []
        if steps and max(steps) >= 12:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    resumed = run_command(killed)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
    for a, b in zip(final_state(tmp_path / "straight"), final_state(killed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))



def test_sigterm_saves_the_step_it_reached(tmp_path):
    """A scheduler's SIGTERM (preemption, a time limit) stops a run as Ctrl-C does: its step is saved."""
    run = tmp_path / "terminated"
    command = [sys.executable, "-m", "nas.cli", "train", "--space", "mlp", "--option", "max_width=32", "--option",
               "width_steps=4", "--data", "synthetic", "--limit-train", "512", "--batch-size", "32", "--quiet",
               "--steps", "100000", "--checkpoint-every", "1000000", "--log-every", "1", "--run", str(run)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "JAX_PLATFORMS": "cpu"})
    deadline = time.time() + 600
    while time.time() < deadline:  # terminate once it trains (metrics are written), long before a checkpoint
        if (run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 130
    assert "interrupted; run the same command again" in process.stderr.read().decode()
    saved = [int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit()]
    assert len(saved) == 1 and saved[0] >= 5  # the interrupt's own save, at the step it reached
