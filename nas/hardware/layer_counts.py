"""Multiply-adds (MACs) and parameter counts of single layers, as Python ints.

Convention: one multiply-add counts once (FLOPs = MACs; XLA's `cost_analysis` counts a
multiply-add as 2 flops and adds the element-wise work). A convolution counts only the
multiply-adds whose input lies inside the image: taps that read padding are skipped, as
XLA counts them and as a real kernel can skip them (a 7x7 kernel on a 1x1 map costs 1 tap).
Norms, activations, pooling and residual adds cost no MACs. Counts are per image.
"""
from __future__ import annotations


def conv_out_size(size: int, kernel: int, stride: int) -> int:
    """Output length along one axis with symmetric padding kernel // 2."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def valid_taps(size: int, kernel: int, stride: int) -> int:
    """Number of (output position, kernel offset) pairs along one axis that read real input."""
    pad, out = kernel // 2, conv_out_size(size, kernel, stride)
    total = 0
    for offset in range(kernel):
        # Outputs o with 0 <= o * stride + offset - pad < size.
        lo = max(0, -(-(pad - offset) // stride))
        hi = min(out - 1, (size - 1 + pad - offset) // stride)
        total += max(0, hi - lo + 1)
    return total


def conv2d_macs(height: int, width: int, in_channels: int, out_channels: int, kernel: int, stride: int) -> int:
    return valid_taps(height, kernel, stride) * valid_taps(width, kernel, stride) * in_channels * out_channels


def depthwise_macs(height: int, width: int, channels: int, kernel: int, stride: int) -> int:
    return valid_taps(height, kernel, stride) * valid_taps(width, kernel, stride) * channels


def pointwise_macs(height: int, width: int, in_channels: int, out_channels: int, stride: int = 1) -> int:
    out_h, out_w = -(-height // stride), -(-width // stride)
    return out_h * out_w * in_channels * out_channels


def dense_macs(in_features: int, out_features: int, tokens: int = 1) -> int:
    return tokens * in_features * out_features


def conv2d_params(in_channels: int, out_channels: int, kernel: int, bias: bool = False) -> int:
    return kernel * kernel * in_channels * out_channels + (out_channels if bias else 0)


def depthwise_params(channels: int, kernel: int) -> int:
    return kernel * kernel * channels


def dense_params(in_features: int, out_features: int, bias: bool = True) -> int:
    return in_features * out_features + (out_features if bias else 0)


def norm_params(channels: int) -> int:
    """Scale and bias (running statistics are not parameters)."""
    return 2 * channels


def squeeze_excite(channels: int, reduced: int) -> tuple[int, int]:
    """(MACs, params) of SE: dense channels->reduced and reduced->channels, both with bias."""
    return (dense_macs(channels, reduced) + dense_macs(reduced, channels),
            dense_params(channels, reduced) + dense_params(reduced, channels))


def mbconv(height: int, width: int, in_channels: int, out_channels: int, mid_channels: int, kernel: int,
           stride: int, se_channels: int = 0, expand: bool = True) -> tuple[int, int]:
    """(MACs, params) of an inverted-residual block (supernets.mbconv.MBConv, sliced)."""
    macs = params = 0
    if expand:
        macs += pointwise_macs(height, width, in_channels, mid_channels)
        params += conv2d_params(in_channels, mid_channels, 1) + norm_params(mid_channels)
    macs += depthwise_macs(height, width, mid_channels, kernel, stride)
    params += depthwise_params(mid_channels, kernel) + norm_params(mid_channels)
    if se_channels:
        se_macs, se_params = squeeze_excite(mid_channels, se_channels)
        macs, params = macs + se_macs, params + se_params
    out_h, out_w = conv_out_size(height, kernel, stride), conv_out_size(width, kernel, stride)
    macs += pointwise_macs(out_h, out_w, mid_channels, out_channels)
    params += conv2d_params(mid_channels, out_channels, 1) + norm_params(out_channels)
    return macs, params
