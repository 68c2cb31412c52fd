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
