"""Analytic multiply-adds equal a brute-force count over every output and every tap."""
import itertools

import pytest

from nas.hardware import layer_counts as lc


def brute_force_conv(height, width, cin, cout, kernel, stride, groups=1):
    """Multiply-adds of a padded (k // 2) conv that read a real input pixel, counted one by one."""
    pad = kernel // 2
    out_h, out_w = lc.conv_out_size(height, kernel, stride), lc.conv_out_size(width, kernel, stride)
    count = 0
    for oy, ox, ky, kx in itertools.product(range(out_h), range(out_w), range(kernel), range(kernel)):
        iy, ix = oy * stride + ky - pad, ox * stride + kx - pad
        if 0 <= iy < height and 0 <= ix < width:
            count += (cin // groups) * cout
    return count


@pytest.mark.parametrize("height,width,kernel,stride", [
    (1, 1, 7, 1), (2, 2, 7, 1), (2, 3, 5, 2), (4, 4, 3, 2), (7, 7, 5, 1), (7, 5, 7, 2), (5, 5, 1, 1), (6, 6, 3, 1)])
def test_conv_and_depthwise_match_brute_force(height, width, kernel, stride):
    assert lc.conv2d_macs(height, width, 3, 4, kernel, stride) == brute_force_conv(height, width, 3, 4, kernel, stride)
    assert lc.depthwise_macs(height, width, 6, kernel, stride) == brute_force_conv(height, width, 6, 6, kernel, stride,
                                                                                  groups=6)


def test_pointwise_and_dense_match_brute_force():
    assert lc.pointwise_macs(5, 3, 4, 7, stride=2) == brute_force_conv(5, 3, 4, 7, 1, 2)
    dense = sum(1 for _ in itertools.product(range(5), range(3)))  # every input times every output
    assert lc.dense_macs(5, 3) == dense


def test_mbconv_is_the_sum_of_its_layers():
    h, w, cin, cout, mid, k, s, se = 5, 5, 4, 6, 12, 5, 2, 3
    oh = lc.conv_out_size(h, k, s)
    expected_macs = (brute_force_conv(h, w, cin, mid, 1, 1) + brute_force_conv(h, w, mid, mid, k, s, groups=mid)
                     + 2 * mid * se + brute_force_conv(oh, oh, mid, cout, 1, 1))
    expected_params = cin * mid + 2 * mid + k * k * mid + 2 * mid + (mid * se + se + se * mid + mid) + mid * cout + 2 * cout
    assert lc.mbconv(h, w, cin, cout, mid, k, s, se) == (expected_macs, expected_params)
