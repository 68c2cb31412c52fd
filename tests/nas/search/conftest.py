"""A black-box benchmark importable by worker processes (written to a temp dir put on PYTHONPATH), and a tiny
trained MLP run for the supernet searches."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCH = textwrap.dedent('''
    import os
    import time

    import numpy as np

    from nas.space import AtLeast, Choice, IntRange, Space

    SPACE = Space("zdt1", [IntRange("x0", 0, 15), *[Choice(f"x{i}", list(range(8))) for i in range(1, 5)],
                           Choice("x5", list(range(8)), when=AtLeast("x0", 1))])
    OTHER = Space("other", [IntRange("y", 0, 3)])


    _waited = []


    def _barrier():
        """Processes given $BENCH_BARRIER=PATH:N wait at their first call until N have arrived."""
        path, _, count = os.environ["BENCH_BARRIER"].rpartition(":")
        with open(path, "a") as handle:
            handle.write(f"{os.getpid()}\\n")
        deadline = time.time() + 120
        while sum(1 for _ in open(path)) < int(count) and time.time() < deadline:
            time.sleep(0.05)
        _waited.append(True)


    def objective(arch):
        """ZDT1; logs every call (pid, arch) to $BENCH_LOG; SIGKILLs itself at call $BENCH_KILL_AT."""
        if os.environ.get("BENCH_BARRIER") and not _waited:
            _barrier()
        log = os.environ.get("BENCH_LOG")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{os.getpid()} {arch.to_string()}\\n")
            kill_at = int(os.environ.get("BENCH_KILL_AT", "0"))
            if kill_at and sum(1 for _ in open(log)) >= kill_at:
                os.kill(os.getpid(), 9)
        time.sleep(float(os.environ.get("BENCH_SLEEP", "0")))
        f1 = arch["x0"] / 15
        g = 1 + 3 * sum(arch.get(f"x{i}", 0) for i in range(1, 6)) / 35
        return {"f1": f1, "f2": g * (1 - np.sqrt(f1 / g))}


    def size(arch):
        return float(sum(v for v in arch.values()))
''')

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench")
    (directory / "zdt_bench.py").write_text(BENCH)
    sys.path.insert(0, str(directory))
    yield directory
    sys.path.remove(str(directory))


def nas_command(bench_dir, *args, env=None, **kwargs) -> subprocess.Popen:
    """`nas ARGS` in a new process that can import the benchmark."""
    environment = {**os.environ, "PYTHONPATH": f"{bench_dir}{os.pathsep}{ROOT}", "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.Popen([str(Path(sys.executable).with_name("nas")), *args], env=environment, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


BLACK_BOX = ("--space", "zdt_bench:SPACE", "--objective", "zdt_bench:objective", "--outputs", "f1,f2",
             "--objectives", "f1:min,f2:min", "--reference", "f1=1.1", "--reference", "f2=1.1", "--quiet")


def train_tiny_mlp(tmp_path_factory, *, max_layers: int = 2, **changes) -> Path:
    """A small MLP supernet trained on synthetic data (seconds), in a fresh directory."""
    from nas.train.config import TrainConfig
    from nas.train.loop import train

    run = tmp_path_factory.mktemp("runs") / "mlp"
    settings = dict(steps=30, batch_size=64, data="synthetic", limit_train=512, checkpoint_every=100, warmup_steps=2,
                    calibration_images=128, eval_batch_size=128)
    train(TrainConfig(space="mlp", space_options={"max_width": 32, "width_steps": 4, "max_layers": max_layers},
                      **{**settings, **changes}), run, progress=False)
    return run


@pytest.fixture(scope="session")
def tiny_mlp_run(tmp_path_factory):
    """`train_tiny_mlp` with other settings: tiny_mlp_run(max_layers=3, steps=40, ...)."""
    return lambda **changes: train_tiny_mlp(tmp_path_factory, **changes)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    return train_tiny_mlp(tmp_path_factory)
