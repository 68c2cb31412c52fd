"""Test-wide settings, set before JAX is imported.

- Compiled executables are cached in a per-session temp dir, not in ~/.cache.
- XLA compiles cheaply: LLVM optimisation level 0 and the classic (non-MLIR) fusion emitters. The suite's
  programs are tiny and most of its time is spent compiling them, not running them; both settings change how
  fast the code is, not what it computes (no fast-math either way), and speed is measured by
  experiments/bench, never by a test. Subprocesses the tests start (CLI runs, audit workers) inherit them
  through the environment.
"""
import os
import tempfile

from nas.xla_flags import set_xla_flags

os.environ.setdefault("WEFT_JAX_CACHE", tempfile.mkdtemp(prefix="weft-test-jax-cache-"))
set_xla_flags({"xla_backend_optimization_level": "0", "xla_cpu_use_fusion_emitters": "false"})


def pytest_collection_modifyitems(config, items):
    """`make test` hands whole files to its two workers in collection order (pytest-xdist, --dist loadfile).
    Files marked `early` (a minute or more each) go first and the short ones fill in after them, so the run
    does not end with one worker on a long file while the other has nothing left."""
    items.sort(key=lambda item: item.get_closest_marker("early") is None)
