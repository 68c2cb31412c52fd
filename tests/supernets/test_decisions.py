"""Declared decisions: the space, cost and subnets derived from the network itself."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nas.hardware import layer_counts as lc
from nas.hardware.cost_model import resolve_cost_model
from nas.hardware.counters import CostCounter
from nas.lowering import masked_apply, slice_subnet, split, standalone_apply
from nas.space import AtLeast, SpaceError
from supernets.decisions import Integer, NestedWidth, OneOf, SameAs, name_decisions
from supernets.elastic_dense import ElasticDense
from supernets.norms import ElasticLayerNorm
from tests.supernets.tiny_cnn import TINY_CNN

IMAGE = (12, 12, 1)


def tiny_cnn():
    options = TINY_CNN.resolve_options({}, IMAGE)
    return options, *TINY_CNN.build(options, seed=0)


def test_the_space_is_named_from_module_paths_with_the_stack_conditions():
    _, space, _ = tiny_cnn()
    assert [d.name for d in space.decisions] == [
        "blocks.depth", "blocks.blocks.0.conv.out_size", "blocks.blocks.0.conv.kernel_choice",
        "blocks.blocks.1.conv.out_size", "blocks.blocks.1.conv.kernel_choice",
        "blocks.blocks.2.conv.out_size", "blocks.blocks.2.conv.kernel_choice"]
    # The norm reads its conv's width object: one decision, not two. Blocks past depth 1 are conditional.
    assert space["blocks.blocks.0.conv.out_size"].when is None
    assert space["blocks.blocks.2.conv.kernel_choice"].when == AtLeast("blocks.depth", 3)
    assert space["blocks.blocks.1.conv.out_size"].values == (8, 16, 24)
    assert space.size() == 6 + 36 + 216


class Shared(nnx.Module):
    def __init__(self, *, rngs):
        self.depth = Integer(1, 2, name="depth")
        width = NestedWidth(max=8, steps=2)
        self.first = ElasticDense(4, width, rngs=rngs)
        self.second = ElasticDense(width, NestedWidth(max=8, steps=2, when=AtLeast(self.depth, 2)), rngs=rngs)
        self.norm = ElasticLayerNorm(SameAs(self.second.out_size))


def test_explicit_names_conditions_on_declared_objects_and_ties():
    model = Shared(rngs=nnx.Rngs(0))
    space = name_decisions(model, "shared")
    assert [d.name for d in space.decisions] == ["depth", "first.out_size", "second.out_size", "norm.size"]
    assert space["second.out_size"].when == AtLeast("depth", 2)
    assert space["norm.size"].type_name == "tie" and space["norm.size"].source == "second.out_size"
    # The names are bound into the model: its layers read their values from a named arch.
    assert model.second.in_size is model.first.out_size and model.first.out_size.name == "first.out_size"


def test_bad_declarations_get_clear_errors():
    class Undeclared(nnx.Module):
        def __init__(self, *, rngs):
            self.dense = ElasticDense(4, 8, rngs=rngs)

    with pytest.raises(SpaceError, match="declares no decision"):
        name_decisions(Undeclared(rngs=nnx.Rngs(0)), "plain")

    class Forward(nnx.Module):
        def __init__(self, *, rngs):
            later = Integer(1, 2)
            self.dense = ElasticDense(4, NestedWidth(max=8, steps=2, when=AtLeast(later, 2)), rngs=rngs)

    with pytest.raises(SpaceError, match="not declared in the model before it"):
        name_decisions(Forward(rngs=nnx.Rngs(0)), "forward")

    unnamed = ElasticDense(4, NestedWidth(max=8, steps=2), rngs=nnx.Rngs(0))
    with pytest.raises(SpaceError, match="never named"):
        unnamed(jnp.ones((1, 4)), arch={"x": 4})


def test_masked_and_sliced_lowerings_agree_on_the_custom_cnn():
    _, space, supernet = tiny_cnn()
    graphdef, params, stats = split(supernet)
    images = jax.random.normal(jax.random.key(1), (4, *IMAGE))
    rng = np.random.default_rng(0)
    for arch in [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(6))]:
        masked, _ = masked_apply(graphdef, params, stats, space, images, jnp.asarray(arch.to_vector()), train=False)
        subnet = slice_subnet(supernet, arch)
        sliced, _ = standalone_apply(*split(subnet), images, train=False)
        np.testing.assert_allclose(masked, sliced, atol=1e-5, err_msg=arch.to_string())
        # The subnet holds exactly the active weights: one conv per block its depth runs.
        assert len(subnet.blocks.blocks) == arch["blocks.depth"]


def _hand_count(arch, in_channels=1, size=12, classes=10):
    """Multiply-adds and params of the tiny CNN written out by hand."""
    macs = params = 0
    channels = in_channels
    for index in range(arch["blocks.depth"]):
        width, kernel = arch[f"blocks.blocks.{index}.conv.out_size"], arch[f"blocks.blocks.{index}.conv.kernel_choice"]
        stride = 2 if index == 0 else 1
        macs += lc.conv2d_macs(size, size, channels, width, kernel, stride)
        params += lc.conv2d_params(channels, width, kernel) + lc.norm_params(width)
        size, channels = lc.conv_out_size(size, kernel, stride), width
    return macs + lc.dense_macs(channels, classes), params + lc.dense_params(channels, classes)


def test_cost_is_derived_from_the_layers_and_matches_a_hand_count():
    options, space, _ = tiny_cnn()
    counter = CostCounter(space, resolve_cost_model(TINY_CNN, options, IMAGE))
    rng = np.random.default_rng(3)
    archs = [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(40))]
    vectors = np.stack([a.to_vector() for a in archs])
    expected = np.array([_hand_count(a) for a in archs])
    np.testing.assert_array_equal(np.asarray(counter.macs(vectors)), expected[:, 0])
    np.testing.assert_array_equal(np.asarray(counter.params(vectors)), expected[:, 1])
    # Params agree with the sliced subnet's real parameter count, too.
    for arch in archs[:5]:
        subnet = slice_subnet(tiny_cnn()[2], arch)
        assert sum(x.size for x in jax.tree.leaves(nnx.state(subnet, nnx.Param))) == _hand_count(arch)[1]


_LOOKUP_TABLE_CASES = {
    "tiny-cnn": (IMAGE, {}, {"conv2d", "batch_norm", "dense"}),
    "transformer_lm": ((16,), {"embed_dims": [32, 64], "depths": [1, 2], "heads": [1, 2], "ffn_widths": [32, 64],
                               "context": 16},
                       {"tied_embedding", "positions", "attention_products", "dense", "layer_norm"}),
    "vit": ((28, 28, 1), {"embed_dims": [8, 16], "depths": [1, 2], "heads": [1, 2], "mlp_ratios": [1, 2],
                          "head_dim": 4, "patch_size": 7},
            {"class_token", "positions", "attention_products", "dense", "layer_norm"}),
}


@pytest.mark.parametrize("space_name", list(_LOOKUP_TABLE_CASES))
def test_every_derived_cost_entry_builds_a_module_the_lookup_table_can_time(space_name):
    from nas.definition import get_definition
    from nas.hardware.tables import LayerTable

    definition = TINY_CNN if space_name == "tiny-cnn" else get_definition(space_name)
    shape, overrides, types = _LOOKUP_TABLE_CASES[space_name]
    options = definition.resolve_options(overrides, shape)
    model = resolve_cost_model(definition, options, shape)
    configs = LayerTable(definition.make_space(**options), model.layers).distinct_configs()
    assert {c["type"] for c in configs} >= types
    for config in configs:
        module, input_shape = model.build(config, nnx.Rngs(0))
        assert isinstance(module, nnx.Module), config
        graphdef, state = nnx.split(module)
        dtype = jnp.float32
        out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, jax.ShapeDtypeStruct((1, *input_shape), dtype))
        assert out.shape[0] == 1


def test_a_product_of_two_decisions_reads_static_traced_and_relaxed_values():
    from supernets.decisions import Product, evaluate, largest, read, sources
    from supernets.relaxed import Relaxed

    ratio, width = OneOf((1, 2), name="r"), NestedWidth(widths=(4, 8), name="w")
    size = Product(ratio, width)
    assert sources(size) == (ratio, width) and largest(size) == 16 and evaluate(size, {"r": 2, "w": 4}) == 8
    assert read(size, None) is None and read(size, {"r": 2, "w": 4}) == 8
    assert int(jax.jit(lambda r, w: read(size, {"r": r, "w": w}))(2, 8)) == 16
    # Relaxed x relaxed: every pair of choices, ratio-major, with the product of the probabilities.
    relaxed = read(size, {"r": Relaxed((1, 2), jnp.array([0.25, 0.75])), "w": Relaxed((4, 8), jnp.array([0.5, 0.5]))})
    assert relaxed.values == (4, 8, 8, 16)
    np.testing.assert_allclose(relaxed.probs, [0.125, 0.125, 0.375, 0.375])
    with pytest.raises(SpaceError, match="a factor reads None"):
        read(size, {"r": None, "w": 4})
    with pytest.raises(SpaceError, match="each factor must be"):
        Product(ratio, 0.5)
