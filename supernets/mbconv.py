"""Inverted-residual (MBConv) block with elastic expand width and kernel size.

1x1 expand -> BN -> act -> depthwise k x k -> BN -> act -> [SE] -> 1x1 project -> BN
(+ identity when stride 1 and in == out), as Once-for-All's DynamicMBConvLayer.
A smaller expand ratio uses the first `mid` channels of every inner layer.
"""
from __future__ import annotations

from flax import nnx

from supernets import ops, resort
from supernets.build import abstract
from supernets.decisions import Declared, Mapped, largest, read
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_depthwise import ElasticDepthwiseConv
from supernets.norms import ElasticBatchNorm
from supernets.squeeze_excite import ElasticSqueezeExcite


class MBConv(nnx.Module):
    """`mid_channels` and `se_channels` are ints or declared sizes, `kernel_sizes` a tuple of ints or a
    declared kernel choice (`supernets.decisions`); called with `arch`, the block reads them itself."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels, *,
                 kernel_sizes, stride: int, activation: str,
                 se_channels=0, expand: bool = True, kernel_transform: bool = False,
                 depthwise_implementation: str = "auto", rngs: nnx.Rngs):
        if not expand and mid_channels != in_channels:
            raise ValueError("a block without expansion needs mid_channels == in_channels")
        # The kernel first: a space derived from the block lists its kernel decision before its expand ratio.
        self.kernel_choice = kernel_sizes if isinstance(kernel_sizes, (Declared, Mapped)) else None
        self.mid_size, self.se_size = mid_channels, se_channels
        mid_channels, se_channels = largest(mid_channels), largest(se_channels)
        self.in_channels, self.out_channels, self.mid_channels = in_channels, out_channels, mid_channels
        self.stride, self.activation, self.se_channels = stride, activation, se_channels
        self.residual = stride == 1 and in_channels == out_channels
        mid, se = self.mid_size, self.se_size
        self.expand_conv = ElasticConv2d(in_channels, mid, 1, rngs=rngs) if expand else None
        self.expand_bn = ElasticBatchNorm(mid) if expand else None
        self.depthwise = ElasticDepthwiseConv(mid, kernel_sizes, stride=stride,
                                              kernel_transform=kernel_transform,
                                              implementation=depthwise_implementation, rngs=rngs)
        self.depthwise_bn = ElasticBatchNorm(mid)
        self.se = ElasticSqueezeExcite(mid, se, rngs=rngs) if se_channels else None
        self.project_conv = ElasticConv2d(mid, out_channels, 1, rngs=rngs)
        self.project_bn = ElasticBatchNorm(out_channels)

    def __call__(self, x, *, train: bool, mid=None, kernel_size=None, se=None, arch=None, switch: bool = False):
        """`switch`: a traced `kernel_size` runs only its own taps (`ElasticDepthwiseConv`); for callers that
        already run this block inside a `lax.switch` branch, never under `vmap`."""
        if arch is not None:
            mid, se = read(self.mid_size, arch), read(self.se_size, arch)
            kernel_size = None if self.kernel_choice is None else read(self.kernel_choice, arch)
        act = ops.activation(self.activation)
        h = x
        if self.expand_conv is not None:
            h = act(self.expand_bn(self.expand_conv(h, mid), train=train, width=mid))
        h = act(self.depthwise_bn(self.depthwise(h, kernel_size, switch=switch), train=train, width=mid))
        if self.se is not None:
            h = self.se(h, se)
        h = self.project_bn(self.project_conv(h), train=train)
        return h + x if self.residual else h

    def sliced(self, mid: int, kernel_size: int, se: int) -> "MBConv":
        block = abstract(
            MBConv, self.in_channels, self.out_channels, mid, kernel_sizes=(kernel_size,), stride=self.stride,
            activation=self.activation, se_channels=se if self.se is not None else 0,
            expand=self.expand_conv is not None, depthwise_implementation=self.depthwise.implementation)
        if self.expand_conv is not None:
            block.expand_conv = self.expand_conv.sliced(self.in_channels, mid)
            block.expand_bn = self.expand_bn.sliced(mid)
        block.depthwise = self.depthwise.sliced(mid, kernel_size)
        block.depthwise_bn = self.depthwise_bn.sliced(mid)
        if self.se is not None:
            block.se = self.se.sliced(mid, se)
        block.project_conv = self.project_conv.sliced(mid, self.out_channels)
        block.project_bn = self.project_bn.sliced(self.out_channels)
        return block

    def sort_channels(self) -> None:
        """Order the inner (expanded) channels by importance, most important first (OFA).

        Importance is the L1 norm of the project conv's weights reading each channel;
        SE's reduced channels are sorted the same way by its expand weights. The
        block's function at full width is unchanged. Host arrays only (not traced).
        """
        if self.expand_conv is None:
            return  # a fixed-width block: nothing nests inside it
        order = resort.descending(resort.l1_importance(self.project_conv.kernel[...], axis=2))
        resort.permute(self.expand_conv.kernel, order, axis=3)
        resort.permute_channels(self.expand_bn, order)
        resort.permute(self.depthwise.kernel, order, axis=2)
        resort.permute_channels(self.depthwise_bn, order)
        if self.se is not None:
            resort.permute(self.se.reduce.kernel, order, axis=0)
            resort.permute_channels(self.se.expand, order)  # its kernel's outputs and bias
            reduced = resort.descending(resort.l1_importance(self.se.expand.kernel[...], axis=0))
            resort.permute_channels(self.se.reduce, reduced)
            resort.permute(self.se.expand.kernel, reduced, axis=0)
        resort.permute(self.project_conv.kernel, order, axis=2)

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "mid_channels": self.mid_channels, "kernel_size": self.depthwise.max_kernel,
                "stride": self.stride, "activation": self.activation, "se_channels": self.se_channels,
                "expand": self.expand_conv is not None}
