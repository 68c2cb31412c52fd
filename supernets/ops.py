"""Pure array operations shared by the masked and the sliced lowerings.

Both lowerings call the very same functions, so that they agree to float32
rounding: the masked one passes full-size weights and masks, the sliced one
passes exactly-shaped weights and no masks.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np

import jax
import jax.numpy as jnp
from jax import lax


def relu(x):
    return jnp.maximum(x, 0.0)


def h_sigmoid(x):
    return jnp.clip(x + 3.0, 0.0, 6.0) / 6.0


def h_swish(x):
    return x * h_sigmoid(x)


ACTIVATIONS = {"relu": relu, "h_swish": h_swish, "h_sigmoid": h_sigmoid, "identity": lambda x: x}


def activation(name: str):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}") from None


def dense(x, kernel, bias=None):
    y = x @ kernel
    return y if bias is None else y + bias


def pointwise_conv(x, kernel, bias=None):
    """1x1 convolution on NHWC as one matmul (XLA:CPU runs dot faster than conv)."""
    return dense(x, kernel, bias)


def subsample(x, stride: int):
    """x[:, ::stride, ::stride] on NHWC as one strided `lax.slice` (numpy indexing lowers to a gather)."""
    if stride == 1:
        return x
    return lax.slice(x, (0,) * x.ndim, x.shape, (1, stride, stride, 1))


# ----------------------------------------------------------------------------
# Dense convolution, with its gradients written as convolutions in the forward's
# own NHWC / HWIO layout. Autodiff's transposes use other dimension orders (an
# HWOI kernel for the input gradient; batch and features swapped for the kernel
# gradient). XLA:CPU rewrites those to its fast layout in the main program but
# not inside `lax.switch` branches, where they fall back to a naive loop: a
# switched NB201 cell's 3x3 convolutions trained ~30x slower than sliced ones.
# ----------------------------------------------------------------------------

_NHWC = ("NHWC", "HWIO", "NHWC")


def _conv_nhwc(x, kernel, stride: int, padding, *, lhs_dilation=(1, 1), rhs_dilation=(1, 1)):
    return lax.conv_general_dilated(x, kernel, window_strides=(stride, stride), padding=padding,
                                    lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation, dimension_numbers=_NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv2d(x, kernel, stride: int):
    """Dense k x k convolution, NHWC / HWIO, symmetric padding k//2 (as PyTorch)."""
    pad = kernel.shape[0] // 2
    return _conv_nhwc(x, kernel, stride, ((pad, pad), (pad, pad)))


def _conv2d_fwd(x, kernel, stride):
    return conv2d(x, kernel, stride), (x, kernel)


def _conv2d_bwd(stride, residuals, dy):
    x, kernel = residuals
    k = kernel.shape[0]
    pad = k // 2
    sizes, out_sizes = x.shape[1:3], dy.shape[1:3]
    # Input gradient: dy spread onto the stride grid, correlated with the flipped kernel (in and out swapped).
    before = k - 1 - pad
    dx_padding = tuple((before, size + k - 1 - (stride * (out - 1) + 1) - before)
                       for size, out in zip(sizes, out_sizes))
    dx = _conv_nhwc(dy, jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2), 1, dx_padding,
                    lhs_dilation=(stride, stride))
    # Kernel gradient: a convolution whose batch is the input channels and whose features are the images,
    # with dy (dilated by the stride) as the kernel; the high padding trims the output to k x k.
    highs = [k - size - pad + stride * (out - 1) for size, out in zip(sizes, out_sizes)]
    x = x[:, :sizes[0] + min(highs[0], 0), :sizes[1] + min(highs[1], 0)]  # a negative pad: crop instead
    dkernel = _conv_nhwc(x.transpose(3, 1, 2, 0), dy.transpose(1, 2, 0, 3), 1,
                         tuple((pad, max(high, 0)) for high in highs), rhs_dilation=(stride, stride))
    return dx, dkernel.transpose(1, 2, 0, 3)


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


# ----------------------------------------------------------------------------
# Depthwise convolution.
#
# On XLA:CPU the grouped convolution (feature_group_count=C) was measured about
# 20x slower than a sum of shifted taps (../shared/design/PERFORMANCE.md), so on
# CPU we use taps with a hand-written VJP (autodiff of the tap sum would save one
# shifted copy of the input per tap). On GPU/TPU the library convolution is fine.
# Taps that only ever read padding are dropped statically: at the small spatial
# sizes of the late stages (2x2, 1x1) most of a 7x7 kernel sees only padding.
# ----------------------------------------------------------------------------

def _out_size(size: int, k: int, stride: int) -> int:
    return (size + 2 * (k // 2) - k) // stride + 1


def _live_offsets(size: int, k: int, stride: int) -> tuple[int, ...]:
    """Kernel offsets along one axis that read at least one real (unpadded) input."""
    pad, out = k // 2, _out_size(size, k, stride)
    return tuple(i for i in range(k) if any(0 <= o * stride + i - pad < size for o in range(out)))


def _live_taps(h: int, w: int, k: int, stride: int) -> np.ndarray:
    """int32[T, 2]: the (row, col) offsets of the taps that read real input."""
    rows, cols = _live_offsets(h, k, stride), _live_offsets(w, k, stride)
    return np.array([(i, j) for i in rows for j in cols], np.int32)


def _pad_hw(x, pad: int):
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def _window(xpad, i, j, out_h: int, out_w: int, stride: int):
    """The input pixels tap (i, j) multiplies, for every output position."""
    n, _, _, c = xpad.shape
    zero = jnp.zeros((), i.dtype)  # all start indices one integer type (also under jax_enable_x64)
    window = lax.dynamic_slice(xpad, (zero, i, j, zero), (n, stride * (out_h - 1) + 1, stride * (out_w - 1) + 1, c))
    return window[:, ::stride, ::stride, :] if stride > 1 else window


# The forward sums its taps unrolled, as one fused loop over the output that reads each input pixel
# k*k times from cache: 1.4-3.3x faster than accumulating tap by tap in a `fori_loop` (which writes
# and re-reads the whole output once per tap). The padded input is materialised first (an
# optimization barrier): without it XLA:CPU fuses the input's producer (masks, BN) into every tap
# and recomputes it k*k times (measured 3-4x slower per MBConv block, and 4x the compile time).
# The backward keeps the `fori_loop`: its k*k kernel-gradient reductions would be k*k kernels.
@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def depthwise_taps(x, kernel, stride: int):
    """Depthwise conv NHWC with kernel [k, k, C] as a sum of shifted taps."""
    return _depthwise_taps_fwd(x, kernel, stride)[0]


def _depthwise_taps_fwd(x, kernel, stride):
    n, h, w, c = x.shape
    k = kernel.shape[0]
    out_h, out_w = _out_size(h, k, stride), _out_size(w, k, stride)
    xpad = lax.optimization_barrier(_pad_hw(x, k // 2))
    y = None
    for i, j in _live_taps(h, w, k, stride).tolist():
        window = lax.slice(xpad, (0, i, j, 0), (n, i + stride * (out_h - 1) + 1, j + stride * (out_w - 1) + 1, c),
                           (1, stride, stride, 1))
        term = window * kernel[i, j]
        y = term if y is None else y + term
    return y, (x, kernel)


def _depthwise_taps_bwd(stride, residuals, dy):
    x, kernel = residuals
    n, h, w, c = x.shape
    k = kernel.shape[0]
    pad = k // 2
    out_h, out_w = dy.shape[1], dy.shape[2]
    taps = jnp.asarray(_live_taps(h, w, k, stride))
    xpad = _pad_hw(x, pad)
    window_h, window_w = stride * (out_h - 1) + 1, stride * (out_w - 1) + 1
    # dy spread onto the stride grid, so each tap adds it back with one update.
    dy_grid = dy if stride == 1 else lax.pad(
        dy, jnp.zeros((), dy.dtype), ((0, 0, 0), (0, 0, stride - 1), (0, 0, stride - 1), (0, 0, 0)))

    def tap_grads(t, carry):
        dkernel, dxpad = carry
        i, j = taps[t, 0], taps[t, 1]
        patch = _window(xpad, i, j, out_h, out_w, stride)
        dkernel = dkernel.at[i, j].set(jnp.sum(patch * dy, axis=(0, 1, 2)))
        zero = jnp.zeros((), i.dtype)
        current = lax.dynamic_slice(dxpad, (zero, i, j, zero), (n, window_h, window_w, c))
        dxpad = lax.dynamic_update_slice(dxpad, current + dy_grid * kernel[i, j], (zero, i, j, zero))
        return dkernel, dxpad

    dkernel, dxpad = lax.fori_loop(0, taps.shape[0], tap_grads, (jnp.zeros_like(kernel), jnp.zeros_like(xpad)))
    return dxpad[:, pad:pad + h, pad:pad + w, :], dkernel


depthwise_taps.defvjp(_depthwise_taps_fwd, _depthwise_taps_bwd)


def depthwise_grouped(x, kernel, stride: int):
    """Depthwise conv through XLA's grouped convolution (fast on GPU/TPU)."""
    k, c = kernel.shape[0], kernel.shape[-1]
    pad = k // 2
    return lax.conv_general_dilated(
        x, kernel.reshape(k, k, 1, c), window_strides=(stride, stride),
        padding=((pad, pad), (pad, pad)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=c)


# An export traces the forward once for every backend: the grouped convolution is one ONNX Conv (the
# taps are k*k slices behind an optimization barrier) and what GPUs run best. Both compute the same function.
_PORTABLE_DEPTHWISE = False


@contextlib.contextmanager
def portable_depthwise():
    """Within it, every depthwise conv traces as XLA's grouped convolution (`nas.export` only)."""
    global _PORTABLE_DEPTHWISE
    previous, _PORTABLE_DEPTHWISE = _PORTABLE_DEPTHWISE, True
    try:
        yield
    finally:
        _PORTABLE_DEPTHWISE = previous


def depthwise_conv(x, kernel, stride: int, implementation: str = "auto"):
    """Depthwise conv, choosing the implementation per backend ("auto"), or forced."""
    if _PORTABLE_DEPTHWISE and implementation in ("auto", "taps"):
        implementation = "grouped"
    if implementation == "auto":
        implementation = "taps" if jax.default_backend() == "cpu" else "grouped"
    if implementation == "taps":
        return depthwise_taps(x, kernel, stride)
    if implementation == "grouped":
        return depthwise_grouped(x, kernel, stride)
    raise ValueError(f"unknown depthwise implementation {implementation!r}; allowed: auto, taps, grouped")


def global_avg_pool(x):
    return jnp.mean(x, axis=(1, 2))
