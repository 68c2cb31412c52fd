"""Test-wide settings, set before JAX is imported.

- Compiled executables are cached in a per-session temp dir, not in ~/.cache.
- XLA compiles at LLVM optimisation level 0: the suite's programs are tiny and most of its time is spent
  compiling them, not running them, so cheaper code generation shortens it; the programs compute the same
  values (no fast-math either way), and speed is measured by experiments/bench, never by a test. Subprocesses
  the tests start (CLI runs, audit workers) inherit both settings through the environment.
"""
import os
import tempfile

os.environ.setdefault("WEFT_JAX_CACHE", tempfile.mkdtemp(prefix="weft-test-jax-cache-"))
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
