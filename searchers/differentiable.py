"""Differentiable search: one jitted bilevel step for DARTS, GDAS and TangleNAS (first order).

A step is a weight step on a training batch, the architecture weights held
fixed, then an alpha step on a validation batch at the updated weights
(first-order DARTS: the weights' dependence on alpha is ignored). Weights and
alpha have separate optax optimisers; alpha's is `arch_params.make_optimizer`.

Methods differ only in how alpha becomes the probabilities the supernet reads:

* `tangle` (TangleNAS): softmax(alpha), entangled choices superposed into one
  weight tensor (`superposed_apply`);
* `darts`: softmax(alpha), every decision a mixed op of one forward per choice
  (`mixed_op_apply`), the baseline TangleNAS is compared with;
* `gdas`: a Gumbel-softmax straight-through sample, exactly one-hot forward, at
  a temperature the caller anneals (`gdas_temperature`), superposed forward.

An optional penalty (a function of softmax(alpha), e.g. expected latency, see
`nas.differentiable.latency_penalty`) is added to the alpha step's loss.
Everything here is pure; `make_search_step` jits the step once per run.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from nas.differentiable import arch_params
from nas.differentiable.superposition import mixed_op_apply, superposed_apply
from nas.errors import ConfigError
from nas.space import Space
from nas.train.losses import accuracy, cross_entropy
from nas.train.step import TrainState
from nas.train.tree_reductions import all_finite

# Which relaxed forward each method runs.
RELAXED_FORWARD = {"tangle": superposed_apply, "darts": mixed_op_apply, "gdas": superposed_apply}
METHODS = tuple(RELAXED_FORWARD)


class SearchState(NamedTuple):
    weights: TrainState      # supernet params, BN statistics, the weights' optimiser state, step
    alpha: dict              # {decision: float32 [n_choices]} logits
    alpha_opt_state: Any     # the architecture optimiser's state


def check_method(method: str) -> str:
    if method not in RELAXED_FORWARD:
        raise ConfigError(f"unknown differentiable search method {method!r}; allowed: {', '.join(METHODS)}")
    return method


def init_search_state(params, stats, alpha, weight_optimizer, alpha_optimizer) -> SearchState:
    return SearchState(TrainState(params, stats, weight_optimizer.init(params), jnp.zeros((), jnp.int32)),
                       alpha, alpha_optimizer.init(alpha))


def gdas_temperature(step: int, steps: int, start: float = 10.0, end: float = 0.1) -> float:
    """GDAS's schedule: linear from `start` at step 0 to `end` at the last step."""
    fraction = step / max(steps - 1, 1)
    return float(start + (end - start) * min(max(fraction, 0.0), 1.0))


def step_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(weight step's key, alpha step's key): GDAS draws an independent sample for each."""
    weight_key, alpha_key = jax.random.split(key)
    return weight_key, alpha_key


def arch_weights(method: str, alpha: dict, key: jax.Array, temperature) -> dict:
    """What the supernet reads per decision: softmax(alpha), or GDAS's one-hot straight-through sample."""
    if method == "gdas":
        return arch_params.gumbel_straight_through(alpha, key, temperature)
    return arch_params.probabilities(alpha)


def make_search_step(graphdef, space: Space, method: str, weight_optimizer: optax.GradientTransformation,
                     alpha_optimizer: optax.GradientTransformation, *,
                     penalty: Callable[[dict], tuple[jax.Array, jax.Array]] | None = None,
                     label_smoothing: float = 0.0):
    """`step(state, train_images, train_labels, val_images, val_labels, key, temperature) -> (state, metrics)`.

    `penalty(probs) -> (penalty, expected cost)` is evaluated at softmax(alpha) for
    every method (GDAS too: the expectation is smooth where a sample is not).
    `temperature` (float32 scalar) is GDAS's; the others ignore it. One compile
    serves the whole run: step number, key and temperature are traced arguments.
    """
    forward = RELAXED_FORWARD[check_method(method)]

    def task_loss(params, stats, probs, images, labels):
        logits, stats = forward(graphdef, params, stats, space, images, probs, train=True)
        return cross_entropy(logits, labels, label_smoothing), (stats, accuracy(logits, labels))

    def alpha_loss(alpha, params, stats, images, labels, key, temperature):
        loss, (_, acc) = task_loss(params, stats, arch_weights(method, alpha, key, temperature), images, labels)
        if penalty is None:
            return loss, (loss, acc, jnp.zeros(()), jnp.zeros(()))
        cost_penalty, expected_cost = penalty(arch_params.probabilities(alpha))
        return loss + cost_penalty, (loss, acc, cost_penalty, expected_cost)

    def step(state: SearchState, train_images, train_labels, val_images, val_labels, key, temperature):
        weight_key, alpha_key = step_keys(key)
        weights = state.weights
        # Weight step: the architecture is a constant here.
        probs = jax.lax.stop_gradient(arch_weights(method, state.alpha, weight_key, temperature))
        (train_loss, (stats, train_acc)), grads = jax.value_and_grad(task_loss, has_aux=True)(
            weights.params, weights.stats, probs, train_images, train_labels)
        updates, opt_state = weight_optimizer.update(grads, weights.opt_state, weights.params)
        params = optax.apply_updates(weights.params, updates)
        # Alpha step at the new weights (first order). Running statistics follow the training split only.
        (_, (val_loss, val_acc, cost_penalty, expected_cost)), alpha_grads = jax.value_and_grad(
            alpha_loss, has_aux=True)(state.alpha, params, stats, val_images, val_labels, alpha_key, temperature)
        alpha_updates, alpha_opt_state = alpha_optimizer.update(alpha_grads, state.alpha_opt_state, state.alpha)
        alpha = optax.apply_updates(state.alpha, alpha_updates)
        new = SearchState(TrainState(params, stats, opt_state, weights.step + 1), alpha, alpha_opt_state)
        # NaN/inf flags for the loop's divergence guard: [weight step, alpha step], then the updated state.
        finite = jnp.stack([jnp.isfinite(train_loss) & all_finite(grads),
                            jnp.isfinite(val_loss) & jnp.isfinite(cost_penalty) & all_finite(alpha_grads)])
        metrics = {"train_loss": train_loss, "train_accuracy": train_acc, "validation_loss": val_loss,
                   "validation_accuracy": val_acc, "penalty": cost_penalty, "expected_cost": expected_cost,
                   "weight_grad_norm": optax.tree.norm(grads), "alpha_grads": alpha_grads,
                   "finite": finite, "update_finite": all_finite(new)}
        return new, metrics

    return jax.jit(step)
