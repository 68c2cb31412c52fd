"""Hardware cost of the ViT space: counted params equal the sliced models', MACs of one block by hand."""
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
    assert counter.count(arch)["layers"]["l0"][0] == block
    assert counter.count(arch)["macs"] == 49 * 16 * e + 2 * block + e * 10
