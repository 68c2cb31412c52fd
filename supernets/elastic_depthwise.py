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
from jax import lax

from nas.hardware import layer_counts
from supernets import init, ops, shape_trace
from supernets.build import abstract, with_values
from supernets.decisions import Declared, Mapped, evaluate, largest, possible_values, read
from supernets.dispatch import choice_index
from supernets.elastic_conv import centre_crop
from supernets.masks import is_traced
from supernets.relaxed import Relaxed


class ElasticDepthwiseConv(nnx.Module):
    """`channels` an int or a declared size; `kernel_sizes` a tuple of ints or a declared kernel choice
    (`supernets.decisions`), read from the `arch` the layer is called with."""

    cost_type = "depthwise"

    def __init__(self, channels, kernel_sizes, *, stride: int = 1,
                 kernel_transform: bool = False, implementation: str = "auto", rngs: nnx.Rngs):
        self.size = channels
        channels = largest(channels)
        declared_kernel = isinstance(kernel_sizes, (Declared, Mapped))
        self.kernel_choice = kernel_sizes if declared_kernel else None
        kernel_sizes = tuple(sorted(set(possible_values(kernel_sizes) if declared_kernel else kernel_sizes)))
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

    def __call__(self, x, kernel_size=None, *, arch=None, switch: bool = False):
        """`kernel_size`: None (the largest), an int (that kernel's exact taps), a `Relaxed` choice, or a
        traced size: with `switch` a `lax.switch` runs only the chosen size's taps, else the chosen kernel
        zero-padded to the largest (masked: every size costs the largest's taps, but vmaps)."""
        shape_trace.note(self, x)
        if arch is not None and self.kernel_choice is not None:
            kernel_size = read(self.kernel_choice, arch)
        channels = x.shape[-1]
        if switch and is_traced(kernel_size) and not isinstance(kernel_size, Relaxed) and len(self.kernel_sizes) > 1:
            index = choice_index(kernel_size, self.kernel_sizes)
            kernels = tuple(self.kernel_of_size(size)[:, :, :channels] for size in self.kernel_sizes)
            return lax.switch(index, [lambda x, kernels, i=i: self._conv(x, kernels[i])
                                      for i in range(len(kernels))], x, kernels)
        # Inactive input channels are zero and the conv has no bias: outputs stay zero there.
        # A static kernel size runs the exact k x k kernel (fewer taps, same centre and result).
        kernel = self.kernel_of_size(kernel_size) if isinstance(kernel_size, int) else \
            self.effective_kernel(kernel_size)
        return self._conv(x, kernel[:, :, :channels])

    def _conv(self, x, kernel):
        return ops.depthwise_conv(x, kernel, self.stride, self.implementation)

    def sliced(self, channels: int, kernel_size: int | None = None) -> "ElasticDepthwiseConv":
        kernel_size = self.max_kernel if kernel_size is None else kernel_size
        layer = abstract(ElasticDepthwiseConv, channels, (kernel_size,), stride=self.stride,
                         implementation=self.implementation)
        return with_values(layer, kernel=self.kernel_of_size(kernel_size)[:, :, :channels])

    # -- derived cost and export (supernets.decisions) -------------------------------

    def active(self, values) -> "ElasticDepthwiseConv":
        kernel = self.max_kernel if self.kernel_choice is None else evaluate(self.kernel_choice, values)
        return self.sliced(evaluate(self.size, values), kernel)

    def cost_sizes(self) -> dict:
        return {"channels": self.size, "kernel": self.max_kernel if self.kernel_choice is None else self.kernel_choice}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        return {"type": self.cost_type, "h": input_shape[1], "w": input_shape[2], "channels": sizes["channels"],
                "kernel": sizes["kernel"], "stride": self.stride, "implementation": self.implementation}

    @staticmethod
    def count_cost(c: dict) -> tuple[int, int]:
        return (layer_counts.depthwise_macs(c["h"], c["w"], c["channels"], c["kernel"], c["stride"]),
                layer_counts.depthwise_params(c["channels"], c["kernel"]))

    @staticmethod
    def build_for_cost(c: dict, rngs: nnx.Rngs):
        layer = ElasticDepthwiseConv(c["channels"], (c["kernel"],), stride=c["stride"],
                                     implementation=c["implementation"], rngs=rngs)
        return layer, (c["h"], c["w"], c["channels"])
