"""The jitted training step: one compile for every set of archs.

`step(state, images, labels, archs)` with `archs: int32[n_archs, n_decisions]`
runs each arch's masked lowering in a `lax.scan` (a small graph: one loop body,
not n unrolled copies), sums the gradients, and applies one optimizer update.
Batch statistics are threaded through the scan, so each arch's BN update sees
the previous one's, as in sequential PyTorch training.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from nas.lowering import masked_apply
from nas.space import Space
from nas.train.losses import accuracy, cross_entropy


class TrainState(NamedTuple):
    params: Any
    stats: Any
    opt_state: Any
    step: jax.Array


def init_train_state(params, stats, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(params, stats, optimizer.init(params), jnp.zeros((), jnp.int32))


def make_train_step(graphdef, space: Space, optimizer: optax.GradientTransformation, *,
                    label_smoothing: float = 0.0, donate: bool = True):
    def arch_loss(params, stats, images, labels, arch):
        logits, stats = masked_apply(graphdef, params, stats, space, images, arch, train=True)
        loss = cross_entropy(logits, labels, label_smoothing)
        return loss, (stats, accuracy(logits, labels))

    grad_fn = jax.value_and_grad(arch_loss, has_aux=True)

    def step(state: TrainState, images, labels, archs):
        def body(carry, arch):
            stats, grads = carry
            (loss, (stats, acc)), arch_grads = grad_fn(state.params, stats, images, labels, arch)
            return (stats, jax.tree.map(jnp.add, grads, arch_grads)), (loss, acc)

        zeros = jax.tree.map(jnp.zeros_like, state.params)
        (stats, grads), (losses, accs) = lax.scan(body, (state.stats, zeros), archs)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": jnp.mean(losses), "losses": losses, "accuracies": accs,
                   "grad_norm": optax.global_norm(grads)}
        return TrainState(params, stats, opt_state, state.step + 1), metrics

    return jax.jit(step, donate_argnums=(0,) if donate else ())
