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
                                                 ("mobilenetv3", {"width_mult": 0.25, "depths": (1, 2)})])
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


@pytest.mark.parametrize("space_name, options, inputs", [
    ("transformer_lm", {"embed_dims": [8, 16], "depths": [1, 2], "heads": [1, 2, 4], "ffn_widths": [8, 24],
                        "head_dim": 4, "context": 8}, "tokens"),
    ("transformer_lm", {"embed_dims": [8, 16], "depths": [1, 2], "heads": [1, 2, 4], "ffn_widths": [8, 24],
                        "head_dim": 4, "context": 8, "switchable_scale": True}, "tokens"),
    ("vit", {"embed_dims": [8, 16], "depths": [1, 2], "heads": [1, 2], "mlp_ratios": [1, 2], "head_dim": 4,
             "patch_size": 7}, "images")])
def test_transformers_sort_heads_and_ffn_units_and_keep_the_largest_function(space_name, options, inputs):
    definition = get_definition(space_name)
    shape = (8,) if inputs == "tokens" else (28, 28, 1)
    space, supernet = definition.build(definition.resolve_options(options, shape), seed=3)
    graphdef, params, stats = split(supernet)
    params = moved_off_init(params, np.random.default_rng(4), 0.3)
    rng = np.random.default_rng(5)
    x = (jnp.asarray(rng.integers(0, 256, (4, 8)), jnp.int32) if inputs == "tokens"
         else jnp.asarray(rng.normal(size=(4, 28, 28, 1)), jnp.float32))
    logits = jax.jit(lambda p, v: masked_apply(graphdef, p, stats, space, x, v, train=False)[0])

    sorted_params, _ = sort_channels(graphdef, params, stats)
    largest, smallest = space.largest().to_vector(), space.smallest().to_vector()
    before = logits(params, largest)
    np.testing.assert_allclose(logits(sorted_params, largest), before,
                               atol=1e-4 * max(1.0, float(jnp.max(jnp.abs(before)))))
    assert not np.allclose(logits(params, smallest), logits(sorted_params, smallest))
    for layer in range(2):
        block, old = sorted_params["blocks"]["blocks"][layer], params["blocks"]["blocks"][layer]
        # Heads (4 columns each) and FFN units in order of importance, each moved whole: the sorted
        # importances are the old ones permuted, and a head's query columns moved with its output rows.
        heads = np.abs(np.asarray(block["attention"]["out"]["kernel"][...])).reshape(-1, 4, 16).sum(axis=(1, 2))
        old_heads = np.abs(np.asarray(old["attention"]["out"]["kernel"][...])).reshape(-1, 4, 16).sum(axis=(1, 2))
        assert np.all(np.diff(heads) <= 1e-6) and np.allclose(np.sort(heads), np.sort(old_heads))
        first = int(np.argmax(old_heads))
        np.testing.assert_array_equal(block["attention"]["query"]["kernel"][...][:, :4],
                                      old["attention"]["query"]["kernel"][...][:, 4 * first:4 * first + 4])
        units = l1_importance(block["ffn_out"]["kernel"][...], axis=0)
        assert np.all(np.diff(units) <= 1e-6)
