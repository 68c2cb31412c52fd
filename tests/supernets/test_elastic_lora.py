"""ElasticLoRADense: a rank-r slice is a rank-r LoRA (outputs and gradients), in every lowering; the
base is frozen; the merged export equals the adapter; groups share one rank decision."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nas.lowering import slice_subnet, split
from supernets.decisions import NestedWidth, name_decisions
from supernets.elastic_dense import ElasticDense
from supernets.elastic_lora import ElasticLoRADense, LoRADense, merge_is_cheaper
from supernets.frozen import Frozen
from supernets.relaxed import Relaxed

RNG = np.random.default_rng(0)
RANKS = (2, 4, 6)


def trained_layer(merge=True, out=7):
    """A layer whose B is off zero, as after some training (at init the adapter adds nothing)."""
    layer = ElasticLoRADense(5, out, NestedWidth(widths=RANKS), alpha=12.0, merge=merge, rngs=nnx.Rngs(0))
    layer.lora_b.set_value(jnp.asarray(RNG.normal(size=layer.lora_b.shape), jnp.float32))
    return layer


def reference(layer, rank):
    """A separately built rank-r LoRA holding the first r columns of A and rows of B."""
    return LoRADense.of(*layer.factors(5, layer.out_features, rank), layer.scale)


def adapter_grads(module, call):
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    return jax.grad(lambda p: jnp.sum(jnp.sin(call(nnx.merge(graphdef, p, rest)))))(params)


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 5)])
def test_rank_slice_equals_a_separate_rank_r_lora_outputs_and_gradients(rank, shape):
    # 12 tokens: the layer runs the adapter merged into the kernel; 1 token: kept apart (the cheaper form each).
    assert merge_is_cheaper(int(np.prod(shape[:-1])), 5, 7, RANKS[-1]) == (shape == (3, 4, 5))
    layer, x = trained_layer(), jnp.asarray(RNG.normal(size=shape), jnp.float32)
    ref = reference(layer, rank)
    expected = ref(x)
    masked = jax.jit(lambda x, r: layer(x, rank=r))(x, jnp.int32(rank))
    np.testing.assert_allclose(masked, expected, atol=1e-5)
    np.testing.assert_allclose(layer(x, rank=rank), expected, atol=1e-5)  # sliced (a static rank)

    ref_grads = adapter_grads(ref, lambda m: m(x))
    for traced in (True, False):
        value = jnp.int32(rank) if traced else rank
        grads = adapter_grads(layer, lambda m: m(x, rank=value))
        np.testing.assert_allclose(grads["lora_a"][...][:, :rank], ref_grads["lora_a"][...], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(grads["lora_b"][...][:rank], ref_grads["lora_b"][...], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(grads["lora_a"][...][:, rank:], 0.0)  # exact zeros: frozen by the optimizer
        np.testing.assert_array_equal(grads["lora_b"][...][rank:], 0.0)


def test_base_is_frozen_state_not_a_param():
    layer = trained_layer()
    assert isinstance(layer.kernel, Frozen) and isinstance(layer.bias, Frozen)
    _, params, stats = split(layer)
    assert set(params.keys()) == {"lora_a", "lora_b"}
    assert set(stats.keys()) == {"kernel", "bias"}


def test_untrained_adapter_computes_the_base_and_around_keeps_its_weights():
    dense = ElasticDense(5, 7, rngs=nnx.Rngs(3))
    layer = ElasticLoRADense.around(dense, NestedWidth(widths=RANKS), rngs=nnx.Rngs(4))
    x = jnp.asarray(RNG.normal(size=(2, 5)), jnp.float32)
    np.testing.assert_array_equal(layer(x, rank=jnp.int32(4)), dense(x))
    with pytest.raises(ValueError, match="do not fit the base kernel"):
        ElasticLoRADense.around(dense, 4, out_features=9, rngs=nnx.Rngs(0))


def test_relaxed_rank_is_the_probability_weighted_sum_and_one_hot_is_masked():
    layer, x = trained_layer(), jnp.asarray(RNG.normal(size=(4, 5)), jnp.float32)
    probs = jnp.asarray([0.2, 0.5, 0.3])
    mixed = layer(x, rank=Relaxed(RANKS, probs))
    expected = sum(p * layer(x, rank=r) for p, r in zip(probs, RANKS))
    np.testing.assert_allclose(mixed, expected, atol=1e-5)
    one_hot = layer(x, rank=Relaxed(RANKS, jnp.asarray([0.0, 1.0, 0.0])))
    np.testing.assert_allclose(one_hot, layer(x, rank=jnp.int32(4)), atol=1e-6)


def test_elastic_output_width_masks_and_slices_with_the_adapter():
    layer = ElasticLoRADense(5, NestedWidth(widths=(3, 7)), NestedWidth(widths=RANKS), rngs=nnx.Rngs(0))
    layer.lora_b.set_value(jnp.asarray(RNG.normal(size=layer.lora_b.shape), jnp.float32))
    x = jnp.asarray(RNG.normal(size=(2, 5)), jnp.float32)
    masked = jax.jit(lambda x: layer(x, jnp.int32(3), jnp.int32(4)))(x)
    np.testing.assert_array_equal(masked[:, 3:], 0.0)
    np.testing.assert_allclose(masked[:, :3], layer.sliced(5, 3, 4)(x), atol=1e-5)


class Grouped(nnx.Module):
    """Two projections sharing one rank decision (Shears' q/k/v group) and one with its own."""

    def __init__(self, rngs):
        shared = NestedWidth(widths=RANKS, name="qk_rank")
        self.q = ElasticLoRADense(5, 5, shared, rngs=rngs)
        self.k = ElasticLoRADense(5, 5, shared, rngs=rngs)
        self.up = ElasticLoRADense(5, 5, NestedWidth(widths=RANKS, name="up_rank"), merge=False, rngs=rngs)

    def __call__(self, x, *, train=False, arch=None):
        return self.up(self.q(x, arch=arch) * self.k(x, arch=arch), arch=arch)


def test_a_group_shares_one_decision_and_the_export_equals_the_adapter_model():
    model = Grouped(nnx.Rngs(0))
    space = name_decisions(model, "grouped")
    assert [d.name for d in space] == ["qk_rank", "up_rank"]
    for module in (model.q, model.k, model.up):
        module.lora_b.set_value(jnp.asarray(RNG.normal(size=module.lora_b.shape), jnp.float32))
    x = jnp.asarray(RNG.normal(size=(3, 5)), jnp.float32)
    arch = space.validate({"qk_rank": 4, "up_rank": 2})
    masked = jax.jit(lambda x, v: model(x, arch=space.values(v)))(x, arch.to_vector())
    subnet = slice_subnet(model, arch)
    assert type(subnet.q) is ElasticDense and type(subnet.up) is LoRADense  # merged; kept apart
    np.testing.assert_allclose(subnet(x), masked, atol=1e-5)
    assert subnet.up.lora_a.shape == (5, 2)
