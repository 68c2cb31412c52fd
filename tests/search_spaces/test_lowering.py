"""The heart of the suite: masked, static and sliced lowerings compute the same function.

For every arch: the masked lowering (arch as a traced vector, one compile),
the static lowering (arch fixed, sliced inside jit) and the sliced standalone
model agree on logits in eval and train mode, and on the updated BN statistics.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas.lowering import masked_apply, param_usage, switched_apply
from tests.search_spaces.checks import (TOLERANCE, archs_to_check, batch_of, check_agreement, jitted_gradients,
                                       perturbed_supernet)

pytestmark = pytest.mark.early  # a minute or more in all: handed to a test worker first (tests/conftest.py)


# Each arch compiles two programs (static and sliced): make test checks 12 random archs, make test-slow 50.
@pytest.mark.parametrize("count", [12, pytest.param(50, marks=pytest.mark.slow)])
def test_mlp_lowerings_agree_on_random_archs_plus_smallest_and_largest(count):
    space, graphdef, params, stats = perturbed_supernet("mlp", {"max_width": 64, "width_steps": 4})
    check_agreement(space, graphdef, params, stats, archs_to_check(space, count), batch_of(16))


# With kernel transforms the 50-arch test below (make test-slow) covers the same path, so that case is slow too.
@pytest.mark.parametrize("kernel_transform", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_mobilenetv3_lowerings_agree_on_smallest_largest_and_random_archs(kernel_transform):
    space, graphdef, params, stats = perturbed_supernet(
        "mobilenetv3", {"width_mult": 0.25, "kernel_transform": kernel_transform, "depths": (1, 2)})
    check_agreement(space, graphdef, params, stats, archs_to_check(space, 1), batch_of(16))


@pytest.mark.slow
def test_mobilenetv3_lowerings_agree_on_50_random_archs():
    space, graphdef, params, stats = perturbed_supernet("mobilenetv3", {"width_mult": 0.5, "kernel_transform": True})
    worst = check_agreement(space, graphdef, params, stats, archs_to_check(space, 50, seed=7), batch_of(16))
    print(f"worst max-abs difference / max(1, |logits|) over 52 archs, train and eval: {worst:.3g}")


@pytest.mark.slow  # ~1 min of compiles on 2 cores; make test keeps the switched execution's macro-chain test
def test_mobilenetv3_switched_execution_matches_masked_in_logits_statistics_and_gradients():
    space, graphdef, params, stats = perturbed_supernet("mobilenetv3", {"width_mult": 0.25})
    batch = batch_of(8)

    def run(apply):
        return jitted_gradients(lambda params, vector: apply(graphdef, params, stats, space, batch, vector,
                                                             train=True))

    masked, switched = run(masked_apply), run(switched_apply)
    for arch in archs_to_check(space, 1, seed=3):
        usage = param_usage(graphdef, params, stats, arch)
        (grads_m, (logits_m, stats_m)), (grads_s, (logits_s, stats_s)) = (
            masked(params, arch.to_vector()), switched(params, arch.to_vector()))
        scale = max(1.0, float(jnp.max(jnp.abs(logits_m))))
        assert float(jnp.max(jnp.abs(logits_m - logits_s))) <= TOLERANCE * scale, f"{arch}: logits differ"
        for got, want in zip(jax.tree.leaves(stats_s), jax.tree.leaves(stats_m)):
            assert float(jnp.max(jnp.abs(got - want))) <= TOLERANCE * 10, f"{arch}: BN statistics differ"
        grad_scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grads_m))
        for got, want, used in zip(jax.tree.leaves(grads_s), jax.tree.leaves(grads_m), usage):
            assert float(jnp.max(jnp.abs(got - want))) <= 1e-4 * grad_scale, f"{arch}: gradients differ"
            # Slices the arch does not use get exactly zero gradient in both executions.
            assert not np.any(np.asarray(got)[~used]) and not np.any(np.asarray(want)[~used]), \
                f"{arch}: unused slices got gradient"
