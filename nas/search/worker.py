"""Worker identity: which process evaluates a trial, and whether it is still alive.

A trial left RUNNING by a process of this host that no longer exists (killed) is
stale: a resumed search evaluates it again and finishes it (it never finished, so
nothing finished is evaluated twice). Trials of other hosts are left to them.
A worker name (`--worker`, default `main`) keys the searcher's saved state; a lock
file makes two live processes never share one name (the second becomes `main-1`).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead(worker: str) -> bool:
    """True only for a process of this host that does not exist any more."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_name(directory: Path, name: str) -> tuple[str, Path]:
    """(name, lock file): `name`, or `name-1`, `name-2`... if a live process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    for suffix in range(1000):
        candidate = name if suffix == 0 else f"{name}-{suffix}"
        lock = directory / f"{candidate}.lock"
        for _ in range(2):
            try:
                descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = lock.read_text().strip() if lock.exists() else ""
                if holder and is_dead(holder):
                    lock.unlink(missing_ok=True)  # left by a killed process
                    continue
                break
            with os.fdopen(descriptor, "w") as handle:
                handle.write(this_worker())
            return candidate, lock
    raise RuntimeError(f"no free worker name {name}-N in {directory}")
