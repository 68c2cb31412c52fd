"""The fingerprint of the device latency is measured on (stored with every measurement and predictor)."""
from __future__ import annotations

import hashlib
import json
import os
import platform

import jax
import jaxlib


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict:
    device = jax.devices()[0]
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"backend": jax.default_backend(), "device_kind": device.device_kind, "device_count": jax.device_count(),
            "cpu_model": _cpu_model(), "threads": threads, "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "jax": jax.__version__, "jaxlib": jaxlib.__version__}


def fingerprint(info: dict) -> str:
    return hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:16]


def default_threads() -> int:
    """1 (the setting measured to retest at tau >= 0.9, experiments/results/latency-retest-quiet) where it can
    still be set, before JAX starts its backend; else 0, the process as it runs (called from Python)."""
    from jax._src import xla_bridge

    return 0 if xla_bridge.backends_are_initialized() else 1


def pin_threads(threads: int) -> None:
    """Run this process on `threads` cores (the highest-numbered of those allowed), before JAX starts.

    With one thread XLA's Eigen thread pool is turned off too: on a machine shared with other
    jobs, a parallel op waits for its slowest thread, and timings spread far more than single-threaded.
    """
    from jax._src import xla_bridge

    from nas.errors import ConfigError
    from nas.xla_flags import set_xla_flags

    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= threads <= len(allowed):
        raise ConfigError(f"--threads must be in 1..{len(allowed)} (the cores this process may use), got {threads}")
    if xla_bridge.backends_are_initialized():
        raise ConfigError("--threads must be set before JAX starts its backend (set it on the command line)")
    os.sched_setaffinity(0, set(allowed[-threads:]))
    if threads == 1:
        set_xla_flags({"xla_cpu_multi_thread_eigen": "false"})
