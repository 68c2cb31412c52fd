"""The bilevel search step: alpha gets finite, non-zero gradients; GDAS runs one-hot samples; a latency
penalty lowers expected latency; one compile serves the run."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nas.compile_counter import count_compiles
from nas.differentiable import arch_params
from nas.differentiable.latency_penalty import LatencyPenalty
from nas.hardware.counters import load_counter
from nas.hardware.flops_proxy import FlopsProxy
from nas.lowering import masked_apply
from nas.train.losses import cross_entropy
from searchers.differentiable import (arch_weights, gdas_temperature, init_search_state, make_search_step,
                                      step_keys)

from tests.search_spaces import checks

# Tiny, so that each compile of a step (about 2 s) stays short; steps are compiled once and shared.
MLP = {"max_layers": 2, "max_width": 16, "width_steps": 2}
IMAGE_SHAPE = (4, 4, 1)
_BUILT, _STEPS = {}, {}


def build():
    if "mlp" not in _BUILT:
        _BUILT["mlp"] = checks.perturbed_supernet("mlp", MLP, input_shape=IMAGE_SHAPE)
    return _BUILT["mlp"]


def search_step(method, penalty=None, alpha_lr=0.05):
    key = (method, penalty is not None, alpha_lr)
    if key not in _STEPS:
        space, graphdef, _, _ = build()
        weights, alpha_optimizer = optax.sgd(0.01), arch_params.make_optimizer(alpha_lr)
        _STEPS[key] = (make_search_step(graphdef, space, method, weights, alpha_optimizer, penalty=penalty),
                       weights, alpha_optimizer)
    return _STEPS[key]


def batches(seed=0, count=8):
    rng = np.random.default_rng(seed)
    images = jnp.asarray(rng.normal(size=(count, *IMAGE_SHAPE)), jnp.float32)
    return images, jnp.asarray(rng.integers(0, 10, count), jnp.int32)


def run_steps(method, steps, penalty=None, alpha_lr=0.05):
    space, graphdef, params, stats = build()
    step, weights, alpha_optimizer = search_step(method, penalty, alpha_lr)
    state = init_search_state(params, stats, arch_params.init(space, jax.random.key(0), 0.5), weights, alpha_optimizer)
    history = []
    for index in range(steps):
        state, metrics = step(state, *batches(2 * index), *batches(2 * index + 1), jax.random.key(index),
                              np.float32(gdas_temperature(index, steps)))
        history.append(metrics)
    return space, state, history


@pytest.mark.parametrize("method", [pytest.param("darts", marks=pytest.mark.slow), "tangle"])
def test_one_step_gives_every_decision_a_finite_non_zero_alpha_gradient(method):
    _, state, [metrics] = run_steps(method, 1)
    for name, gradient in metrics["alpha_grads"].items():
        assert bool(jnp.all(jnp.isfinite(gradient))), f"{name}: {gradient}"
        assert float(jnp.max(jnp.abs(gradient))) > 0, f"{name} gets no gradient"
    assert int(state.weights.step) == 1


def test_gdas_weight_step_runs_the_one_hot_sampled_arch():
    """The weight step's loss is the masked lowering's loss on the arch GDAS sampled with the step's key."""
    space, graphdef, params, stats = build()
    alpha = arch_params.init(space, jax.random.key(0), 0.5)
    key, temperature = jax.random.key(5), np.float32(3.0)
    sample = arch_weights("gdas", alpha, step_keys(key)[0], temperature)
    for values in sample.values():
        assert sorted(np.asarray(values).tolist()) == [0.0] * (len(values) - 1) + [1.0]
    arch = arch_params.argmax_arch(space, sample)
    images, labels = batches(0)
    logits, _ = jax.jit(lambda v: masked_apply(graphdef, params, stats, space, images, v, train=True))(arch.to_vector())
    step, weights, alpha_optimizer = search_step("gdas")
    state = init_search_state(params, stats, alpha, weights, alpha_optimizer)
    _, metrics = step(state, images, labels, *batches(1), key, temperature)
    np.testing.assert_allclose(float(metrics["train_loss"]), float(cross_entropy(logits, labels)), rtol=1e-5)


def test_gdas_temperature_falls_linearly_from_start_to_end():
    assert gdas_temperature(0, 11) == 10.0 and gdas_temperature(10, 11) == pytest.approx(0.1)
    assert gdas_temperature(5, 11) == pytest.approx(5.05)


def test_latency_penalty_lowers_expected_latency_against_no_penalty():
    space = build()[0]
    counter = load_counter("mlp", MLP, IMAGE_SHAPE)
    proxy = FlopsProxy(counter, ms_per_mmac=1e5)  # synthetic: latency proportional to MACs, tens of ms
    penalty = LatencyPenalty(proxy, space, weight=1.0)
    expected = lambda state: float(penalty.expected_ms(arch_params.probabilities(state.alpha)))
    _, plain, _ = run_steps("tangle", 4)
    _, penalised, history = run_steps("tangle", 4, penalty=penalty)
    assert expected(penalised) < expected(plain)
    assert float(history[-1]["expected_cost"]) < float(history[0]["expected_cost"])
    assert float(history[0]["penalty"]) == pytest.approx(float(history[0]["expected_cost"]))
    # Under a budget above every arch's latency the hinge is zero, and so is its pull on alpha.
    budgeted = LatencyPenalty(proxy, space, weight=1.0, budget_ms=1e6)
    assert float(budgeted(arch_params.probabilities(plain.alpha))[0]) == 0.0


def test_the_step_compiles_once_for_the_whole_run():
    run_steps("gdas", 1)  # compiled here, or by an earlier test
    with count_compiles() as compiles:
        run_steps("gdas", 4)  # other keys, temperatures, batches, step numbers
    assert compiles.count == 0
