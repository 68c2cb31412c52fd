"""Stopping a run cleanly: SIGTERM (a scheduler's preemption or time limit) stops a training as Ctrl-C does, so
it saves the step it reached, and a parent that trains in child processes passes its interrupt on to them.

A parent interrupted while a child trains must not kill the child at once (`subprocess.run` does, 0.25 s later):
the child would lose every step since its last checkpoint. It signals the child and waits a grace period for
the child's own save.
"""
from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from typing import Iterator

# How long a signalled child may take to save and exit before it is killed (its last checkpoint then stays).
STOP_GRACE_S = 30.0
TERMINATED_EXIT_CODE = 128 + signal.SIGTERM  # the shell's convention for a process ended by SIGTERM
INTERRUPTED_EXIT_CODE = 128 + signal.SIGINT


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: handled wherever Ctrl-C is (a training saves), told apart by its exit code."""


def exit_code(interrupt: KeyboardInterrupt) -> int:
    return TERMINATED_EXIT_CODE if isinstance(interrupt, Terminated) else INTERRUPTED_EXIT_CODE


def _raise_terminated(signum, frame):
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` in the main thread (only there can a handler be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def interrupt_once() -> None:
    """For a child process: its first SIGINT or SIGTERM interrupts it, and later ones are ignored.

    A Ctrl-C at a terminal reaches the child and its parent together, and the parent then signals the child
    as well: that second signal must not cut short the save the first one started.
    """
    def first(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    signal.signal(signal.SIGINT, first)
    signal.signal(signal.SIGTERM, first)


def stop_processes(processes: list[subprocess.Popen], first_signal: int = signal.SIGTERM,
                   grace_s: float = STOP_GRACE_S) -> None:
    """Signal each live process, give them `grace_s` together to exit, then kill what is left."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(first_signal)
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_child(process: subprocess.Popen, stop: threading.Event | None = None, poll_s: float = 0.2) -> int:
    """Wait for a child process; if this process is interrupted, or `stop` is set (a sibling worker's thread
    was interrupted), the child is signalled and given its grace period to save before the interrupt goes on.
    An interrupt arriving here sets `stop`, so the sibling workers' children save at the same time."""
    try:
        while True:
            try:
                return process.wait(timeout=None if stop is None else poll_s)
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    raise KeyboardInterrupt from None
    except KeyboardInterrupt:
        if stop is not None:
            stop.set()
        stop_processes([process])
        raise


class HeldInterrupts:
    """SIGINT and SIGTERM held while a training loop runs, and handed on at the step boundary that follows.

    A training step donates its state's buffers to the compiled step: an interrupt raised after that call and
    before its result is kept leaves no state to save, and every step since the last checkpoint is lost. Held,
    the interrupt takes effect once the step is done, logged and (when due) saved, so the save that follows is
    labelled with the steps the state has had. Only signals that raise in Python (a callable handler, set in
    the main thread) are held; each handler is restored before a held signal is handed to it, so what it does
    next (a child ignoring later signals) stands.
    """

    def __init__(self) -> None:
        self.handlers: dict[int, object] = {}
        self.arrived: list[int] = []

    def __enter__(self) -> "HeldInterrupts":
        if threading.current_thread() is threading.main_thread():
            handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
            self.handlers = {number: handler for number, handler in handlers.items() if callable(handler)}
            for number in self.handlers:
                signal.signal(number, self._hold)
        return self

    def _hold(self, signum, frame) -> None:
        self.arrived.append(signum)

    def _hand_on(self) -> None:
        """Restore the handlers, then hand the first held signal (if any) to its own (which raises)."""
        handlers, self.handlers = self.handlers, {}
        for number, handler in handlers.items():
            signal.signal(number, handler)
        arrived, self.arrived = self.arrived, []
        if arrived:
            handlers[arrived[0]](arrived[0], None)

    def deliver(self) -> None:
        """At a step boundary: a signal held during the step takes effect now."""
        if self.arrived:
            self._hand_on()

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self.arrived = []  # already leaving by an exception (the interrupt itself, or an error)
        self._hand_on()
