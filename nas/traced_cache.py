"""A jit whose traced program is kept on disk, so a warm start skips Python tracing.

XLA's persistent compilation cache keeps compiled executables, but a fresh
process must still trace the step in Python (3-5 s for the MobileNetV3
training step: thousands of small ops through NNX and autodiff) and lower it
before it can even look the executable up. `DiskCachedJit` serializes the
traced program with `jax.export` the first time and deserializes it on later
starts (tens of milliseconds); its compile then hits XLA's cache as usual.

A cached program is only valid for the code that traced it, so the key covers
the source of every loaded module outside the standard library and
site-packages (weft and user code), the versions of jax, jaxlib, flax and
optax, the backend, the caller's key (everything a closure bakes in, such as
the run's config) and the shapes and structure of the arguments. A corrupt
or unreadable entry is traced again and rewritten, never trusted.
Set WEFT_TRACED_CACHE=0 to turn it off.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
import sysconfig
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
from jax import export

from nas.atomic_write import write_bytes_atomically

FORMAT_VERSION = 1
_PACKAGES = ("jax", "jaxlib", "flax", "optax")


def default_directory() -> Path:
    root = os.environ.get("WEFT_TRACED_CACHE_DIR")
    if root:
        return Path(root)
    compile_cache = os.environ.get("WEFT_JAX_CACHE")
    if compile_cache:  # beside the compile cache it goes with (tests use a temporary one)
        return Path(compile_cache).with_name(Path(compile_cache).name + "-traced")
    return Path.home() / ".cache" / "weft" / "traced"


def enabled() -> bool:
    return os.environ.get("WEFT_TRACED_CACHE", "1") not in ("0", "false", "no", "")


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths}
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(str(Path(root).resolve()) + os.sep for root in roots)


def code_fingerprint() -> str:
    """Hash of library versions and the source of every loaded non-library module."""
    digest = hashlib.sha256()
    for package in _PACKAGES:
        try:
            digest.update(f"{package}={importlib.metadata.version(package)};".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{package}=absent;".encode())
    roots = _library_roots()
    files = set()
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if not filename or not filename.endswith(".py"):
            continue
        resolved = str(Path(filename).resolve())
        if not resolved.startswith(roots):
            files.add(resolved)
    for filename in sorted(files):
        digest.update(filename.encode() + b"\0" + _source_digest(filename) + b"\0")
    return digest.hexdigest()


_SOURCE_DIGESTS: dict[str, tuple[tuple[int, ...], bytes]] = {}
# A file modified this recently may be rewritten again within the filesystem's timestamp granularity (a
# script that writes, imports, edits and re-imports a module) without its stamp changing: hashed, not kept.
_RACY_NANOSECONDS = 2_000_000_000


def _source_digest(filename: str) -> bytes:
    """sha256 of one source file, re-read only when its stamp (inode, size, modification and change
    times) changed: a process that trains many runs fingerprints the same few hundred files each time."""
    try:
        status = os.stat(filename)
    except OSError:
        return b"missing"
    stamp = (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    known = _SOURCE_DIGESTS.get(filename)
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        digest = hashlib.sha256(Path(filename).read_bytes()).digest()
    except OSError:
        return b"missing"
    if time.time_ns() - max(status.st_mtime_ns, status.st_ctime_ns) > _RACY_NANOSECONDS:
        _SOURCE_DIGESTS[filename] = (stamp, digest)
    return digest


def _leaf_signature(leaf) -> tuple[tuple[int, ...], str]:
    dtype = getattr(leaf, "dtype", None)
    return tuple(np.shape(leaf)), str(dtype if dtype is not None else np.result_type(leaf))


def _sharding_of(leaf):
    """The leaf's sharding when it spans several devices (data parallelism), else None."""
    sharding = getattr(leaf, "sharding", None)
    return sharding if sharding is not None and len(sharding.device_set) > 1 else None


class DiskCachedJit:
    """`jax.jit(fn)` for positional array-tree arguments, traced once per code version.

    `out_structure(*args)` must return the treedef of `fn(*args)` without tracing
    it (a deserialized program has flat outputs); it is checked against the real
    one whenever the program is traced.
    """

    def __init__(self, fn: Callable, *, name: str, key: Any, out_structure: Callable[..., Any],
                 donate_argnums: tuple[int, ...] = (), directory: str | Path | None = None):
        self.fn, self.name, self.key, self.out_structure = fn, name, key, out_structure
        self.donate_argnums = tuple(donate_argnums)
        self.directory = Path(directory) if directory is not None else default_directory()
        self._programs: dict[Any, tuple[Callable, Any]] = {}
        self.last_prepare: dict[str, float] = {}

    def __call__(self, *args):
        leaves, program = self._program(args)
        compiled, out_tree = program
        return jax.tree.unflatten(out_tree, compiled(*leaves))

    def prepare(self, *args) -> dict[str, float]:
        """Load or trace, lower and compile for these arguments; the seconds each part took."""
        self._program(args)
        return dict(self.last_prepare)

    def _program(self, args):
        leaves, in_tree = jax.tree.flatten(args)
        signature = (in_tree, tuple((_leaf_signature(leaf), _sharding_of(leaf)) for leaf in leaves))
        program = self._programs.get(signature)
        if program is None:
            program = self._programs[signature] = self._prepare(args, leaves, in_tree)
        return leaves, program

    # -- internals -------------------------------------------------------------------------

    def _cache_path(self, in_tree, leaves) -> Path:
        material = json.dumps({
            "format": FORMAT_VERSION, "name": self.name, "key": self.key, "backend": jax.default_backend(),
            "code": code_fingerprint(), "in_tree": str(in_tree), "devices": jax.device_count(),
            "leaves": [_leaf_signature(leaf) for leaf in leaves],
            "shardings": [str(_sharding_of(leaf)) for leaf in leaves],
        }, sort_keys=True, default=str)
        return self.directory / f"{self.name}-{hashlib.sha256(material.encode()).hexdigest()[:32]}.exported"

    def _donated_leaves(self, args) -> tuple[int, ...]:
        donated, offset = [], 0
        for index, arg in enumerate(args):
            count = len(jax.tree.leaves(arg))
            if index in self.donate_argnums:
                donated.extend(range(offset, offset + count))
            offset += count
        return tuple(donated)

    def _trace(self, leaves, in_tree, expected_out_tree):
        traced_out_tree = []

        def flat_fn(*flat_args):
            out = self.fn(*jax.tree.unflatten(in_tree, flat_args))
            out_leaves, out_tree = jax.tree.flatten(out)
            traced_out_tree.append(out_tree)
            return out_leaves

        shapes = [jax.ShapeDtypeStruct(*_leaf_signature(leaf), sharding=_sharding_of(leaf)) for leaf in leaves]
        exported = export.export(jax.jit(flat_fn))(*shapes)
        if traced_out_tree[0] != expected_out_tree:
            raise TypeError(f"{self.name}: out_structure gives {expected_out_tree}, "
                            f"but the function returns {traced_out_tree[0]}")
        return exported

    def _load_or_trace(self, leaves, in_tree, out_tree, timings):
        if not enabled():
            start = time.perf_counter()
            exported = self._trace(leaves, in_tree, out_tree)
            timings["trace_s"] = time.perf_counter() - start
            return exported
        path = self._cache_path(in_tree, leaves)
        start = time.perf_counter()
        if path.exists():
            try:
                exported = export.deserialize(bytearray(path.read_bytes()))
                if len(exported.in_avals) == len(leaves) and len(exported.out_avals) == out_tree.num_leaves:
                    timings["load_s"] = time.perf_counter() - start
                    return exported
                warnings.warn(f"traced-program cache entry {path} does not fit its key; tracing again")
            except Exception as error:  # a corrupt entry is re-traced, never trusted
                warnings.warn(f"unreadable traced-program cache entry {path} ({type(error).__name__}); "
                              "tracing again")
        exported = self._trace(leaves, in_tree, out_tree)
        timings["trace_s"] = time.perf_counter() - start
        _write_atomically(path, exported.serialize())
        return exported

    def _prepare(self, args, leaves, in_tree):
        out_tree = self.out_structure(*args)
        timings: dict[str, float] = {}
        exported = self._load_or_trace(leaves, in_tree, out_tree, timings)
        runner = jax.jit(exported.call, donate_argnums=self._donated_leaves(args))
        start = time.perf_counter()
        lowered = runner.trace(*leaves).lower()
        timings["lower_s"] = time.perf_counter() - start
        start = time.perf_counter()
        compiled = lowered.compile()  # an XLA compile, or a load from the persistent cache
        timings["compile_s"] = time.perf_counter() - start
        self.last_prepare = timings
        return compiled, out_tree


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(path, data)
    except OSError as error:  # a read-only cache only costs speed
        warnings.warn(f"could not write traced-program cache entry {path}: {error}")
