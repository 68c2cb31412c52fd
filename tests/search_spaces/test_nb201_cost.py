"""Hardware cost of the NAS-Bench-201 space: counted params equal the sliced models' (the benchmark's at C=16,
N=5) and MACs grow with the convolutions of the cell."""
import jax
import numpy as np
import pytest

from nas.definition import get_definition
from nas.hardware.counters import load_counter
from nas.lowering import count_params, slice_subnet, split
from search_spaces.nb201 import EDGES, edge_name

IMAGE = (32, 32, 3)


@pytest.fixture(scope="module")
def counter():
    return load_counter("nb201", {}, IMAGE)


def test_counted_params_equal_the_sliced_models(counter):
    definition = get_definition("nb201")
    _, supernet = definition.build(definition.resolve_options({}, IMAGE))
    rng = np.random.default_rng(0)
    chosen = [counter.space.smallest(), counter.space.largest()] + [counter.space.sample(rng) for _ in range(6)]
    counted = np.asarray(jax.jit(counter.params)(np.stack([a.to_vector() for a in chosen])))
    for arch, params in zip(chosen, counted):
        assert counter.count(arch)["params"] == count_params(split(slice_subnet(supernet, arch))[1]) == params
    assert counter.count(counter.space.largest())["params"] == 1_531_546


def test_macs_of_one_edge_op_change(counter):
    space = counter.space
    base = {edge_name(j, i): "skip_connect" for j, i in EDGES}
    macs = {op: counter.count(space.validate({**base, edge_name(3, 2): op}))["macs"]
            for op in ("skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")}
    assert macs["skip_connect"] == macs["none"] == macs["avg_pool_3x3"]
    # One 1x1 edge per cell: 5 cells at 32x32x16, 16x16x32 and 8x8x64.
    per_stage_1x1 = [32 * 32 * 16 * 16, 16 * 16 * 32 * 32, 8 * 8 * 64 * 64]
    assert macs["nor_conv_1x1"] - macs["none"] == 5 * sum(per_stage_1x1)
    assert macs["nor_conv_3x3"] - macs["none"] == 5 * sum((3 * s - 2) ** 2 * c * c for s, c in
                                                          ((32, 16), (16, 32), (8, 64)))
