"""An export's artifacts carry their sha256 in its arch.json, checked when they are loaded.

An export directory is a handful of files a user copies around; a `model.stablehlo` or a `params` folder taken
from another export (another arch of the same shape, another run) would otherwise load under this arch.json
and report its numbers with exit 0.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from nas.errors import CheckpointError

ARTIFACTS_KEY = "artifacts"


def digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (their paths relative to it, and their bytes, in order)."""
    hashed = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            hashed.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hashed.update(block)
    return hashed.hexdigest()


def record(directory: Path, names: tuple[str, ...]) -> dict[str, str]:
    return {name: digest(directory / name) for name in names}


def check(directory: Path, name: str, info: dict) -> None:
    """Refuse an artifact whose bytes are not those the export recorded (exports from before: not checked)."""
    recorded = info.get(ARTIFACTS_KEY, {}).get(name) if isinstance(info.get(ARTIFACTS_KEY), dict) else None
    if recorded is None or not (directory / name).exists():
        return  # absent: the loader says so in its own words
    now = digest(directory / name)
    if now != recorded:
        raise CheckpointError(f"{directory / name} is not what this export wrote (sha256 {now[:16]}..., its "
                              f"arch.json records {recorded[:16]}...): it was replaced or damaged; export the arch "
                              "again, or put back the export's own copy")
