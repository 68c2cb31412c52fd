"""Silencing Orbax's and TensorStore's echoes of a checkpoint error the caller reports anyway.

When a checkpoint cannot be read (damaged) or written (a full disk), the caller gets
the error and reports it in one line. Echoes of it would follow on stderr: Orbax's
background threads log the exception with its traceback before handing it to the
caller, or log an ERROR line (a metadata file it cannot parse), and TensorStore,
still working on the checkpoint's other arrays, reports each into the event loop
Orbax has closed ("Event loop is closed", an unraisable exception). Inside
`echoes_quieted()` (a save or restore waited for to its end, so every such error
reaches the caller) those are dropped.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading

_active = 0
_lock = threading.Lock()


class _EchoFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_active and (record.exc_info or record.levelno >= logging.ERROR))


def _drop_closed_loop_reports(previous):
    def hook(unraisable):
        error = unraisable.exc_value
        if not (isinstance(error, RuntimeError) and str(error) == "Event loop is closed"):
            previous(unraisable)
    hook.drops_closed_loop_reports = True
    return hook


@contextlib.contextmanager
def echoes_quieted():
    global _active
    absl = logging.getLogger("absl")
    if not any(isinstance(f, _EchoFilter) for f in absl.filters):
        absl.addFilter(_EchoFilter())
    # TensorStore may report after the call returned, so this hook stays (it drops nothing else).
    if not getattr(sys.unraisablehook, "drops_closed_loop_reports", False):
        sys.unraisablehook = _drop_closed_loop_reports(sys.unraisablehook)
    with _lock:
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
