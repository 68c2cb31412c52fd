"""Writing a file whole or not at all: a reader (or a run killed mid-write) never sees half of it.

Each write goes to a uniquely named temporary file beside the target, then one rename, so two processes
writing the same file (workers sharing a run, a shared compile cache) never interleave their bytes.
A directory written as a whole (an export, an imported collection) is staged the same way.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Calls `write(file)` on a temporary file beside `path`, then renames it onto `path`.

    If `write` raises, the temporary file is removed and `path` keeps what it held before.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomically(path: str | Path, data: bytes) -> Path:
    return write_atomically(path, lambda out: out.write(data))


def write_text_atomically(path: str | Path, text: str) -> Path:
    return write_bytes_atomically(path, text.encode())


def write_json_atomically(path: str | Path, document, **dumps_options) -> Path:
    """`json.dumps(document, **dumps_options)` into `path`, whole or not at all."""
    return write_text_atomically(path, json.dumps(document, **dumps_options))


@contextmanager
def staged_directory(path: str | Path) -> Iterator[Path]:
    """Yields a new directory beside `path` to fill; when the block ends without error it is renamed onto
    `path` (which must be absent or empty), else removed: `path` is never left half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".staged"))
    try:
        yield staging
        if path.exists():
            path.rmdir()  # refuses (OSError) a directory that is not empty: nothing of it is replaced
        os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
