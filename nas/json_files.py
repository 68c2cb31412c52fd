"""Reading the JSON files weft writes (records, plans, summaries, reports) with one clear error when one is
damaged or in the wrong place: the file named, what it should hold, and no raw decoder traceback."""
from __future__ import annotations

import json
from pathlib import Path

from nas.errors import RunDirError, WeftError


def read_json_object(path: str | Path, what: str, error: type[WeftError] = RunDirError) -> dict:
    """The JSON object in `path` (which exists); `what` says what the file should be, for the error."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path} is a directory; allowed: {what}")
    try:
        value = json.loads(path.read_text())
    except ValueError as decoding:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise error(f"{path} is damaged (not JSON: {decoding}); allowed: {what}") from None
    if not isinstance(value, dict):
        raise error(f"{path} holds a JSON {type(value).__name__}, not an object; allowed: {what}")
    return value
