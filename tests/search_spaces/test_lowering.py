"""The heart of the suite: masked, static and sliced lowerings compute the same function.

For every arch: the masked lowering (arch as a traced vector, one compile),
the static lowering (arch fixed, sliced inside jit) and the sliced standalone
model agree on logits in eval and train mode, and on the updated BN statistics.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nas.definition import get_definition
from nas.lowering import (masked_apply, param_usage, slice_subnet, split, standalone_apply, static_apply,
                          switched_apply)

# float32: 1e-5 absolute for logits of magnitude <= 1, relative beyond (train-mode BN on perturbed
# weights gives logits of magnitude ~10, where reduction-order rounding alone reaches ~1e-5).
TOLERANCE = 1e-5
IMAGE_SHAPE = (28, 28, 1)


def perturbed_supernet(space_name, options, seed=0):
    """A supernet whose weights and BN statistics are off their init, so agreement means something."""
    definition = get_definition(space_name)
    space, supernet = definition.build(definition.resolve_options(options, IMAGE_SHAPE), seed=seed)
    graphdef, params, stats = split(supernet)
    keys = iter(jax.random.split(jax.random.key(seed), 4096))
    params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(next(keys), p.shape), params)
    stats = jax.tree.map(lambda s: s + 0.2 * jnp.abs(jax.random.normal(next(keys), s.shape)), stats)
    return space, graphdef, params, stats


def archs_to_check(space, count, seed=1):
    rng = np.random.default_rng(seed)
    return [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(count)]


def check_agreement(space, graphdef, params, stats, archs, batch):
    masked = jax.jit(lambda v: tuple(masked_apply(graphdef, params, stats, space, batch, v, train=t)
                                     for t in (False, True)))
    worst = 0.0
    for arch in archs:
        (masked_eval, _), (masked_train, masked_stats) = masked(arch.to_vector())
        static = jax.jit(lambda: tuple(static_apply(graphdef, params, stats, batch, arch, train=t)[0]
                                       for t in (False, True)))()
        subnet = slice_subnet(nnx.merge(graphdef, params, stats), arch)
        sub_graphdef, sub_params, sub_stats = split(subnet)
        (sliced_eval, _), (sliced_train, sliced_stats) = jax.jit(
            lambda: tuple(standalone_apply(sub_graphdef, sub_params, sub_stats, batch, train=t) for t in (False, True)))()
        # The masked lowering's updated statistics, sliced, must equal the standalone model's.
        stats_from_masked = split(slice_subnet(nnx.merge(graphdef, params, masked_stats), arch))[2]
        for got, want, what in ((masked_eval, sliced_eval, "eval logits"), (masked_train, sliced_train, "train logits"),
                                (static[0], sliced_eval, "static eval logits"),
                                (static[1], sliced_train, "static train logits")):
            difference = float(jnp.max(jnp.abs(got - want)))
            scale = max(1.0, float(jnp.max(jnp.abs(want))))
            assert difference <= TOLERANCE * scale, f"{arch}: {what} differ by {difference:.3g} (scale {scale:.3g})"
            worst = max(worst, difference / scale)
        for got, want in zip(jax.tree.leaves(stats_from_masked), jax.tree.leaves(sliced_stats)):
            assert float(jnp.max(jnp.abs(got - want))) <= TOLERANCE, f"{arch}: BN statistics differ"
    return worst


def batch_of(count, seed=2):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(count, *IMAGE_SHAPE)), jnp.float32)


def test_mlp_lowerings_agree_on_50_random_archs_plus_smallest_and_largest():
    space, graphdef, params, stats = perturbed_supernet("mlp", {"max_width": 64, "width_steps": 4})
    check_agreement(space, graphdef, params, stats, archs_to_check(space, 50), batch_of(16))


# With kernel transforms the 50-arch test below (make test-slow) covers the same path, so that case is slow too.
@pytest.mark.parametrize("kernel_transform", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_mobilenetv3_lowerings_agree_on_smallest_largest_and_random_archs(kernel_transform):
    space, graphdef, params, stats = perturbed_supernet(
        "mobilenetv3", {"width_mult": 0.25, "kernel_transform": kernel_transform})
    check_agreement(space, graphdef, params, stats, archs_to_check(space, 3), batch_of(16))


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
        def loss(params, vector):
            logits, new_stats = apply(graphdef, params, stats, space, batch, vector, train=True)
            return jnp.sum(jnp.square(logits)), (logits, new_stats)
        return jax.jit(jax.grad(loss, has_aux=True))

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
