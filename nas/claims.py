"""Work items shared by several worker processes through a directory: each item is done once.

A worker claims an item by creating `<name>.claim` exclusively (atomic on a local or NFS file system);
a claim whose process is gone (same host, pid no longer running) is taken over, so a killed worker's
item is picked up again and finished by resuming its run. Nothing here needs a server.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path


class Claims:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _file(self, name: str) -> Path:
        return self.directory / f"{name}.claim"

    def try_claim(self, name: str) -> bool:
        """True when this process now holds `name` (newly, or taken over from a dead process)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._file(name)
        for _ in range(2):
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._stale(path):
                    return False
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(descriptor, "w") as handle:
                json.dump({"host": socket.gethostname(), "pid": os.getpid()}, handle)
            return True
        return False

    def release(self, name: str) -> None:
        self._file(name).unlink(missing_ok=True)

    def _stale(self, path: Path) -> bool:
        try:
            holder = json.loads(path.read_text())
        except (OSError, ValueError):
            return False  # being written by its claimant right now
        if holder.get("host") != socket.gethostname():
            return False  # another machine's process: cannot tell; it stays claimed
        if holder.get("pid") == os.getpid():
            return True
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError, TypeError):
            return False
        return False
