"""The relaxed lowering: at one-hot probabilities, superposition (one op on the combined weights) and the
DARTS mixed op (one op per choice) both equal the masked lowering on that arch; gradients reach alpha."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas.differentiable import arch_params
from nas.differentiable.superposition import mixed_op_apply, superposed_apply
from nas.lowering import masked_apply

from tests.search_spaces import checks

pytestmark = pytest.mark.early  # a minute or more in all: handed to a test worker first (tests/conftest.py)

IMAGE_SHAPE = (28, 28, 1)
# Small instances: every decision kind (depth, nested width, kernel, expand, op type) with few choices.
SPACES = {
    "mlp": {"max_layers": 3, "max_width": 32, "width_steps": 4},
    "mobilenetv3": {"width_mult": 0.25, "kernels": (3, 5), "expands": (3, 6), "depths": (1, 2)},
    "nb201": {"channels": 4, "cells_per_stage": 1},
    "macro_chain": {"stages": (1, 1), "init_channels": 4, "head_channels": 16},
}
LOWERINGS = {"superposition": superposed_apply, "mixed op": mixed_op_apply}


def build(space_name):
    return checks.perturbed_supernet(space_name, SPACES[space_name], input_shape=IMAGE_SHAPE)


def images(count, seed=2):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(count, *IMAGE_SHAPE)), jnp.float32)


def largest_difference(got, want):
    """max |got - want| over logits (relative beyond magnitude 1, as the lowering tests) and BN statistics."""
    (got_logits, got_stats), (want_logits, want_stats) = got, want
    scale = max(1.0, float(jnp.max(jnp.abs(want_logits))))
    differences = [float(jnp.max(jnp.abs(got_logits - want_logits))) / scale]
    differences += [float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(got_stats),
                                                                    jax.tree.leaves(want_stats))]
    return max(differences)


# MobileNetV3's case compiles for ~20 s: run by `make test-slow`, the other spaces by `make test`.
@pytest.mark.parametrize("space_name", [pytest.param(name, marks=pytest.mark.slow) if name == "mobilenetv3" else name
                                        for name in SPACES])
def test_one_hot_relaxed_lowerings_equal_the_masked_lowering(space_name):
    space, graphdef, params, stats = build(space_name)
    batch = images(4)
    masked = jax.jit(lambda p, s, x, v: [masked_apply(graphdef, p, s, space, x, v, train=t) for t in (False, True)])
    relaxed = {name: jax.jit(lambda p, s, x, probs, apply=apply: [
        apply(graphdef, p, s, space, x, probs, train=t) for t in (False, True)]) for name, apply in LOWERINGS.items()}
    rng = np.random.default_rng(1)
    archs = [space.smallest(), space.largest(), space.sample(rng), space.sample(rng)]
    worst = {name: 0.0 for name in LOWERINGS}
    for arch in archs:
        want = masked(params, stats, batch, arch.to_vector())
        for name, apply in relaxed.items():
            got = apply(params, stats, batch, arch_params.one_hot(space, arch))
            for mode, got_mode, want_mode in zip(("eval", "train"), got, want):
                difference = largest_difference(got_mode, want_mode)
                assert difference <= checks.TOLERANCE, f"{name} ({mode}) on {arch}: differs by {difference:.3g}"
                worst[name] = max(worst[name], difference)
    print(f"{space_name}: largest one-hot difference from the masked lowering {worst}")


# Differentiating the MobileNetV3 space compiles for about a minute per form: kept with the slow tests.
GRADIENT_CASES = [(space, lowering) for space in ("mlp", "nb201", "macro_chain") for lowering in LOWERINGS] + [
    pytest.param("mobilenetv3", lowering, marks=pytest.mark.slow) for lowering in LOWERINGS]


@pytest.mark.parametrize("space_name, lowering", GRADIENT_CASES)
def test_gradients_reach_every_decisions_alpha_finite_and_non_zero(space_name, lowering):
    space, graphdef, params, stats = build(space_name)
    batch, labels = images(2), jnp.array([1, 3])
    alpha = arch_params.init(space, jax.random.key(0), scale=0.5)

    def loss(alpha):
        logits, _ = LOWERINGS[lowering](graphdef, params, stats, space, batch, arch_params.probabilities(alpha),
                                        train=True)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))

    gradients = jax.jit(jax.grad(loss))(alpha)
    for decision, gradient in gradients.items():
        assert bool(jnp.all(jnp.isfinite(gradient))), f"{decision} has non-finite gradient {gradient}"
        assert float(jnp.max(jnp.abs(gradient))) > 0, f"{decision} gets no gradient"


def test_gumbel_straight_through_sample_runs_the_sampled_arch_and_passes_gradients():
    space, graphdef, params, stats = build("mlp")
    batch = images(2)
    alpha = arch_params.init(space, jax.random.key(0), scale=1.0)
    key = jax.random.key(7)

    def output(alpha):
        sample = arch_params.gumbel_straight_through(alpha, key, temperature=2.0)
        return superposed_apply(graphdef, params, stats, space, batch, sample, train=False)[0]

    sampled = arch_params.gumbel_straight_through(alpha, key, temperature=2.0)
    arch = arch_params.argmax_arch(space, sampled)
    want, _ = jax.jit(lambda v: masked_apply(graphdef, params, stats, space, batch, v, train=False))(arch.to_vector())
    np.testing.assert_allclose(jax.jit(output)(alpha), want, atol=checks.TOLERANCE)
    gradients = jax.jit(jax.grad(lambda a: jnp.sum(output(a) ** 2)))(alpha)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in gradients.values())
    # Only the sampled path runs (its weight is exactly 1, the others' exactly 0), so the decisions of the
    # sampled arch get gradients; a width the sampled depth skips gets none.
    assert all(float(jnp.max(jnp.abs(gradients[name]))) > 0 for name in arch), (arch, gradients)


def test_superposition_mixes_entangled_choices_into_one_weight():
    """Between one-hot points the two forms differ: superposition is not a renamed mixed op."""
    space, graphdef, params, stats = build("mlp")
    batch = images(2)
    probs = arch_params.probabilities(arch_params.init(space, jax.random.key(3), scale=1.0))
    superposed = jax.jit(lambda: superposed_apply(graphdef, params, stats, space, batch, probs, train=False)[0])()
    mixed = jax.jit(lambda: mixed_op_apply(graphdef, params, stats, space, batch, probs, train=False)[0])()
    assert float(jnp.max(jnp.abs(superposed - mixed))) > 1e-4
