"""Elastic attention, transformer block and embedding: masked (traced sizes), static and sliced agree
(4 configs each by default, 52 in the slow tests)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from supernets.elastic_attention import ElasticAttention
from supernets.elastic_embedding import ElasticEmbedding
from supernets.transformer_block import ElasticTransformerBlock

EMBED, HEADS, HEAD_DIM, HIDDEN, LENGTH, VOCAB = 24, 4, 4, 40, 7, 11
TOLERANCE = 1e-5


def configs(count=50, seed=0):
    """(width, heads, hidden): smallest, largest, then random."""
    rng = np.random.default_rng(seed)
    return [(1, 1, 1), (EMBED, HEADS, HIDDEN)] + [
        (int(rng.integers(1, EMBED + 1)), int(rng.integers(1, HEADS + 1)), int(rng.integers(1, HIDDEN + 1)))
        for _ in range(count)]


def perturbed(module):
    graphdef, params = nnx.split(module, nnx.Param)
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda p: jnp.asarray(p + 0.3 * rng.normal(size=p.shape), jnp.float32), params)
    return graphdef, params


def padded_input(width, seed=2):
    x = np.random.default_rng(seed).normal(size=(3, LENGTH, EMBED)).astype(np.float32)
    x[..., width:] = 0.0  # the masked lowering's invariant: inactive channels are zero
    return jnp.asarray(x)


def assert_close(masked, sliced, width, what):
    assert not np.any(np.asarray(masked)[..., width:]), f"{what}: inactive channels are not zero"
    difference = float(jnp.max(jnp.abs(masked[..., :width] - sliced)))
    assert difference <= TOLERANCE * max(1.0, float(jnp.max(jnp.abs(sliced)))), f"{what}: differ by {difference}"


def check_attention(causal, count):
    graphdef, params = perturbed(ElasticAttention(EMBED, HEADS, HEAD_DIM, causal=causal, rngs=nnx.Rngs(0)))
    masked = jax.jit(lambda p, x, h, w: nnx.merge(graphdef, p)(x, h, w))
    static = jax.jit(lambda p, x, h, w: nnx.merge(graphdef, p)(x[..., :w], h, w), static_argnums=(2, 3))
    for width, heads, _ in configs(count):
        x = padded_input(width)
        got = masked(params, x, jnp.int32(heads), jnp.int32(width))
        layer = nnx.merge(graphdef, params).sliced(width, heads)
        want = layer(x[..., :width])
        assert_close(got, want, width, f"attention width={width} heads={heads}")
        assert_close(jnp.pad(static(params, x, heads, width), ((0, 0), (0, 0), (0, EMBED - width))), want, width,
                     f"static attention width={width} heads={heads}")


def check_block(causal, count):
    graphdef, params = perturbed(ElasticTransformerBlock(EMBED, HEADS, HEAD_DIM, HIDDEN, causal=causal,
                                                         rngs=nnx.Rngs(0)))
    masked = jax.jit(lambda p, x, w, h, f: nnx.merge(graphdef, p)(x, width=w, heads=h, hidden=f))
    for width, heads, hidden in configs(count, seed=3):
        x = padded_input(width)
        got = masked(params, x, jnp.int32(width), jnp.int32(heads), jnp.int32(hidden))
        want = nnx.merge(graphdef, params).sliced(width, heads, hidden)(x[..., :width])
        assert_close(got, want, width, f"block width={width} heads={heads} hidden={hidden}")


def check_embedding(count):
    graphdef, params = perturbed(ElasticEmbedding(VOCAB, EMBED, rngs=nnx.Rngs(0)))
    ids = jnp.asarray(np.random.default_rng(4).integers(0, VOCAB, (3, LENGTH)))

    def run(p, w):
        layer = nnx.merge(graphdef, p)
        h = layer.embed(ids, w)
        return h, layer.logits(jnp.tanh(h))
    masked = jax.jit(run)
    for width, _, _ in configs(count, seed=5):
        got_h, got_logits = masked(params, jnp.int32(width))
        layer = nnx.merge(graphdef, params).sliced(width)
        want_h = layer.embed(ids)
        assert_close(got_h, want_h, width, f"embedding width={width}")
        np.testing.assert_allclose(got_logits, layer.logits(jnp.tanh(want_h)), atol=TOLERANCE)
        np.testing.assert_array_equal(layer.table[...], params["table"][...][:, :width])


@pytest.mark.parametrize("causal", [False, True])
def test_attention_and_block_masked_equal_sliced_on_smallest_largest_and_two_random(causal):
    check_attention(causal, 2)
    check_block(causal, 2)


def test_embedding_with_tied_output_masked_equals_sliced_on_smallest_largest_and_two_random():
    check_embedding(2)


@pytest.mark.slow
@pytest.mark.parametrize("causal", [False, True])
def test_attention_and_block_masked_equal_sliced_on_50_random_plus_smallest_and_largest(causal):
    check_attention(causal, 50)
    check_block(causal, 50)


@pytest.mark.slow
def test_embedding_masked_equals_sliced_on_50_random_plus_smallest_and_largest():
    check_embedding(50)


def test_inactive_heads_width_and_ffn_units_get_zero_gradient():
    block = ElasticTransformerBlock(EMBED, HEADS, HEAD_DIM, HIDDEN, causal=True, rngs=nnx.Rngs(0))
    graphdef, params = perturbed(block)
    width, heads, hidden = 10, 2, 15
    x = padded_input(width)

    def loss(p):
        return jnp.sum(jnp.square(nnx.merge(graphdef, p)(x, width=jnp.int32(width), heads=jnp.int32(heads),
                                                         hidden=jnp.int32(hidden))))
    grads = jax.jit(jax.grad(loss))(params)
    inner = heads * HEAD_DIM
    attention = grads["attention"]
    for name in ("query", "key", "value"):
        kernel = np.asarray(attention[name]["kernel"][...])
        assert not kernel[width:].any() and not kernel[:, inner:].any(), name
        assert kernel[:width, :inner].any(), name
    assert not np.asarray(attention["out"]["kernel"][...])[inner:].any()
    assert not np.asarray(grads["ffn_in"]["kernel"][...])[:, hidden:].any()
    assert not np.asarray(grads["ffn_out"]["kernel"][...])[hidden:].any()
    assert not np.asarray(grads["ffn_out"]["bias"][...])[width:].any()


def test_causal_attention_does_not_look_ahead_and_bidirectional_does():
    for causal in (True, False):
        layer = ElasticAttention(EMBED, HEADS, HEAD_DIM, causal=causal, rngs=nnx.Rngs(0))
        x = padded_input(EMBED)
        changed = x.at[:, -1].add(1.0)  # only the last position differs
        earlier = jnp.max(jnp.abs(layer(x)[:, :-1] - layer(changed)[:, :-1]))
        assert (float(earlier) == 0.0) == causal
