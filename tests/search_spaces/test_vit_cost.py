"""Hardware cost of the ViT space: counted params equal the sliced models', MACs and params by hand."""
import jax
import numpy as np
import pytest

from nas.definition import get_definition
from nas.hardware.counters import load_counter
from nas.lowering import count_params, slice_subnet, split

IMAGE = (28, 28, 1)


@pytest.fixture(scope="module")
def counter():
    return load_counter("vit", {}, IMAGE)


def test_counted_params_equal_the_sliced_models(counter):
    definition = get_definition("vit")
    _, supernet = definition.build(definition.resolve_options({}, IMAGE))
    rng = np.random.default_rng(0)
    chosen = [counter.space.smallest(), counter.space.largest()] + [counter.space.sample(rng) for _ in range(8)]
    counted = np.asarray(jax.jit(counter.params)(np.stack([a.to_vector() for a in chosen])))
    for arch, params in zip(chosen, counted):
        assert counter.count(arch)["params"] == count_params(split(slice_subnet(supernet, arch))[1]) == params


def test_block_macs_by_hand(counter):
    arch = counter.space.smallest()  # embed 32, depth 2, 2 heads of 16, MLP ratio 2
    t, e, inner, hidden = 50, 32, 32, 64
    block = 3 * t * e * inner + 2 * t * t * inner + t * inner * e + 2 * t * e * hidden
    layers = counter.count(arch)["layers"]
    assert sum(macs for name, (macs, _) in layers.items() if name.startswith("blocks.blocks.0.")) == block
    assert counter.count(arch)["macs"] == 49 * 16 * e + 2 * block + e * 10


def _hand_count(arch, tokens=50, patch_dim=16, head_dim=16, classes=10):
    """(MACs, params) of a ViT subnet written out by hand: patch embedding, class token, positions, blocks, head."""
    e = arch["embed_dim"]
    macs = (tokens - 1) * patch_dim * e
    params = patch_dim * e + e + e + tokens * e
    for i in range(arch["depth"]):
        inner, hidden = arch[f"l{i}.heads"] * head_dim, arch[f"l{i}.mlp_ratio"] * e
        macs += tokens * (3 * e * inner + inner * e + 2 * e * hidden) + 2 * tokens * tokens * inner
        params += 4 * e + 3 * (e * inner + inner) + inner * e + e + e * hidden + hidden + hidden * e + e
    return macs + e * classes, params + 2 * e + e * classes + classes


def test_macs_and_params_of_every_arch_equal_a_hand_count(counter):
    rng = np.random.default_rng(1)
    chosen = [counter.space.smallest(), counter.space.largest()] + [counter.space.sample(rng) for _ in range(100)]
    vectors = np.stack([a.to_vector() for a in chosen])
    expected = np.array([_hand_count(a) for a in chosen])
    np.testing.assert_array_equal(np.asarray(counter.macs(vectors)), expected[:, 0])
    np.testing.assert_array_equal(np.asarray(counter.params(vectors)), expected[:, 1])
    # The FFN's width is MLP ratio x embed_dim: its cost entries read both decisions.
    ffn_in = next(layer for layer in counter.layers.layers if layer.name == "blocks.blocks.0.ffn_in")
    assert set(ffn_in.decisions) == {"embed_dim", "l0.mlp_ratio"}
