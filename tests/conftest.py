"""Test-wide settings: compiled executables are cached in a per-session temp dir, not in ~/.cache."""
import os
import tempfile

os.environ.setdefault("WEFT_JAX_CACHE", tempfile.mkdtemp(prefix="weft-test-jax-cache-"))
