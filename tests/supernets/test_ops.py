"""The CPU depthwise convolution (live taps, hand-written VJP) equals XLA's grouped conv; the dense
convolution's layout-preserving VJP equals autodiff's, and keeps the forward's layout inside a switch."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from supernets import ops

CASES = [((2, 7, 7, 5), 7, 1), ((2, 7, 7, 5), 5, 2), ((3, 2, 2, 4), 7, 1), ((3, 1, 1, 4), 7, 1),
         ((2, 6, 6, 3), 3, 2), ((2, 5, 4, 3), 7, 2), ((1, 9, 9, 2), 3, 1)]


def assert_same_conv(conv, reference, shape, kernel_shape, stride, seed=0):
    """Equal outputs and equal gradients (of a non-linear loss) in the input and the kernel."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=kernel_shape), jnp.float32)
    np.testing.assert_allclose(conv(x, kernel, stride), reference(x, kernel, stride), atol=2e-5)

    def grads(f):
        return jax.grad(lambda x, w: jnp.sum(jnp.sin(f(x, w, stride))), argnums=(0, 1))(x, kernel)

    for got, want in zip(grads(conv), grads(reference)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=5e-5)


@pytest.mark.parametrize("shape,k,stride", CASES)
def test_depthwise_taps_match_grouped_conv_and_its_gradients(shape, k, stride):
    assert_same_conv(ops.depthwise_taps, ops.depthwise_grouped, shape, (k, k, shape[-1]), stride)


def test_live_taps_drop_only_taps_that_read_padding():
    # A 1x1 map only ever sees the centre tap; a 2x2 map the centre 3x3 of a 7x7 kernel.
    assert ops._live_offsets(1, 7, 1) == (3,)
    assert ops._live_offsets(2, 7, 1) == (2, 3, 4)
    assert ops._live_offsets(16, 7, 1) == tuple(range(7))


def test_unknown_depthwise_implementation_is_named():
    with pytest.raises(ValueError, match="allowed: auto, taps, grouped"):
        ops.depthwise_conv(jnp.zeros((1, 3, 3, 1)), jnp.zeros((3, 3, 1)), 1, "fft")


def _autodiff_conv(x, kernel, stride):
    pad = kernel.shape[0] // 2
    return lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


DENSE_CASES = [((2, 8, 8, 3), 3, 1), ((2, 9, 7, 3), 3, 2), ((2, 8, 8, 3), 1, 2), ((2, 5, 5, 2), 5, 2),
               ((1, 2, 3, 2), 7, 1), ((2, 1, 1, 4), 3, 2), ((2, 6, 6, 2), 7, 2)]


@pytest.mark.parametrize("shape,k,stride", DENSE_CASES)
def test_dense_conv_gradients_equal_autodiff(shape, k, stride):
    assert_same_conv(ops.conv2d, _autodiff_conv, shape, (k, k, shape[-1], 4), stride, seed=1)


def test_dense_conv_gradient_inside_a_switch_keeps_the_forward_layout():
    """Every convolution in the compiled gradient of a switched conv is NHWC x HWIO -> NHWC (b01f_01io->b01f):
    the layout XLA:CPU runs fast inside a conditional branch."""
    x, kernel = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 4))

    def loss(x, kernel, branch, conv):
        return jnp.sum(lax.switch(branch, [lambda x, w: x, lambda x, w: conv(x, w, 1)], x, kernel) ** 2)

    def labels(conv):  # autodiff's own gradient here has f01b_i01o->01bf and b01f_01oi->b01f
        text = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=3).lower(x, kernel, 1, conv).compile().as_text()
        return {line.split("dim_labels=")[1].split(",")[0] for line in text.splitlines() if " convolution(" in line}

    assert labels(ops.conv2d) == {"b01f_01io->b01f"}
