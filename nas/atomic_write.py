"""Writing a JSON file whole or not at all: a reader (or a run killed mid-write) never sees half of it."""
from __future__ import annotations

import json
from pathlib import Path


def write_json_atomically(path: str | Path, document, **dumps_options) -> Path:
    """`json.dumps(document, **dumps_options)` into `path` through a temporary file beside it, then a rename."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, **dumps_options))
    temporary.replace(path)
    return path
