"""Per-feature squared input norms of layers, recorded during forward passes (Wanda's calibration).

Wanda scores a weight by |W_ij| * ||X_i||_2, where ||X_i|| is the norm of input feature i over every
calibration token. A layer that supports it calls `note(self, x)` on its input; inside `recording()`
the sum of squares over all leading axes is added up per layer (traceable: inside `jit` the sums are
traced values returned by the recorded function). Elsewhere `note` is one context lookup.
"""
from __future__ import annotations

import contextlib
import contextvars

import jax.numpy as jnp

_sums: contextvars.ContextVar[dict | None] = contextvars.ContextVar("weft_input_square_sums", default=None)


def note(layer, x) -> None:
    """Add the per-feature sum of squares of `x` (over all axes but the last) to `layer`'s record."""
    sums = _sums.get()
    if sums is not None:
        square = jnp.sum(jnp.square(x.astype(jnp.float32)).reshape(-1, x.shape[-1]), axis=0)
        sums[id(layer)] = square if id(layer) not in sums else sums[id(layer)] + square


@contextlib.contextmanager
def recording():
    """Yields a dict id(layer) -> float32 [in_features], the sums of squares of that layer's inputs."""
    sums: dict = {}
    token = _sums.set(sums)
    try:
        yield sums
    finally:
        _sums.reset(token)
