"""Importance re-sorting keeps the largest subnet's function and puts important channels first."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas.definition import get_definition
from nas.lowering import masked_apply, sort_channels, split
from supernets.resort import l1_importance

from tests.search_spaces.checks import moved_off_init


@pytest.mark.parametrize("space_name, options", [("mlp", {"max_width": 32, "width_steps": 4}),
                                                 ("mobilenetv3", {"width_mult": 0.25})])
def test_largest_subnet_function_is_unchanged_and_smaller_widths_change(space_name, options):
    definition = get_definition(space_name)
    space, supernet = definition.build(definition.resolve_options(options, (28, 28, 1)), seed=2)
    graphdef, params, stats = split(supernet)
    # numpy draws: eager jax.random compiles one program per leaf shape.
    params = moved_off_init(params, np.random.default_rng(0), 0.1)
    stats = moved_off_init(stats, np.random.default_rng(1), 0.2, positive=True)
    images = jnp.asarray(np.random.default_rng(0).normal(size=(8, 28, 28, 1)), jnp.float32)
    logits = jax.jit(lambda p, s, v: masked_apply(graphdef, p, s, space, images, v, train=False)[0])

    sorted_params, sorted_stats = sort_channels(graphdef, params, stats)
    largest, smallest = space.largest().to_vector(), space.smallest().to_vector()
    before, after = logits(params, stats, largest), logits(sorted_params, sorted_stats, largest)
    np.testing.assert_allclose(after, before, atol=1e-4 * max(1.0, float(jnp.max(jnp.abs(before)))))
    assert not np.allclose(logits(params, stats, smallest), logits(sorted_params, sorted_stats, smallest))


def test_mobilenetv3_blocks_keep_the_most_important_inner_channels_first():
    definition = get_definition("mobilenetv3")
    _, supernet = definition.build(definition.resolve_options({"width_mult": 0.25}, (28, 28, 1)), seed=2)
    graphdef, params, stats = split(supernet)
    params = moved_off_init(params, np.random.default_rng(2), 0.1)
    sorted_params, _ = sort_channels(graphdef, params, stats)
    kernel = np.asarray(sorted_params["stages"][2]["blocks"][1]["project_conv"]["kernel"][...])
    importance = l1_importance(kernel, axis=2)
    assert np.all(np.diff(importance) <= 1e-6)
