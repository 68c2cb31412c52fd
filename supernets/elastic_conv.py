"""Dense k x k convolution with elastic channels and kernel size (centre crop)."""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from nas.hardware import layer_counts
from supernets import init, ops, shape_trace
from supernets.build import abstract, with_values
from supernets.decisions import check_width, evaluate, largest, possible_values, read
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

    cost_type = "conv2d"

    def __init__(self, in_channels, out_channels, kernel_size, *, stride: int = 1, rngs: nnx.Rngs):
        # Sizes are ints or declared (supernets.decisions); the weights hold the largest of each.
        self.in_size, self.out_size, self.kernel_choice = in_channels, out_channels, kernel_size
        in_channels, out_channels, kernel_size = largest(in_channels), largest(out_channels), largest(kernel_size)
        if any(k % 2 != 1 for k in possible_values(self.kernel_choice)):
            raise ValueError(f"kernel sizes must be odd, got {self.kernel_choice!r}")
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

    def __call__(self, x, out_width=None, kernel_size=None, *, arch=None):
        shape_trace.note(self, x)
        if arch is not None:
            check_width(self, x.shape[-1], self.in_size, arch)
            out_width, kernel_size = read(self.out_size, arch), read(self.kernel_choice, arch)
        if isinstance(kernel_size, int):
            kernel = centre_crop(self.kernel[...], kernel_size)
        else:
            kernel = self.effective_kernel(kernel_size)
        kernel = kernel[:, :, :x.shape[-1], :static_width(out_width, self.out_channels)]
        if kernel.shape[0] == 1:
            y = ops.pointwise_conv(ops.subsample(x, self.stride), kernel[0, 0])
        else:
            y = ops.conv2d(x, kernel, self.stride)
        return mask_last_axis(y, out_width)

    def sliced(self, in_width: int, out_width: int, kernel_size: int | None = None) -> "ElasticConv2d":
        kernel_size = self.kernel_size if kernel_size is None else kernel_size
        layer = abstract(ElasticConv2d, in_width, out_width, kernel_size, stride=self.stride)
        return with_values(layer, kernel=centre_crop(self.kernel[...], kernel_size)[:, :, :in_width, :out_width])

    # -- derived cost and export (supernets.decisions) -------------------------------

    def active(self, values) -> "ElasticConv2d":
        """The standalone layer of a fixed arch (decision values by name)."""
        return self.sliced(evaluate(self.in_size, values), evaluate(self.out_size, values),
                           evaluate(self.kernel_choice, values))

    def cost_sizes(self) -> dict:
        return {"in": self.in_size, "out": self.out_size, "kernel": self.kernel_choice}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        return {"type": self.cost_type, "h": input_shape[1], "w": input_shape[2], "in": sizes["in"],
                "out": sizes["out"], "kernel": sizes["kernel"], "stride": self.stride}

    @staticmethod
    def count_cost(c: dict) -> tuple[int, int]:
        if c["kernel"] == 1:
            macs = layer_counts.pointwise_macs(c["h"], c["w"], c["in"], c["out"], c["stride"])
        else:
            macs = layer_counts.conv2d_macs(c["h"], c["w"], c["in"], c["out"], c["kernel"], c["stride"])
        return macs, layer_counts.conv2d_params(c["in"], c["out"], c["kernel"])

    @staticmethod
    def build_for_cost(c: dict, rngs: nnx.Rngs):
        return ElasticConv2d(c["in"], c["out"], c["kernel"], stride=c["stride"], rngs=rngs), (c["h"], c["w"], c["in"])
