"""Counts XLA compiles, to assert 'one compile per training run' in tests.

Listens to JAX's monitoring events rather than timing anything. An executable
loaded from the persistent compilation cache counts too (as `cache_hits`):
it is still a program JAX had to obtain because tracing missed its caches.
"""
from __future__ import annotations

import contextlib
import threading

import jax

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"
_lock = threading.Lock()
_counters: list["CompileCounter"] = []
_installed = False


class CompileCounter:
    def __init__(self):
        self.backend_compiles = 0
        self.cache_hits = 0
        self.seconds = 0.0

    @property
    def count(self) -> int:
        """Executables obtained: compiled by XLA or loaded from the persistent cache."""
        return self.backend_compiles + self.cache_hits


def _duration_listener(event: str, duration: float, **_kwargs) -> None:
    if event != COMPILE_EVENT:
        return
    with _lock:
        for counter in _counters:
            counter.backend_compiles += 1
            counter.seconds += duration


def _event_listener(event: str, **_kwargs) -> None:
    if event != _CACHE_HIT_EVENT:
        return
    with _lock:
        for counter in _counters:
            counter.cache_hits += 1


@contextlib.contextmanager
def count_compiles():
    """`with count_compiles() as c: ...` then `c.count` backend compiles happened inside."""
    global _installed
    with _lock:
        if not _installed:
            jax.monitoring.register_event_duration_secs_listener(_duration_listener)
            jax.monitoring.register_event_listener(_event_listener)
            _installed = True
        counter = CompileCounter()
        _counters.append(counter)
    try:
        yield counter
    finally:
        with _lock:
            _counters.remove(counter)
