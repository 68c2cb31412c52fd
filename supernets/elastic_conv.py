"""Dense k x k convolution with elastic channels and kernel size (centre crop)."""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from supernets import init, ops
from supernets.build import abstract, with_values
from supernets.masks import mask_last_axis, static_width
from supernets.relaxed import Relaxed


def centre_crop(kernel, size: int):
    """The centre `size` x `size` taps of a [k, k, ...] kernel."""
    start = (kernel.shape[0] - size) // 2
    return kernel[start:start + size, start:start + size]


def centre_mask(max_size: int, size):
    """bool[max, max]: taps inside the centre `size` x `size` window (size may be traced)."""
    offset = jnp.abs(jnp.arange(max_size) - max_size // 2)
    inside = offset <= size // 2
    return inside[:, None] & inside[None, :]


class ElasticConv2d(nnx.Module):
    """NHWC convolution, kernel [k, k, in, out], symmetric padding k // 2.

    A smaller kernel size is the centre crop of the largest kernel; with padding
    k // 2 the masked (zeroed outer taps) and cropped forms compute the same sums.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 stride: int = 1, rngs: nnx.Rngs):
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        # OFA's kaiming-normal fan_out.
        self.kernel = nnx.Param(init.variance_scaling(
            rngs, (kernel_size, kernel_size, in_channels, out_channels), 2.0, "fan_out", "normal"))

    def effective_kernel(self, kernel_size=None):
        kernel = self.kernel[...]
        if kernel_size is None:
            return kernel
        if isinstance(kernel_size, Relaxed):  # superposition: the expected centre mask on the taps
            taps = kernel_size.expect(lambda size: centre_mask(self.kernel_size, size).astype(kernel.dtype))
            return kernel * taps[:, :, None, None]
        return jnp.where(centre_mask(self.kernel_size, kernel_size)[:, :, None, None], kernel, 0.0)

    def __call__(self, x, out_width=None, kernel_size=None):
        if isinstance(kernel_size, int):
            kernel = centre_crop(self.kernel[...], kernel_size)
        else:
            kernel = self.effective_kernel(kernel_size)
        kernel = kernel[:, :, :x.shape[-1], :static_width(out_width, self.out_channels)]
        if kernel.shape[0] == 1:
            y = ops.pointwise_conv(x[:, ::self.stride, ::self.stride], kernel[0, 0])
        else:
            y = ops.conv2d(x, kernel, self.stride)
        return mask_last_axis(y, out_width)

    def sliced(self, in_width: int, out_width: int, kernel_size: int | None = None) -> "ElasticConv2d":
        kernel_size = self.kernel_size if kernel_size is None else kernel_size
        layer = abstract(ElasticConv2d, in_width, out_width, kernel_size, stride=self.stride)
        return with_values(layer, kernel=centre_crop(self.kernel[...], kernel_size)[:, :, :in_width, :out_width])
