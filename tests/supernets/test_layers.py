"""Each elastic layer: masked == sliced, inactive weights get zero gradient, stats move only where active."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from supernets.elastic_depth import run_elastic_depth
from supernets.elastic_depthwise import ElasticDepthwiseConv
from supernets.mbconv import MBConv
from supernets.norms import ElasticBatchNorm, ElasticLayerNorm

RNG = np.random.default_rng(0)


def masked_input(shape, width):
    x = RNG.normal(size=shape).astype(np.float32)
    x[..., width:] = 0.0  # upstream layers zero their inactive channels
    return jnp.asarray(x)


def test_dense_masked_equals_sliced_and_inactive_weights_get_zero_gradient():
    layer = ElasticDense(8, 6, rngs=nnx.Rngs(0))
    x = masked_input((4, 8), 5)
    masked = jax.jit(lambda x, w: layer(x, w))(x, jnp.int32(3))
    np.testing.assert_array_equal(masked[:, 3:], 0.0)
    np.testing.assert_allclose(masked[:, :3], layer.sliced(5, 3)(x[:, :5]), atol=1e-6)

    graphdef, params = nnx.split(layer)
    grads = jax.grad(lambda p: jnp.sum(nnx.merge(graphdef, p)(x, jnp.int32(3)) ** 2))(params)
    np.testing.assert_array_equal(grads["kernel"][...][:, 3:], 0.0)
    np.testing.assert_array_equal(grads["kernel"][...][5:, :], 0.0)
    np.testing.assert_array_equal(grads["bias"][...][3:], 0.0)


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_conv_centre_crop_masked_equals_sliced(kernel_size):
    layer = ElasticConv2d(4, 6, 5, stride=2, rngs=nnx.Rngs(1))
    x = masked_input((2, 9, 9, 4), 3)
    ks = jnp.int32(kernel_size)
    masked = jax.jit(lambda x: layer(x, jnp.int32(5), ks))(x)
    sliced = layer.sliced(3, 5, kernel_size)(x[..., :3])
    np.testing.assert_allclose(masked[..., :5], sliced, atol=1e-5)
    np.testing.assert_array_equal(masked[..., 5:], 0.0)


@pytest.mark.parametrize("transform", [False, True])
@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_depthwise_kernel_choices_masked_equal_sliced(transform, kernel_size):
    layer = ElasticDepthwiseConv(6, (3, 5, 7), stride=1, kernel_transform=transform, rngs=nnx.Rngs(2))
    if transform:  # move the transforms off identity so the test sees them
        for matrix in layer.transforms.values():
            matrix[...] = matrix[...] + 0.1 * jnp.asarray(RNG.normal(size=matrix[...].shape), jnp.float32)
    x = masked_input((2, 6, 6, 6), 4)
    masked = jax.jit(lambda x, k: layer(x, k))(x, jnp.int32(kernel_size))
    sliced = layer.sliced(4, kernel_size)(x[..., :4])
    np.testing.assert_allclose(masked[..., :4], sliced, atol=1e-5)
    np.testing.assert_array_equal(masked[..., 4:], 0.0)


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_switched_kernel_equals_masked_in_values_and_gradients(stride):
    layer = ElasticDepthwiseConv(6, (3, 5, 7), stride=stride, kernel_transform=True, rngs=nnx.Rngs(3))
    for matrix in layer.transforms.values():
        matrix[...] = matrix[...] + 0.1 * jnp.asarray(RNG.normal(size=matrix[...].shape), jnp.float32)
    graphdef, params = nnx.split(layer)
    x = masked_input((2, 7, 7, 6), 4)[..., :4]  # a switched block hands the layer its static width

    def loss(params, x, size, switch):
        y = nnx.merge(graphdef, params)(x, size, switch=switch)
        return jnp.sum(jnp.square(y)), y

    run = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True), static_argnums=3)
    for size in (3, 5, 7):
        (p_masked, x_masked), y_masked = run(params, x, jnp.int32(size), False)
        (p_switch, x_switch), y_switch = run(params, x, jnp.int32(size), True)
        np.testing.assert_allclose(y_switch, y_masked, atol=1e-5)
        np.testing.assert_allclose(x_switch, x_masked, atol=1e-4)
        for got, want in zip(jax.tree.leaves(p_switch), jax.tree.leaves(p_masked)):
            np.testing.assert_allclose(got, want, atol=1e-4)
    # Only the chosen kernel's taps run: the switched program holds one branch per kernel size.
    text = jax.jit(lambda x, k: layer(x, k, switch=True)).lower(x, jnp.int32(3)).as_text()
    assert text.count("stablehlo.case") == 1


def test_kernel_transform_changes_small_kernels_only():
    layer = ElasticDepthwiseConv(3, (3, 5, 7), kernel_transform=True, rngs=nnx.Rngs(0))
    raw_centre = layer.kernel[...][2:5, 2:5]
    np.testing.assert_allclose(layer.kernel_of_size(3), raw_centre)  # identity at init
    layer.transforms["5to3"][...] = 2.0 * jnp.eye(9)
    np.testing.assert_allclose(layer.kernel_of_size(3), 2.0 * raw_centre, rtol=1e-6)
    np.testing.assert_allclose(layer.kernel_of_size(7), layer.kernel[...])


def test_batch_norm_uses_and_updates_only_the_active_width():
    bn = ElasticBatchNorm(6)
    x = masked_input((32, 3, 3, 6), 4) * 3.0 + 1.0
    x = x.at[..., 4:].set(0.0)
    graphdef, params, stats = nnx.split(bn, nnx.Param, nnx.BatchStat)

    def run(width, x):
        model = nnx.merge(graphdef, params, stats, copy=True)
        y = model(x, train=True, width=width)
        return y, nnx.state(model, nnx.BatchStat)

    masked, masked_stats = jax.jit(run)(jnp.int32(4), x)
    sliced_bn = bn.sliced(4)
    sliced = sliced_bn(x[..., :4], train=True)
    np.testing.assert_allclose(masked[..., :4], sliced, atol=1e-5)
    np.testing.assert_array_equal(masked[..., 4:], 0.0)
    np.testing.assert_allclose(masked_stats["mean"][...][:4], sliced_bn.mean[...], atol=1e-6)
    np.testing.assert_array_equal(masked_stats["mean"][...][4:], 0.0)  # untouched
    np.testing.assert_array_equal(masked_stats["var"][...][4:], 1.0)


def test_layer_norm_statistics_cover_the_active_width_only():
    ln = ElasticLayerNorm(8)
    x = masked_input((5, 8), 3)
    masked = jax.jit(lambda x: ln(x, jnp.int32(3)))(x)
    np.testing.assert_allclose(masked[:, :3], ln.sliced(3)(x[:, :3]), atol=1e-5)
    np.testing.assert_array_equal(masked[:, 3:], 0.0)


def test_elastic_depth_skips_blocks_and_keeps_their_statistics():
    blocks = [ElasticBatchNorm(3) for _ in range(3)]
    x = jnp.asarray(RNG.normal(size=(16, 3)), jnp.float32) + 2.0

    def run(depth):
        copies = [nnx.clone(b) for b in blocks]
        y = run_elastic_depth(copies, x, depth, lambda i, b, h: b(h, train=True) + 1.0, min_depth=1)
        return y, [c.mean[...] for c in copies]

    y_traced, means_traced = run(jnp.int32(2))
    y_static, means_static = run(2)
    np.testing.assert_allclose(y_traced, y_static, atol=1e-6)
    for got, want in zip(means_traced, means_static):
        np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_array_equal(means_traced[2], 0.0)  # the skipped block's statistics did not move


@pytest.mark.parametrize("stride,se", [(1, 0), (2, 16)])
@pytest.mark.parametrize("kernel_size,mid", [(3, 24), (5, 32), (7, 48)])
def test_mbconv_masked_equals_sliced_in_train_and_eval(stride, se, kernel_size, mid):
    block = MBConv(8, 8, 48, kernel_sizes=(3, 5, 7), stride=stride, activation="h_swish",
                   se_channels=se, rngs=nnx.Rngs(3))
    graphdef, params, stats = nnx.split(block, nnx.Param, nnx.BatchStat)
    x = jnp.asarray(RNG.normal(size=(8, 6, 6, 8)), jnp.float32)
    se_width = None if not se else jnp.int32(mid // 4 if mid // 4 <= se else se)
    for train in (False, True):
        def run(p, s, x, k, m, r):
            return nnx.merge(graphdef, p, s, copy=True)(x, train=train, kernel_size=k, mid=m, se=r)
        masked = jax.jit(run)(params, stats, x, jnp.int32(kernel_size), jnp.int32(mid), se_width)
        sliced = block.sliced(mid, kernel_size, int(se_width) if se else 0)
        np.testing.assert_allclose(masked, sliced(x, train=train), atol=1e-5)
