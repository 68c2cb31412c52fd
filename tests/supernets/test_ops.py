"""The CPU depthwise convolution (live taps, hand-written VJP) equals XLA's grouped conv."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from supernets import ops

CASES = [((2, 7, 7, 5), 7, 1), ((2, 7, 7, 5), 5, 2), ((3, 2, 2, 4), 7, 1), ((3, 1, 1, 4), 7, 1),
         ((2, 6, 6, 3), 3, 2), ((2, 5, 4, 3), 7, 2), ((1, 9, 9, 2), 3, 1)]


@pytest.mark.parametrize("shape,k,stride", CASES)
def test_depthwise_taps_match_grouped_conv_and_its_gradients(shape, k, stride):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(k, k, shape[-1])), jnp.float32)
    np.testing.assert_allclose(ops.depthwise_taps(x, kernel, stride), ops.depthwise_grouped(x, kernel, stride),
                               atol=2e-5)

    def grads(conv):
        return jax.grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w, stride))), argnums=(0, 1))(x, kernel)

    for got, want in zip(grads(ops.depthwise_taps), grads(ops.depthwise_grouped)):
        np.testing.assert_allclose(got, want, atol=5e-5)


def test_live_taps_drop_only_taps_that_read_padding():
    # A 1x1 map only ever sees the centre tap; a 2x2 map the centre 3x3 of a 7x7 kernel.
    assert ops._live_offsets(1, 7, 1) == (3,)
    assert ops._live_offsets(2, 7, 1) == (2, 3, 4)
    assert ops._live_offsets(16, 7, 1) == tuple(range(7))


def test_unknown_depthwise_implementation_is_named():
    with pytest.raises(ValueError, match="allowed: auto, taps, grouped"):
        ops.depthwise_conv(jnp.zeros((1, 3, 3, 1)), jnp.zeros((3, 3, 1)), 1, "fft")
