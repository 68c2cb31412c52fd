"""The NAS-Bench-Macro chain: 6561 single-path archs; masked, static, switched and sliced lowerings agree."""

import jax
import jax.numpy as jnp
import pytest

from nas.definition import get_definition
from nas.lowering import count_params, masked_apply, slice_subnet, split, static_apply
from nas.train.fair_sampling import FairSampling

from tests.search_spaces import checks

SMALL = {"init_channels": 8, "head_channels": 32}


def build(options=None, image_shape=(32, 32, 3)):
    definition = get_definition("macro_chain")
    return definition.build(definition.resolve_options(options or {}, image_shape))


def test_space_has_6561_single_path_archs_from_all_identity_to_all_mb6_k5():
    space, _ = build(SMALL)
    assert space.size() == 3 ** 8 == 6561
    assert len(list(space.enumerate())) == 6561
    assert set(space.smallest().values()) == {"identity"} and set(space.largest().values()) == {"mb6_k5"}
    # Single-path: FairNAS strict fairness trains each of the 3 choices of every layer once per step.
    archs = FairSampling().archs(space, seed=0, step=0)
    assert archs.shape == (3, 8) and all(sorted(column) == [0, 1, 2] for column in archs.T)


def test_benchmark_network_shapes_and_parameter_counts():
    space, supernet = build()  # CIFAR-10 input, the benchmark's widths
    widths = [(layer.in_channels, layer.out_channels, layer.stride) for layer in supernet.layers]
    assert widths == [(32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1),
                      (128, 256, 2), (256, 256, 1), (256, 256, 1)]
    # All-identity: stem 3*3*3*32 + BN 2*32, three 1x1 downsamples + BN, head 256*1280 + BN, classifier.
    downsamples = sum(i * o + 2 * o for i, o in ((32, 64), (64, 128), (128, 256)))
    expected_smallest = 864 + 64 + downsamples + 256 * 1280 + 2 * 1280 + 1280 * 10 + 10
    assert count_params(split(slice_subnet(supernet, space.smallest()))[1]) == expected_smallest
    # An mb6_k5 block: 1x1 in->6in, BN, 5x5 depthwise, BN, 1x1 6in->out, BN.
    def block(i, o, e, k):
        return i * e * i + 2 * e * i + k * k * e * i + 2 * e * i + e * i * o + 2 * o
    expected_largest = 864 + 64 + sum(block(i, o, 6, 5) for i, o, _ in widths) + 256 * 1280 + 2 * 1280 + 12810
    assert count_params(split(slice_subnet(supernet, space.largest()))[1]) == expected_largest
    mixed = space.validate({f"layer{i}": "mb3_k3" for i in range(8)})
    expected_mixed = 864 + 64 + sum(block(i, o, 3, 3) for i, o, _ in widths) + 256 * 1280 + 2 * 1280 + 12810
    assert count_params(split(slice_subnet(supernet, mixed))[1]) == expected_mixed


def test_lowerings_agree_on_smallest_largest_and_a_mixed_arch():
    space, graphdef, params, stats = checks.perturbed_supernet("macro_chain", SMALL)
    mixed = space.validate({f"layer{i}": ("identity", "mb3_k3", "mb6_k5")[(i + 1) % 3] for i in range(8)})
    checks.check_agreement(space, graphdef, params, stats, [space.smallest(), space.largest(), mixed],
                           checks.batch_of(8))


@pytest.mark.slow
def test_lowerings_agree_on_50_random_archs_plus_smallest_and_largest():
    space, graphdef, params, stats = checks.perturbed_supernet("macro_chain", SMALL)
    worst = checks.check_agreement(space, graphdef, params, stats, checks.archs_to_check(space, 50, seed=5),
                                   checks.batch_of(8))
    print(f"macro_chain: worst |masked or static - sliced| / max(1, |logits|) over 52 archs: {worst:.3g}")


@pytest.mark.slow
def test_switched_execution_equals_static_slicing_in_logits_statistics_and_gradients():
    space, graphdef, params, stats = checks.perturbed_supernet("macro_chain", SMALL)
    checks.check_switched_matches_static(space, graphdef, params, stats, checks.archs_to_check(space, 2, seed=3),
                                         checks.batch_of(8))


@pytest.mark.slow
def test_masked_gradients_equal_static_gradients_on_the_largest_arch_in_float64():
    # In float32 the two differ by up to ~2e-3 of the gradient scale here (stem, layers 0 and 5):
    # batch-8 BatchNorm on 1x1 and 2x2 feature maps amplifies rounding-order differences. In
    # float64 they agree to ~5e-15, so the lowerings compute the same function and gradient.
    space, graphdef, params, stats = checks.perturbed_supernet("macro_chain", SMALL)
    with jax.enable_x64(True):
        cast = lambda tree: jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)
        params, stats, batch, arch = cast(params), cast(stats), jnp.asarray(checks.batch_of(8), jnp.float64), space.largest()
        grads_m, _ = checks.gradients(lambda p: masked_apply(
            graphdef, p, stats, space, batch, arch.to_vector(), train=True), params)
        grads_t, _ = checks.gradients(lambda p: static_apply(
            graphdef, p, stats, batch, arch, train=True), params)
        assert all(g.dtype == jnp.float64 for g in jax.tree.leaves(grads_m))
        grad_scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grads_t))
        for got, want in zip(jax.tree.leaves(grads_m), jax.tree.leaves(grads_t)):
            assert float(jnp.max(jnp.abs(got - want))) <= 1e-10 * grad_scale


@pytest.mark.slow
def test_cli_trains_and_the_export_reloads_and_matches(tmp_path):
    arch = {f"layer{i}": op for i, op in enumerate(["mb3_k3", "identity", "mb6_k5", "identity",
                                                    "mb3_k3", "mb6_k5", "identity", "mb3_k3"])}
    assert checks.train_export_reload("macro_chain", SMALL, arch, tmp_path) <= 1e-4
