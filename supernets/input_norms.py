"""Per-feature squared input norms of layers, recorded during forward passes (Wanda's calibration).

Wanda scores a weight by |W_ij| * ||X_i||_2, where ||X_i|| is the norm of input feature i over every
calibration token. A layer that supports it calls `note(self, x)` on its input; inside `recording()`
the sum of squares over all leading axes is added up per layer (traceable: inside `jit` the sums are
traced values returned by the recorded function). Elsewhere `note` is one context lookup.
"""
from __future__ import annotations

import jax.numpy as jnp

from supernets.layer_record import LayerRecorder


def _add_square_sums(old, x):
    """The per-feature sum of squares of `x` over all axes but the last, added to `old`."""
    square = jnp.sum(jnp.square(x.astype(jnp.float32)).reshape(-1, x.shape[-1]), axis=0)
    return square if old is None else old + square


_recorder = LayerRecorder("weft_input_square_sums", _add_square_sums)
note, recording = _recorder.note, _recorder.recording
