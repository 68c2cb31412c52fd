"""Average pooling on NHWC, as PyTorch's AvgPool2d (floor output sizes)."""
from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def avg_pool_same(x, size: int = 3):
    """Stride 1, padding size // 2, dividing by the in-image taps only (count_include_pad=False)."""
    pad = size // 2
    window, strides = (1, size, size, 1), (1, 1, 1, 1)
    padding = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    total = lax.reduce_window(x, 0.0, lax.add, window, strides, padding)
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    count = lax.reduce_window(ones, 0.0, lax.add, window, strides, padding)
    return total / count


def avg_pool_down(x, size: int = 2):
    """Non-overlapping `size` x `size` windows, no padding (stride = size)."""
    window = (1, size, size, 1)
    return lax.reduce_window(x, 0.0, lax.add, window, window, "VALID") / (size * size)
