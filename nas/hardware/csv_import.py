"""`nas latency import`: a latency collection from a CSV of latencies measured anywhere (a phone, an edge
board, a server GPU, a published table), which `nas latency fit|retest` and `nas search
--latency-predictor` then use like a collection of `nas latency collect`.

The CSV has a header row naming an `arch` column and a `latency_ms` column (other columns are ignored):
`arch` is a JSON object of decisions or the space's canonical arch string (`Arch.to_string()`),
`latency_ms` a number > 0. Rows of one arch are one measured arch, at their median latency.

Written: RUN/collection.json (the space, options, input and batch as for a collection; `device` is
{"name": --device, "source": "imported"}; `imported` records the file, its SHA-256 and row counts) and
RUN/archs.jsonl (one "sample" line per arch; median_ms = min_ms = its latency). There is no layers.jsonl:
a lookup table needs layers timed alone, so `fit` offers the MLP, linear and FLOPs predictors and says so.

Every row is checked before anything is written; the run is written to a temporary directory beside it
and renamed into place, so a bad CSV (or a kill) leaves no run behind. A bad row is one line naming the
file's line number, the column and what is allowed.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from nas.atomic_write import staged_directory
from nas.data import renamed_input_shape
from nas.definition import get_definition
from nas.errors import ConfigError, RunDirError, WeftError
from nas.hardware.collect import ARCHS_FILE, META_FILE
from nas.hardware.device import fingerprint
from nas.hardware.inputs import check_input_kind, input_kind, input_shape as resolve_input_shape
from nas.space import Space

ARCH_COLUMN, LATENCY_COLUMN = "arch", "latency_ms"


class CsvError(ConfigError):
    """A CSV of measured latencies is missing, has no arch or latency_ms column, or has a bad row."""


def _arch(space: Space, text: str):
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise WeftError(f"not valid JSON ({error.msg})") from None
        return space.validate(value)
    return space.from_string(text)


def read_csv(path: Path, space: Space) -> tuple[dict, int]:
    """({canonical arch string: [latency_ms, ...]}, data rows); CsvError names the first bad line."""
    if not path.is_file():
        raise CsvError(f"--csv {path} {'is a directory' if path.is_dir() else 'does not exist'}; allowed: a CSV file "
                       f"with {ARCH_COLUMN} and {LATENCY_COLUMN} columns")
    try:
        return _read_rows(path, space)
    except UnicodeDecodeError as error:
        raise CsvError(f"--csv {path} is not UTF-8 text (byte {error.start}); allowed: a CSV file with {ARCH_COLUMN} "
                       f"and {LATENCY_COLUMN} columns") from None


def _read_rows(path: Path, space: Space) -> tuple[dict, int]:
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's byte-order mark
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in (ARCH_COLUMN, LATENCY_COLUMN) if c not in columns]
        if missing:
            raise CsvError(f"{path} has no {' or '.join(repr(c) for c in missing)} column (its header: "
                           f"{', '.join(repr(c) for c in columns) or 'none'}); allowed: a header row with "
                           f"{ARCH_COLUMN!r} (JSON object or canonical arch string) and {LATENCY_COLUMN!r} (ms > 0)")
        reader.fieldnames = columns
        measured, rows, example = {}, 0, space.smallest().to_string()
        for row in reader:
            line = reader.line_num
            arch_text, latency_text = row.get(ARCH_COLUMN), row.get(LATENCY_COLUMN)
            if arch_text is None or latency_text is None:
                raise CsvError(f"{path} line {line}: has fewer fields than the header; allowed: one "
                               f"{ARCH_COLUMN} and one {LATENCY_COLUMN} on every line")
            if None in row:  # csv puts the fields past the header's under None
                raise CsvError(f"{path} line {line}: has more fields than the header; allowed: one field per column "
                               "(quote a field that holds commas, such as a JSON arch: \"{...}\")")
            try:
                arch = _arch(space, arch_text)
            except (WeftError, KeyError) as error:
                raise CsvError(f"{path} line {line}, column {ARCH_COLUMN}: {arch_text.strip()[:80]!r} is not an arch "
                               f"of space {space.name!r} ({error}); allowed: a JSON object of its decisions or its "
                               f"canonical string, e.g. {example!r}") from None
            try:
                latency = float(latency_text)
            except ValueError:
                latency = float("nan")
            if not (math.isfinite(latency) and latency > 0):
                raise CsvError(f"{path} line {line}, column {LATENCY_COLUMN}: {latency_text.strip()!r} is not a "
                               "latency; allowed: a number of milliseconds > 0")
            measured.setdefault(arch.to_string(), []).append(latency)
            rows += 1
    if not rows:
        raise CsvError(f"{path} has a header but no data rows; allowed: one line per measured arch")
    return measured, rows


def import_csv(csv_path: str | Path, run_path: str | Path, *, space: str, options: dict | None = None,
               input_shape: tuple | None = None, batch: int = 1, device: str | None = None,
               image_shape: tuple | None = None) -> dict:
    """Writes the collection RUN from the CSV; returns a summary. Refuses an existing RUN.

    `input_shape`: one example's, (H, W, C) or (T,) (`image_shape` is its former name, still accepted)."""
    input_shape = renamed_input_shape(input_shape, image_shape, "import_csv")
    csv_path, run = Path(csv_path), Path(run_path)
    if run.exists():
        raise RunDirError(f"{run} already exists; allowed: a new --run directory (an import is written whole, "
                          "never merged into another collection)")
    definition = get_definition(space)
    shape = resolve_input_shape(definition, None, options) if input_shape is None else tuple(input_shape)
    shape = check_input_kind(definition, shape, options)
    resolved = definition.resolve_options(options, tuple(shape))
    the_space = definition.make_space(**resolved)
    measured, rows = read_csv(csv_path, the_space)

    device_record = {"name": device or csv_path.stem, "source": "imported"}
    digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    meta = {"space": the_space.name, "version": the_space.version, "space_fingerprint": the_space.fingerprint(),
            "space_spec": space, "options": json.loads(json.dumps(resolved, default=list)),
            "input_shape": list(shape), "inputs": input_kind(shape), "batch": batch,
            "device": device_record, "device_fingerprint": fingerprint(device_record),
            "imported": {"csv": str(csv_path), "sha256": digest, "rows": rows, "archs": len(measured)}}
    lines = []
    for arch_string, latencies in measured.items():
        arch = the_space.from_string(arch_string)
        latency = float(np.median(latencies))
        lines.append({"role": "sample", "arch": arch_string, "vector": arch.to_vector().tolist(),
                      "median_ms": latency, "min_ms": latency, "measurements": len(latencies)})

    with staged_directory(run) as staging:  # a bad CSV or a kill leaves no run behind
        (staging / META_FILE).write_text(json.dumps(meta, indent=1))
        (staging / ARCHS_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return {"run": str(run), "space": the_space.name, "device": device_record["name"], "rows": rows,
            "archs": len(measured), "latency_ms": {"min": min(line["median_ms"] for line in lines),
                                                    "max": max(line["median_ms"] for line in lines)}}
