"""Hands the heap an XLA compile used back to the operating system once the compile is done.

Compiling a training step on CPU allocates far more than running it, and frees it afterwards; glibc
keeps freed heap in its arenas, so without a trim the process holds the compile's memory for the
rest of the run and the program's own buffers (and the next compile) come on top of it: a run's peak
is then the sum of its compiles' and its programs' memory rather than the larger of them. After every
backend compile (JAX's compile-duration event, sent when the executable is ready and before it runs)
`malloc_trim(0)` returns the free heap. Where there is no glibc (macOS, musl) this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading

import jax

from nas.compile_counter import COMPILE_EVENT

_lock = threading.Lock()
_installed = False


def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def _listener(trim):
    def after_compile(event: str, duration: float, **_kwargs) -> None:
        if event == COMPILE_EVENT:
            trim(0)
    return after_compile


def release_memory_after_compiles() -> bool:
    """Install the trim once per process; False where the C library has no malloc_trim."""
    global _installed
    with _lock:
        if _installed:
            return True
        trim = _malloc_trim()
        if trim is None:
            return False
        jax.monitoring.register_event_duration_secs_listener(_listener(trim))
        _installed = True
        return True
