"""Each family of primitives: lowered to ONNX, run in onnxruntime at batch 1 and 7, equal to jax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from nas.errors import ExportError
from nas.onnx import to_onnx
from supernets import ops

from tests.nas.onnx import checks
assert_onnx_matches = checks.assert_onnx_matches

RNG = np.random.default_rng(0)
W = RNG.normal(size=(12, 5)).astype(np.float32)

ELEMENTWISE = {
    "exp": jnp.exp, "log": lambda x: jnp.log(jnp.abs(x) + 1), "sqrt": lambda x: jnp.sqrt(jnp.abs(x)),
    "rsqrt": lambda x: lax.rsqrt(jnp.abs(x) + 0.1), "tanh": jnp.tanh, "logistic": jax.nn.sigmoid,
    "erf": jax.scipy.special.erf, "erfc": jax.scipy.special.erfc, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "abs_sign_neg": lambda x: jnp.abs(x) * jnp.sign(x) - (-x), "square": jnp.square,
    "integer_pow": lambda x: x ** 3 + x ** 2 + 1 / (x ** 2 + 1), "pow": lambda x: jnp.abs(x) ** 1.7,
    "max_min": lambda x: jnp.maximum(x, 0.1) + jnp.minimum(x, -0.2), "clamp": lambda x: jnp.clip(x, -0.5, 0.5),
    "div_sub": lambda x: (x - 1) / (x * x + 1), "floor_ceil": lambda x: jnp.floor(x * 3) + jnp.ceil(x * 2),
    "rem": lambda x: lax.rem(x * 5, 2.0),
    "compare_select": lambda x: jnp.where(x > 0, x, 2 * x) + jnp.where(x <= 0.3, 1.0, 0.0)
    + (x == x).astype(jnp.float32) + (x >= 1).astype(jnp.float32) + (x < -1).astype(jnp.float32)
    + (x != 0.5).astype(jnp.float32),
    "h_swish": lambda x: x * jnp.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "custom_jvp_and_checkpoint": lambda x: jax.nn.relu(x) + jax.checkpoint(lambda y: jnp.sin(y) * 2)(x),
    "convert": lambda x: (x * 10).astype(jnp.int32).astype(jnp.float32),
    "softmax": lambda x: jax.nn.softmax(x, axis=-1), "layer_norm_like": lambda x: (x - x.mean(-1, keepdims=True))
    / jnp.sqrt(x.var(-1, keepdims=True) + 1e-5),
}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise(name):
    assert_onnx_matches(ELEMENTWISE[name], (3, 4))


DOTS = {
    "dense": (lambda x: x @ W, (12,)),
    "dense_3d": (lambda x: x @ W + 1.0, (3, 12)),
    "weight_first": (lambda x: (W.T @ x.T).T, (12,)),
    "two_contracting": (lambda x: jnp.tensordot(x, W.reshape(3, 4, 5), axes=2), (3, 4)),
    "attention": (lambda x: jnp.einsum("bhnd,bhmd->bhnm", x, x * 2), (2, 3, 4)),
    "attention_values": (lambda x: jnp.einsum("bhnm,bhmd->bnhd", x, x[..., :3] + 1), (2, 3, 3)),
    "vector": (lambda x: x @ W[:, 0], (12,)),
}


@pytest.mark.parametrize("name", DOTS)
def test_dot_general(name):
    fn, shape = DOTS[name]
    assert_onnx_matches(fn, shape)


K = RNG.normal(size=(3, 3, 4, 6)).astype(np.float32)
DEPTHWISE = RNG.normal(size=(5, 5, 1, 4)).astype(np.float32)
CONVS = {
    "nhwc_stride2": lambda x: lax.conv_general_dilated(x, K, (2, 2), ((1, 1), (1, 1)),
                                                       dimension_numbers=("NHWC", "HWIO", "NHWC")),
    "valid_dilated": lambda x: lax.conv_general_dilated(x, K, (1, 1), "VALID", rhs_dilation=(2, 2),
                                                        dimension_numbers=("NHWC", "HWIO", "NHWC")),
    "depthwise": lambda x: lax.conv_general_dilated(x, DEPTHWISE, (2, 2), ((2, 2), (2, 2)), feature_group_count=4,
                                                    dimension_numbers=("NHWC", "HWIO", "NHWC")),
    "nchw": lambda x: lax.conv_general_dilated(x.transpose(0, 3, 1, 2), K.transpose(3, 2, 0, 1), (1, 1), "SAME"),
    "avg_pool_sum": lambda x: lax.reduce_window(x, 0.0, lax.add, (1, 3, 3, 1), (1, 1, 1, 1),
                                                ((0, 0), (1, 1), (1, 1), (0, 0))),
    "avg_pool_strided": lambda x: lax.reduce_window(x, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4,
    "max_pool": lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1),
                                            ((0, 0), (1, 1), (1, 1), (0, 0))),
}


@pytest.mark.parametrize("name", CONVS)
def test_convolutions_and_windows(name):
    assert_onnx_matches(CONVS[name], (9, 9, 4))


SHAPES = {
    "reductions": lambda x: x.sum(1) + x.max((1, 2))[:, None] + x.min(2).mean(-1, keepdims=True),
    "argmax": lambda x: jnp.argmax(x, -1).astype(jnp.float32) + jnp.argmin(x, 1).sum(-1, keepdims=True),
    "reshape_transpose": lambda x: x.reshape(x.shape[0], 3, 2, 2).transpose(0, 2, 3, 1).reshape(-1, 12),
    "flatten_batch": lambda x: x.reshape(-1, 4) * 2,
    "broadcast": lambda x: x[:, :, None, :] * jnp.ones((3, 5, 4)) + jnp.arange(4.0),
    "concatenate": lambda x: jnp.concatenate([x, 2 * x, jnp.ones((x.shape[0], 3, 1))], axis=-1),
    "pad": lambda x: jnp.pad(x, ((0, 0), (1, 2), (0, 3)), constant_values=0.5),
    "negative_pad": lambda x: lax.pad(x, 0.0, ((0, 0, 0), (-1, 1, 0), (2, -2, 0))),
    "strided_slice": lambda x: lax.slice(x, (0, 1, 0), x.shape, (1, 2, 3)),
    "dynamic_slice": lambda x: lax.dynamic_slice(x, (0, 1, 2), (x.shape[0], 2, 2)) * 1,
    "index": lambda x: x[:, 0] + x[:, -1, 1:3].sum(-1, keepdims=True),
    "take": lambda x: jnp.take(x, jnp.array([2, 0, 2]), axis=1),
    "squeeze_expand": lambda x: jnp.squeeze(x[:, :1], 1)[:, None] + 1,
    "flip": lambda x: jnp.flip(x, (1, 2)),
    "split": lambda x: jnp.split(x, [1], axis=1)[1] * jnp.split(x, [2], axis=2)[1][:, 1:].sum(-1, keepdims=True),
    "cumsum": lambda x: jnp.cumsum(x, axis=2),
    "batch_as_value": lambda x: x * x.shape[0],
}


@pytest.mark.parametrize("name", SHAPES)
def test_shapes_reductions_and_indexing(name):
    assert_onnx_matches(SHAPES[name], (3, 4))


TABLE = RNG.normal(size=(256, 6)).astype(np.float32)


def test_embedding_lookup_of_tokens():
    assert_onnx_matches(lambda tokens: jnp.asarray(TABLE)[tokens] * 2, (5,), np.int32)
    assert_onnx_matches(lambda tokens: jnp.take(TABLE, tokens, axis=0, mode="clip").sum(-1), (5,), np.int32)


def test_unsupported_primitive_is_one_error_naming_it_and_where_it_comes_from():
    with pytest.raises(ExportError, match=r"primitive 'sort' has no ONNX lowering.*test_primitives.py:\d+"):
        to_onnx(lambda x: jnp.sort(x, axis=-1), (3, 4), np.float32)
    # A loop has no ONNX lowering either; the error names the line that wrote it.
    looped = lambda x: lax.fori_loop(0, 3, lambda i, y: y * 2.0, x)  # noqa: E731
    with pytest.raises(ExportError, match=r"primitive '(scan|while)'.*test_primitives.py:\d+"):
        to_onnx(looped, (3, 4), np.float32)
    # Exports trace the depthwise taps XLA:CPU runs as the grouped convolution: one ONNX Conv, not k*k slices.
    depthwise = lambda x: ops.depthwise_conv(x, jnp.ones((3, 3, 4)), 1, "taps")  # noqa: E731
    with ops.portable_depthwise():
        model = to_onnx(depthwise, (5, 5, 4), np.float32)
    assert "Conv" in {node.op_type for node in model.graph.node}
    with pytest.raises(ExportError, match="dot_general contracting a batch-sized dim"):
        to_onnx(lambda x: x.T @ x, (12,), np.float32)
