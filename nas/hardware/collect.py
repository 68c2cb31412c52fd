"""`nas latency collect`: a resumable dataset of measured archs (and of timed layers).

Run directory:
    collection.json  space (name, version, fingerprint), options, input shape ((H, W, C) images or
                     (T,) int32 tokens, `inputs` says which), batch, backend (xla or onnxruntime,
                     `nas.hardware.backends`), threads, device fingerprint, load average at the start
    layers.jsonl     one line per distinct layer config, timed alone (the lookup table's entries; XLA only)
    archs.jsonl      one line per measured arch; role "sample", or "reference_start"/"reference_end":
                     the same reference arch measured before and after the samples (the noise); each
                     line records the machine's load average (1, 5, 15 minutes) when it was written

Lines are appended and flushed after each small group, so a killed collection keeps what it
measured; re-running the same command measures only what is missing. Archs are drawn from
`seed`, so a larger `--n` later extends the same list. A collection holds one backend: resuming it
with another is refused. On onnxruntime, an arch weft cannot lower to ONNX stops the collection with
one error naming it; a new collection whose reference arch cannot be lowered writes nothing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from nas.data import with_input_shape
from nas.definition import get_definition
from nas.errors import ConfigError, RunDirError
from nas.json_files import read_json_object
from nas.hardware.backends import (LAYER_BACKENDS, LoweringError, OnnxProgram, check_backend,
                                   check_same_backend, runtime_info)
from nas.hardware.cost_model import resolve_cost_model
from nas.hardware.counters import CostCounter
from nas.hardware.device import device_info, fingerprint
from nas.hardware.inputs import (check_input_kind, deployment_shape, example_input, input_kind,
                                 input_shape as resolve_input_shape)
from nas.hardware.tables import config_key
from nas.hardware.timing import Program, combine_sessions, measure_group
from nas.lowering import slice_subnet, split, standalone_apply
from nas.space import Arch

META_FILE, LAYERS_FILE, ARCHS_FILE = "collection.json", "layers.jsonl", "archs.jsonl"
# The fields every record of each JSONL file holds (a measured or imported arch; a measured layer).
RECORD_KEYS = {ARCHS_FILE: ("role", "arch", "vector", "median_ms", "min_ms"), LAYERS_FILE: ("key", "median_ms", "min_ms")}
COLLECTION_RECORD = f"the {META_FILE} that nas latency collect or import writes"
# Fields of collection.json that a resumed collection must share with the first run.
_MUST_MATCH = ("space", "version", "space_fingerprint", "options", "input_shape", "batch", "threads",
               "device_fingerprint", "sessions")
_BEFORE = {"sessions": 1}  # what a collection from before a field was recorded had
_REFERENCE_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class CollectConfig:
    space: str = "mobilenetv3"
    n: int = 200
    batch: int = 1
    input_shape: tuple | None = None  # (H, W, C) or (T,); None: the space's deployment input (`inputs.input_shape`)
    options: Mapping | None = None
    seed: int = 0
    group: int = 4
    repeats: int = 41
    warmup: int = 3
    min_sample_s: float = 0.0
    layers: bool = True  # time each layer config (only where the backend can: XLA)
    backend: str = "xla"  # xla or onnxruntime (nas.hardware.backends)
    threads: int = 0  # onnxruntime's intra-op threads (0: the cores this process may use); recorded for both
    sessions: int | None = None  # independent compiles of each arch, each timed `repeats` times
    # (`timing.combine_sessions`); None: `default_sessions(backend)`


def default_sessions(backend: str) -> int:
    """Compiles per arch: several where a compile is cheap (an onnxruntime session, ~0.4 s for MobileNetV3 at
    224x224), one on XLA (seconds per arch)."""
    return 3 if backend == "onnxruntime" else 1


def read_jsonl(path: Path, *, repair: bool = False) -> list[dict]:
    """The records of a JSONL file a collection appends to.

    A torn last line (a write killed midway leaves no newline) is left out with a warning, and cut from disk
    only with `repair` (the caller is about to append after it). Any other line that is no JSON object is an
    error naming it, and the file is left as it is: the lines after it are measurements. So is a record that
    lacks a field its file's records hold (`RECORD_KEYS`), or an arch whose vector is no list of integers.
    """
    if not path.exists():
        return []
    if path.is_dir():
        raise RunDirError(f"{path} is a directory; allowed: the JSONL file of measurements nas latency writes")
    data = path.read_bytes()
    *complete, torn = data.split(b"\n")
    rows = []
    for number, raw in enumerate(complete, start=1):
        try:
            row = json.loads(raw)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            raise RunDirError(f"{path} line {number} is not a JSON record ({raw[:60]!r}); the file is left as it "
                              "is: fix or delete that line, then run the command again")
        missing = [key for key in RECORD_KEYS.get(path.name, ()) if key not in row]
        vector = row.get("vector", [])
        if missing or not (isinstance(vector, list) and all(type(v) is int for v in vector)):
            what = f"lacks {', '.join(missing)}" if missing else f"has vector {vector!r}, not a list of integers"
            raise RunDirError(f"{path} line {number} {what}; the file is left as it is: fix or delete that line, "
                              "then run the command again")
        rows.append(row)
    if torn:
        print(f"warning: {path} ends in a torn line (a write stopped midway): "
              + ("cut, its measurement is taken again" if repair else "left out"), file=sys.stderr)
        if repair:
            with open(path, "r+b") as handle:
                handle.truncate(len(data) - len(torn))
    return rows


def _append(path: Path, rows: Sequence[dict]) -> None:
    with open(path, "a") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def _metadata(config: CollectConfig, space, resolved: dict) -> dict:
    info = {**device_info(), **runtime_info(config.backend, config.threads)}
    return {"space": space.name, "version": space.version, "space_fingerprint": space.fingerprint(),
            "space_spec": config.space, "options": json.loads(json.dumps(resolved, default=list)),
            "input_shape": list(config.input_shape), "inputs": input_kind(config.input_shape),
            "batch": config.batch, "seed": config.seed, "backend": config.backend, "threads": config.threads,
            "layers": config.layers, "repeats": config.repeats, "sessions": config.sessions, "warmup": config.warmup,
            "device": info,
            "device_fingerprint": fingerprint(info), "load_average": load_average()}


def _check_run(run: Path, meta: dict) -> bool:
    """True if RUN is a collection already (of this setup: else RunDirError), False if it is new."""
    path = run / META_FILE
    if not path.exists():
        owned = ("config.json", "checkpoints", "summary.json", "metrics.jsonl", ARCHS_FILE, LAYERS_FILE)
        others = [p.name for p in run.iterdir() if p.name in owned] if run.is_dir() else []
        if others:  # another run of weft (a training, say), or measurements without their record; a log is fine
            raise RunDirError(f"{run} is not empty and holds no {META_FILE} (it holds {', '.join(sorted(others)[:3])}"
                              f"{', ...' if len(others) > 3 else ''}); allowed: a new directory, or a collection of "
                              "nas latency collect to resume")
        return False
    old = with_input_shape(read_json_object(path, COLLECTION_RECORD))  # collections from before "input_shape" have "image_shape"
    check_same_backend(run, old, meta["backend"])
    for key in _MUST_MATCH:
        if key == "threads" and key not in old:  # collected before threads were recorded: the device says them
            continue
        recorded = old.get(key, _BEFORE.get(key))
        if recorded != meta[key]:
            raise RunDirError(f"{run} was collected with {key}={recorded!r}, not {meta[key]!r}; "
                              f"allowed: the same space, options, input, batch, threads, sessions and device, "
                              f"or another --run")
    return True


def _open_run(run: Path, meta: dict) -> None:
    run.mkdir(parents=True, exist_ok=True)
    path = run / META_FILE
    partial = path.with_suffix(".tmp")  # a kill mid-write must not leave a torn file that blocks the resume
    partial.write_text(json.dumps(meta, indent=1))
    partial.replace(path)


def _subnet_program(supernet, arch: Arch, batch: int, input_shape, backend: str = "xla", threads: int = 0):
    graphdef, params, stats = split(slice_subnet(supernet, arch))
    if backend == "onnxruntime":  # the params are constants of the graph, as in nas export --format onnx
        def standalone(x):
            return standalone_apply(graphdef, params, stats, x, train=False)[0]
        return OnnxProgram(standalone, np.asarray(example_input(input_shape, batch)), threads,
                           label=f"arch {arch.to_string()}")

    def forward(params, stats, x):
        return standalone_apply(graphdef, params, stats, x, train=False)[0]
    return Program(forward, (params, stats, example_input(input_shape, batch)))


def _layer_program(cost_model, layer_config: Mapping, batch: int) -> Program:
    # A layer reads float activations even in a token space (the LM's blocks read hidden states).
    module, input_shape = cost_model.build(layer_config, nnx.Rngs(0))
    graphdef, state = nnx.split(module)

    def forward(state, x):
        return nnx.merge(graphdef, state)(x)
    return Program(forward, (state, jnp.zeros((batch, *input_shape), jnp.float32)))


def _timing_kwargs(config: CollectConfig) -> dict:
    return {"repeats": config.repeats, "warmup": config.warmup, "min_sample_s": config.min_sample_s}


def collect(config: CollectConfig, run_path: str | Path, *, progress: bool = True) -> Path:
    run = Path(run_path)
    definition = get_definition(config.space)
    check_backend(config.backend)
    if config.threads < 0:
        raise ConfigError(f"threads must be >= 0 (0: the cores this process may use), got {config.threads}")
    if config.seed < 0:
        raise ConfigError(f"seed must be >= 0 (it draws the archs), got {config.seed}")
    if config.sessions is None:
        config = dataclasses.replace(config, sessions=default_sessions(config.backend))
    if config.sessions < 1:
        raise ConfigError(f"sessions must be >= 1 (compiles timed per arch), got {config.sessions}")
    shape = (resolve_input_shape(definition, None, config.options, deployment_shape(definition))
             if config.input_shape is None else config.input_shape)
    config = dataclasses.replace(config, input_shape=check_input_kind(definition, shape, config.options),
                                 layers=config.layers and config.backend in LAYER_BACKENDS)
    resolved = definition.resolve_options(config.options, tuple(config.input_shape))
    space = definition.make_space(**resolved)
    meta = _metadata(config, space, resolved)
    resuming = _check_run(run, meta)
    if config.n > space.size():
        raise ConfigError(f"--n {config.n} is more than the {space.size()} archs of space {space.name!r}; "
                          f"allowed: 1..{space.size()}")
    cost_model = resolve_cost_model(definition, resolved, tuple(config.input_shape))
    counter = CostCounter(space, cost_model)
    rows = read_jsonl(run / ARCHS_FILE, repair=True)
    measured = {(r["role"], r["arch"]) for r in rows}
    rng = np.random.default_rng(config.seed)
    samples, seen = [], set()
    while len(samples) < config.n:
        arch = space.sample(rng)
        if arch.to_string() not in seen:
            seen.add(arch.to_string())
            samples.append(arch)
    reference = space.sample(np.random.default_rng(config.seed + _REFERENCE_SEED_OFFSET))
    missing = [("sample", a) for a in samples if ("sample", a.to_string()) not in measured]
    # The reference arch is timed alone, before the first sample and after the last one.
    groups = [[("reference_start", reference)]] if ("reference_start", reference.to_string()) not in measured else []
    groups += [missing[i:i + config.group] for i in range(0, len(missing), config.group)]
    if groups or not any(r["role"] == "reference_end" for r in rows):
        groups.append([("reference_end", reference)])

    supernet = definition.build(resolved)[1]

    def program(arch):
        return _subnet_program(supernet, arch, config.batch, config.input_shape, config.backend, config.threads)
    # The reference arch, compiled once per process, is the anchor every sample is timed against. It is
    # compiled (on onnxruntime: lowered) before a new collection writes anything.
    anchor = program(reference).compile() if groups else None
    if not resuming:
        _open_run(run, meta)

    if config.layers:
        done = {row["key"] for row in read_jsonl(run / LAYERS_FILE, repair=True)}
        todo = [c for c in counter.layers.distinct_configs() if config_key(c) not in done]
        bar = tqdm(total=len(todo), desc="layers", unit="config", disable=not progress)
        for start in range(0, len(todo), config.group):
            chunk = todo[start:start + config.group]
            results = measure_group([_layer_program(cost_model, c, config.batch) for c in chunk],
                                    **_timing_kwargs(config))
            _append(run / LAYERS_FILE, [{"key": config_key(c), "config": c, **r} for c, r in zip(chunk, results)])
            bar.update(len(chunk))
        bar.close()

    if anchor is not None:
        anchor.warm_up(config.warmup, config.min_sample_s)
    bar = tqdm(total=sum(map(len, groups)), desc="archs", unit="arch", disable=not progress)
    for chunk in groups:
        try:  # a group is compiled whole before it is timed, and written whole after
            sessions = [measure_group([program(a) for _, a in chunk], anchor=anchor, **_timing_kwargs(config))
                        for _ in range(config.sessions)]
        except LoweringError as error:
            kept = sum(1 for r in read_jsonl(run / ARCHS_FILE) if r["role"] == "sample")
            raise LoweringError(f"{error}; {run} keeps the {kept} archs measured before it, whole") from None
        load = load_average()
        _append(run / ARCHS_FILE, [{"role": role, "arch": a.to_string(), "vector": a.to_vector().tolist(),
                                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                    "load_average": load, **r}
                                   for (role, a), r in zip(chunk, map(combine_sessions, zip(*sessions)))])
        bar.update(len(chunk))
    bar.close()
    return run
