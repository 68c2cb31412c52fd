"""Relaxed decisions at the layer level: soft masks are TangleNAS's superposed weights (one op on the
probability-weighted sum of the choices' zero-padded weights); mixed ops sum one output per choice."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from supernets.choice import mix_branches, run_choice, run_per_choice
from supernets.elastic_conv import ElasticConv2d, centre_crop
from supernets.elastic_dense import ElasticDense
from supernets.elastic_depth import run_elastic_depth
from supernets.elastic_depthwise import ElasticDepthwiseConv
from supernets.norms import ElasticBatchNorm, ElasticLayerNorm
from supernets.ops import conv2d, depthwise_conv
from supernets.relaxed import Relaxed

PROBS = jnp.array([0.2, 0.5, 0.3])


def pad_to(array, shape):
    """Zero-pads every axis at its end (`centred`: symmetrically, for kernel taps)."""
    return jnp.pad(array, [(0, full - size) for size, full in zip(array.shape, shape)])


def pad_centred(kernel, size):
    pad = (size - kernel.shape[0]) // 2
    return jnp.pad(kernel, [(pad, pad), (pad, pad)] + [(0, 0)] * (kernel.ndim - 2))


def test_expectations_maps_products_and_conditioning():
    widths = Relaxed((4, 8, 16), PROBS)
    np.testing.assert_allclose(widths.expect(lambda w: jnp.float32(w)), 0.2 * 4 + 0.5 * 8 + 0.3 * 16, rtol=1e-6)
    assert (widths * 2).values == (8, 16, 32)
    assert widths.map({4: 1, 8: 1, 16: 2}.__getitem__).values == (1, 1, 2)
    np.testing.assert_allclose(widths.probability(lambda w: w > 4), 0.8, rtol=1e-6)
    product = Relaxed((2, 3), jnp.array([0.25, 0.75])) * Relaxed((10, 20), jnp.array([0.5, 0.5]))
    assert product.values == (20, 40, 30, 60)
    np.testing.assert_allclose(product.probs, [0.125, 0.125, 0.375, 0.375])
    total, kept = widths.restrict(lambda w: w >= 8)
    np.testing.assert_allclose(total, 0.8, rtol=1e-6)
    np.testing.assert_allclose(kept.probs, [0.5 / 0.8, 0.3 / 0.8], rtol=1e-6)
    # Conditioning on an event of probability 0 gives zeros (no NaN), with finite gradients.
    gradient = jax.grad(lambda p: jnp.sum(Relaxed((1, 3, 5), p).restrict(lambda v: v > 1)[1].probs))(
        jnp.array([1.0, 0.0, 0.0]))
    assert bool(jnp.all(jnp.isfinite(gradient)))
    assert Relaxed((1, 3, 5), jnp.array([1.0, 0.0, 0.0])).restrict(lambda v: v > 1)[1].probs.tolist() == [0, 0]


def test_a_dense_layer_runs_one_matmul_on_the_superposed_weights():
    layer = ElasticDense(6, 16, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (3, 6))
    widths = (4, 8, 16)
    kernel, bias = layer.kernel[...], layer.bias[...]
    superposed_kernel = sum(p * pad_to(kernel[:, :w], kernel.shape) for p, w in zip(PROBS, widths))
    superposed_bias = sum(p * pad_to(bias[:w], bias.shape) for p, w in zip(PROBS, widths))
    np.testing.assert_allclose(layer(x, Relaxed(widths, PROBS)), x @ superposed_kernel + superposed_bias,
                               atol=1e-6)


def test_a_conv_and_a_depthwise_conv_superpose_their_centre_kernels():
    conv = ElasticConv2d(3, 5, 5, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 6, 6, 3))
    probs = jnp.array([0.6, 0.4])
    kernel = conv.kernel[...]
    superposed = sum(p * pad_centred(centre_crop(kernel, k), 5) for p, k in zip(probs, (3, 5)))
    np.testing.assert_allclose(conv(x, kernel_size=Relaxed((3, 5), probs)), conv2d(x, superposed, 1), atol=1e-5)

    depthwise = ElasticDepthwiseConv(3, (3, 5, 7), kernel_transform=True, rngs=nnx.Rngs(0))
    depthwise.transforms["7to5"].set_value(depthwise.transforms["7to5"][...] + 0.1)  # off the identity
    superposed = sum(p * pad_centred(depthwise.kernel_of_size(k), 7) for p, k in zip(PROBS, (3, 5, 7)))
    x = jax.random.normal(jax.random.key(2), (2, 6, 6, 3))
    np.testing.assert_allclose(depthwise(x, Relaxed((3, 5, 7), PROBS)), depthwise_conv(x, superposed, 1),
                               atol=1e-5)


def test_norms_mix_per_width_statistics_and_move_only_possible_channels():
    x = jax.random.normal(jax.random.key(0), (4, 8))
    norm = ElasticLayerNorm(8)
    expected = sum(p * norm(x, jnp.int32(w)) for p, w in zip([0.7, 0.3], (4, 8)))
    np.testing.assert_allclose(norm(x, Relaxed((4, 8), jnp.array([0.7, 0.3]))), expected, atol=1e-6)

    batch_norm = ElasticBatchNorm(8)
    y = batch_norm(x, train=True, width=Relaxed((2, 4, 8), jnp.array([0.5, 0.5, 0.0])))
    assert bool(jnp.all(batch_norm.mean[...][4:] == 0)) and bool(jnp.all(batch_norm.mean[...][:4] != 0))
    # Output channel i scaled by P(width > i): the superposition of the BN's zero-padded scale and bias.
    soft_mask = jnp.array([1.0, 1.0, 0.5, 0.5, 0, 0, 0, 0])
    np.testing.assert_allclose(y, ElasticBatchNorm(8)(x, train=True) * soft_mask, atol=1e-6)


def test_a_relaxed_choice_is_the_weighted_sum_of_its_branches_and_of_their_statistics():
    module = ElasticBatchNorm(3)
    x = jax.random.normal(jax.random.key(0), (4, 3)) + 2.0
    branches = [lambda m, h: h, lambda m, h: m(h, train=True), lambda m, h: 2 * m(h, train=True)]
    y = run_choice(Relaxed((0, 1, 2), PROBS), module, x, branches)
    normalised = ElasticBatchNorm(3)(x, train=True)
    np.testing.assert_allclose(y, 0.2 * x + 0.5 * normalised + 0.3 * 2 * normalised, atol=1e-6)
    # The identity branch leaves the statistics as they were (zero): 80% of one update.
    one_update = 0.1 * jnp.mean(x, axis=0)
    np.testing.assert_allclose(module.mean[...], 0.8 * one_update, atol=1e-6)


def test_mixed_ops_run_once_per_joint_choice_at_its_own_size_zero_padded():
    layer = ElasticDense(3, 8, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 3))
    calls = []

    def call(module, h, width, scale):
        calls.append((width, scale))
        return module(h, width) * scale

    width, scale = Relaxed((4, 8), jnp.array([0.25, 0.75]), per_choice=True), Relaxed((1, 3), jnp.array([0.5, 0.5]),
                                                                                       per_choice=True)
    y = run_per_choice(layer, x, call, width=width, scale=scale)
    assert calls == [(4, 1), (4, 3), (8, 1), (8, 3)]
    full = layer(x)
    expected = 0.25 * 2.0 * pad_to(full[:, :4], full.shape) + 0.75 * 2.0 * full
    np.testing.assert_allclose(y, expected, atol=1e-6)
    # Without per-choice decisions the call runs once, with the values as given.
    calls.clear()
    run_per_choice(layer, x, call, width=Relaxed((4, 8), jnp.array([0.25, 0.75])), scale=2)
    assert len(calls) == 1
    assert mix_branches([1.0], layer, x, [lambda m, h: m(h)]).shape == (2, 8)


def test_a_relaxed_depth_mixes_the_outputs_after_each_candidate_depth():
    blocks = [ElasticBatchNorm(2) for _ in range(3)]
    x = jnp.array([[1.0, 2.0], [3.0, 5.0]])
    y = run_elastic_depth(blocks, x, Relaxed((1, 2), jnp.array([0.4, 0.6])),
                          lambda i, b, h: b(h, train=True) + 1.0, min_depth=1)
    h1 = ElasticBatchNorm(2)(x, train=True) + 1.0
    h2 = ElasticBatchNorm(2)(h1, train=True) + 1.0
    np.testing.assert_allclose(y, 0.4 * h1 + 0.6 * h2, atol=1e-6)
    # The third block runs at no depth of non-zero probability: its statistics stay where they were.
    assert bool(jnp.all(blocks[2].mean[...] == 0)) and bool(jnp.all(blocks[1].mean[...] != 0))
