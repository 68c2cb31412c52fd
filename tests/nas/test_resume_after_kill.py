"""A `nas train` killed with SIGKILL and re-run ends bit-identical to an uninterrupted run; SIGTERM saves first,
also in the child processes an audit trains in."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from nas.run_dir import RunDir
from nas.train.config import TrainConfig
from nas.train.loop import restore_trained, train

COMMAND = [sys.executable, "-m", "nas.cli", "train", "--space", "mlp", "--option", "max_width=32",
           "--option", "width_steps=4", "--data", "synthetic", "--limit-train", "512", "--steps", "40",
           "--batch-size", "32", "--checkpoint-every", "4", "--warmup-steps", "2", "--optimizer", "adamw",
           "--num-random", "1", "--quiet"]


def run_command(run, extra=()):
    return subprocess.Popen(COMMAND + [*extra, "--run", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})


def final_state(run):
    return jax.tree.leaves(restore_trained(RunDir.open(run))[1])


def test_sigkill_or_sigterm_then_same_command_resumes_to_identical_parameters(tmp_path):
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

    # SIGTERM mid-run saves the step it reached, labelled with the steps its state has had: the resume
    # ends bit-identical too, with every logged step once.
    terminated = tmp_path / "terminated"
    process = run_command(terminated, extra=("--log-every", "1"))
    while time.time() < deadline:
        metrics = terminated / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 9:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143, process.stderr.read().decode()
    resumed = run_command(terminated, extra=("--log-every", "1"))
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
    for a, b in zip(final_state(tmp_path / "straight"), final_state(terminated)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    steps = [json.loads(line)["step"] for line in (terminated / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 41))



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
    assert process.wait(timeout=120) == 143  # the shell's code for SIGTERM, so a scheduler sees why it ended
    assert "terminated (SIGTERM); run the same command again" in process.stderr.read().decode()
    saved = [int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit()]
    assert len(saved) == 1 and saved[0] >= 5  # the interrupt's own save, at the step it reached


def test_sigterm_to_an_audit_saves_every_workers_training(tmp_path):
    """An audit trains each arch in a child process, two at a time here. SIGTERM reaches the parent only (a
    scheduler's signal): each child must still save the step it reached, and none may outlive the parent."""
    run = tmp_path / "run"
    train(TrainConfig(space="mlp", space_options={"max_layers": 2, "max_width": 32, "width_steps": 4},
                      data="synthetic", limit_train=256, batch_size=16, steps=4, sampling="sandwich",
                      distillation="none", validation_size=64, log_every=1), run, progress=False)
    command = [sys.executable, "-m", "nas.cli", "audit", "--run", str(run), "--archs", "4", "--steps", "100000",
               "--workers", "2", "--bands", "2", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "JAX_PLATFORMS": "cpu"})

    def training():  # the two claimed archs' runs, once each has logged a few steps
        logs = list((run / "audit").glob("arch-*/metrics.jsonl"))
        return [log.parent for log in logs if len(log.read_text().splitlines()) >= 3]

    deadline = time.time() + 600
    while len(training()) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert len(training()) == 2, process.stderr.read().decode() if process.poll() is not None else "not training"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143, process.stderr.read().decode()
    for arch_run in training():  # checkpoints fall every 25000 steps: any saved step is the interrupt's own save
        saved = [int(p.name) for p in (arch_run / "checkpoints").iterdir() if p.name.isdigit()]
        logged = len((arch_run / "metrics.jsonl").read_text().splitlines())
        assert len(saved) == 1 and 3 <= saved[0] <= logged + 1, (arch_run, saved, logged, process.stderr.read())
    assert not list((run / "audit" / "claims").glob("*"))  # each worker let go of its arch
    lengths = [len(log.read_text()) for log in (run / "audit").glob("arch-*/metrics.jsonl")]
    time.sleep(2)
    assert [len(log.read_text()) for log in (run / "audit").glob("arch-*/metrics.jsonl")] == lengths  # all stopped
