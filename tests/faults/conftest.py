"""Fault injection: start a `nas` command, SIGKILL it at a seeded random point, run it again.

Every test here is slow. A kill point is drawn per seed from `random.Random(seed)`: a
stage of the command's progress (how many checkpoints, measured lines or evaluations
exist on disk) and a delay after that stage is reached, so the kill lands mid-step,
mid-write or mid-evaluation somewhere else for each seed.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(10)


def nas(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """`nas ARGS` in a new process on CPU; `tests/faults` is importable (its objective module)."""
    environment = {**os.environ, "JAX_PLATFORMS": "cpu",
                   "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT)]), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "nas.cli", *args], env=environment, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def finish(process: subprocess.Popen, timeout: float = 600) -> str:
    """Wait for a command that must succeed; its stdout."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exit {process.returncode}: {err[-3000:]}"
    return out


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], delay: float) -> bool:
    """SIGKILL `process` `delay` seconds after `ready()` first holds; False if it finished before."""
    while process.poll() is None and not ready():
        time.sleep(0.005)
    deadline = time.monotonic() + delay
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    alive = process.poll() is None
    if alive:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    return alive


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0
