"""Counts XLA backend compiles, to assert 'one compile per training run' in tests.

Listens to JAX's monitoring events rather than timing anything: a compile
served from the persistent cache is not counted as a backend compile.
"""
from __future__ import annotations

import contextlib
import threading

import jax

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_lock = threading.Lock()
_counters: list["CompileCounter"] = []
_installed = False


class CompileCounter:
    def __init__(self):
        self.count = 0
        self.seconds = 0.0


def _listener(event: str, duration: float, **_kwargs) -> None:
    if event != _COMPILE_EVENT:
        return
    with _lock:
        for counter in _counters:
            counter.count += 1
            counter.seconds += duration


@contextlib.contextmanager
def count_compiles():
    """`with count_compiles() as c: ...` then `c.count` backend compiles happened inside."""
    global _installed
    with _lock:
        if not _installed:
            jax.monitoring.register_event_duration_secs_listener(_listener)
            _installed = True
        counter = CompileCounter()
        _counters.append(counter)
    try:
        yield counter
    finally:
        with _lock:
            _counters.remove(counter)
