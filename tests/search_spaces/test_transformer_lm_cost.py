"""Hardware cost of the LM space: counted params equal the sliced models' (tied embedding counted once)."""
import jax
import numpy as np

from nas.definition import get_definition
from nas.hardware.cost_model import resolve_cost_model
from nas.hardware.counters import CostCounter
from nas.lowering import count_params, slice_subnet, split


def test_counted_params_equal_the_sliced_models_and_block_macs_by_hand():
    definition = get_definition("transformer_lm")
    options = definition.resolve_options({})
    space, supernet = definition.build(options)
    counter = CostCounter(space, resolve_cost_model(definition, options, ()))
    rng = np.random.default_rng(0)
    chosen = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(8)]
    counted = np.asarray(jax.jit(counter.params)(np.stack([a.to_vector() for a in chosen])))
    for arch, params in zip(chosen, counted):
        assert counter.count(arch)["params"] == count_params(split(slice_subnet(supernet, arch))[1]) == params
    t, e, inner, hidden = 64, 64, 64, 128  # smallest: embed 64, 2 heads of 32, FFN 128
    block = 3 * t * e * inner + 2 * t * t * inner + t * inner * e + 2 * t * e * hidden
    assert counter.count(space.smallest())["macs"] == 2 * block + t * e * 256
