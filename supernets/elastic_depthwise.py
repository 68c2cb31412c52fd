"""Depthwise convolution with elastic channels and kernel size.

A smaller kernel is the centre of the largest one, optionally passed through a
learned per-layer transform as in Once-for-All (7x7 -> centre 5x5 -> 25x25
matrix -> centre 3x3 of that -> 9x9 matrix; identity at init, shared by all
channels), so small kernels need not equal the raw centre of the large one.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from supernets import init, ops
from supernets.build import abstract, with_values
from supernets.elastic_conv import centre_crop
from supernets.relaxed import Relaxed


class ElasticDepthwiseConv(nnx.Module):
    def __init__(self, channels: int, kernel_sizes: tuple[int, ...], *, stride: int = 1,
                 kernel_transform: bool = False, implementation: str = "auto", rngs: nnx.Rngs):
        kernel_sizes = tuple(sorted(set(kernel_sizes)))
        if any(k % 2 != 1 for k in kernel_sizes):
            raise ValueError(f"kernel sizes must be odd, got {kernel_sizes}")
        self.channels, self.kernel_sizes, self.stride = channels, kernel_sizes, stride
        self.implementation = implementation
        self.max_kernel = kernel_sizes[-1]
        # Kaiming-normal fan_out on the [k, k, 1, C] kernel, as PyTorch sees a depthwise weight.
        self.kernel = nnx.Param(init.variance_scaling(
            rngs, (self.max_kernel, self.max_kernel, 1, channels), 2.0, "fan_out", "normal")[:, :, 0, :])
        self.transforms = nnx.Dict({
            f"{big}to{small}": nnx.Param(jnp.asarray(np.eye(small * small, dtype=np.float32)))
            for big, small in zip(kernel_sizes[::-1], kernel_sizes[::-1][1:])
        }) if kernel_transform and len(kernel_sizes) > 1 else None

    def kernel_of_size(self, size: int):
        """The exact-size [size, size, C] kernel a subnet with this kernel size uses."""
        if size not in self.kernel_sizes:
            raise ValueError(f"kernel size {size} not in {self.kernel_sizes}")
        kernel = self.kernel[...]
        for big, small in zip(self.kernel_sizes[::-1], self.kernel_sizes[::-1][1:]):
            if big == size:
                break
            kernel = centre_crop(kernel, small)
            if self.transforms is not None:
                matrix = self.transforms[f"{big}to{small}"][...]
                kernel = (matrix @ kernel.reshape(small * small, -1)).reshape(kernel.shape)
        return centre_crop(kernel, size)

    def effective_kernel(self, kernel_size=None):
        """Full-size kernel for a traced kernel size (masked lowering): the chosen kernel zero-padded."""
        if kernel_size is None:
            return self.kernel[...]
        if isinstance(kernel_size, Relaxed):  # superposition: the choices' zero-padded kernels, weighted
            return kernel_size.expect(lambda size: self._pad(self.kernel_of_size(size)))
        kernel = self.kernel[...]
        for size in self.kernel_sizes[:-1]:
            kernel = jnp.where(kernel_size == size, self._pad(self.kernel_of_size(size)), kernel)
        return kernel

    def _pad(self, kernel):
        pad = (self.max_kernel - kernel.shape[0]) // 2
        return jnp.pad(kernel, ((pad, pad), (pad, pad), (0, 0)))

    def __call__(self, x, kernel_size=None):
        # Inactive input channels are zero and the conv has no bias: outputs stay zero there.
        # A static kernel size runs the exact k x k kernel (fewer taps, same centre and result).
        kernel = self.kernel_of_size(kernel_size) if isinstance(kernel_size, int) else \
            self.effective_kernel(kernel_size)
        return ops.depthwise_conv(x, kernel[:, :, :x.shape[-1]], self.stride, self.implementation)

    def sliced(self, channels: int, kernel_size: int | None = None) -> "ElasticDepthwiseConv":
        kernel_size = self.max_kernel if kernel_size is None else kernel_size
        layer = abstract(ElasticDepthwiseConv, channels, (kernel_size,), stride=self.stride,
                         implementation=self.implementation)
        return with_values(layer, kernel=self.kernel_of_size(kernel_size)[:, :, :channels])
