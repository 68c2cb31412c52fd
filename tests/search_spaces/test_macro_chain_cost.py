"""Hardware cost of the macro chain: counted params equal the sliced models', MACs by hand."""
import jax
import numpy as np
import pytest

from nas.definition import get_definition
from nas.hardware.counters import load_counter
from nas.lowering import count_params, slice_subnet, split

OPTIONS = {"init_channels": 8, "head_channels": 32}
IMAGE = (28, 28, 1)


@pytest.fixture(scope="module")
def counter():
    return load_counter("macro_chain", OPTIONS, IMAGE)


def archs(space, n, seed=0):
    rng = np.random.default_rng(seed)
    return [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(n)]


def test_counted_params_equal_the_sliced_models(counter):
    definition = get_definition("macro_chain")
    _, supernet = definition.build(definition.resolve_options(OPTIONS, IMAGE))
    chosen = archs(counter.space, 8)
    counted = np.asarray(jax.jit(counter.params)(np.stack([a.to_vector() for a in chosen])))
    for arch, params in zip(chosen, counted):
        assert counter.count(arch)["params"] == count_params(split(slice_subnet(supernet, arch))[1]) == params


def test_smallest_macs_by_hand(counter):
    # Stem 3x3 on 28x28 (1 -> 8; border taps read padding), three 1x1 stride-2 downsamples, head, classifier.
    stem = (28 * 3 - 2) ** 2 * 1 * 8
    downsamples = 14 * 14 * 8 * 16 + 7 * 7 * 16 * 32 + 4 * 4 * 32 * 64
    head = 4 * 4 * 64 * 32 + 32 * 10
    assert counter.count(counter.space.smallest())["macs"] == stem + downsamples + head
