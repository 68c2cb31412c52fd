"""Where a measured model runs: XLA (jax's compiled program) or onnxruntime (the ONNX export).

`xla`: the sliced subnet compiled ahead of time by XLA (`nas.hardware.timing.Program`), the program
`nas search` and `nas export`'s StableHLO run. `onnxruntime`: the same standalone forward lowered to
ONNX by weft (`nas.onnx`, as `nas export --format onnx` writes it, depthwise convs as one grouped
Conv) and run by an onnxruntime CPU InferenceSession, one per arch, with `intra_op_num_threads` the
collection's `--threads` (0: the cores this process may use), one inter-op thread, sequential
execution. Both give `measure_group` the same interface (compile, warm up, one timed call), so both
are timed with the same interleaved repeats, anchor and statistics.

Per-layer timings (the lookup table's entries) are taken only on XLA; an onnxruntime collection
times whole models, and `nas latency fit` says so instead of offering a lookup table.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from nas.errors import ConfigError, RunDirError
from nas.hardware.timing import Compiled

BACKENDS = ("xla", "onnxruntime")
LAYER_BACKENDS = ("xla",)  # backends that time each layer config alone (the lookup table)


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ConfigError(f"--backend {name!r} is not a latency backend; allowed: {', '.join(BACKENDS)}")
    if name == "onnxruntime":
        from nas.onnx import require

        require()
    return name


def backend_of(meta: Mapping) -> str | None:
    """The backend a collection (or predictor) models: recorded since backends exist; collections from
    before were all XLA; imported measurements ran wherever they were measured (None)."""
    if meta.get("backend"):
        return meta["backend"]
    return None if meta.get("imported") else "xla"


def check_same_backend(run, recorded: Mapping, wanted: str | None) -> None:
    """Refuse adding measurements of one backend to a collection of another."""
    have = backend_of(recorded)
    if have != wanted:
        raise RunDirError(f"{run} holds latencies measured with --backend {have}, not {wanted}; one collection "
                          f"models one runtime: allowed: --backend {have} to resume it, or another --run for "
                          f"{wanted}")


def no_layers_reason(meta: Mapping) -> str:
    """Why a collection has no per-layer timings (`nas latency fit`'s `skipped`)."""
    backend = backend_of(meta)
    if meta.get("imported"):
        return "no per-layer timings in this collection (imported measurements: only whole archs)"
    if backend not in LAYER_BACKENDS:
        return (f"no per-layer timings: backend {backend} times whole models only (the lookup table is offered "
                f"where layers are timed: --backend {', '.join(LAYER_BACKENDS)})")
    return "no per-layer timings in this collection (collected with --no-layers)"


def runtime_info(backend: str, threads: int) -> dict:
    """What the device record adds for a backend (it enters the device fingerprint)."""
    if backend != "onnxruntime":
        return {}
    import onnxruntime

    return {"runtime": "onnxruntime", "onnxruntime": onnxruntime.__version__,
            "intra_op_threads": intra_op_threads(threads)}


def intra_op_threads(threads: int) -> int:
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return threads if threads else allowed


class LoweringError(ConfigError):
    """An arch's standalone model has no ONNX form (a primitive weft's lowering does not cover)."""


@dataclass
class OnnxProgram:
    """A standalone forward `x -> logits` and its example input; `compile()` lowers it to ONNX and opens
    an InferenceSession (the time both take is the compile time)."""

    function: Callable
    example: np.ndarray
    threads: int = 0
    label: str = ""

    def compile(self) -> "OnnxCompiled":
        import onnxruntime

        from nas.errors import ExportError
        from nas.onnx import to_onnx
        from supernets.ops import portable_depthwise

        start = time.perf_counter()
        try:
            with portable_depthwise():
                model = to_onnx(self.function, self.example.shape[1:], self.example.dtype)
        except ExportError as error:
            raise LoweringError(f"onnxruntime backend: {self.label or 'the model'} cannot be lowered to ONNX "
                                f"({error}); allowed: --backend xla for it") from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = intra_op_threads(self.threads)
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: self.example}
        return OnnxCompiled(session, feed, time.perf_counter() - start)


class OnnxCompiled(Compiled):
    """An onnxruntime session timed as `timing.Compiled` times an XLA executable (a call returns when done)."""

    def __init__(self, session, feed: dict, compile_s: float):
        super().__init__(session, (feed,), compile_s)

    def start(self):
        return self.executable.run(None, self.args[0])

    def finish(self, out) -> None:
        pass
