"""The jitted training step: one compile for every set of archs.

`step(state, images, labels, archs)` with `archs: int32[n_archs, n_decisions]`
runs each sampled arch's masked lowering in a `lax.scan` (a small graph: one
loop body, not n unrolled copies). Archs fixed for the whole run (the sandwich
rule's largest and smallest) are given once as `static_first`/`static_last`
and run sliced inside the same jit, each at its own cost: under masking the
smallest subnet costs as much as the largest. Gradients of all archs are
summed before one optimizer update. Batch statistics are threaded through, so
each arch's BN update sees the previous one's, as in sequential PyTorch training.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from nas.lowering import masked_apply, static_apply
from nas.data import check_batch
from nas.space import Arch, Space, SpaceError
from nas.train.losses import accuracy, cross_entropy
from nas.traced_cache import DiskCachedJit


METRICS = ("loss", "losses", "accuracies", "grad_norm")


class TrainState(NamedTuple):
    params: Any
    stats: Any
    opt_state: Any
    step: jax.Array


def init_train_state(params, stats, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(params, stats, optimizer.init(params), jnp.zeros((), jnp.int32))


def make_train_step(graphdef, space: Space, optimizer: optax.GradientTransformation, *,
                    static_first: Arch | None = None, static_last: Arch | None = None,
                    label_smoothing: float = 0.0, donate: bool = True,
                    image_shape: tuple[int, int, int] | None = None, disk_cache_key: Any = None):
    """The jitted step; with `image_shape`, each batch is checked first (a clear error, not a JAX one).

    With `disk_cache_key` (everything the step's closure bakes in, e.g. the run's
    config), the traced program is kept on disk so a restart skips tracing.
    """
    def loss_of(logits_and_stats, labels):
        logits, stats = logits_and_stats
        return cross_entropy(logits, labels, label_smoothing), (stats, accuracy(logits, labels))

    def masked_loss(params, stats, images, labels, arch_vector):
        return loss_of(masked_apply(graphdef, params, stats, space, images, arch_vector, train=True), labels)

    def static_loss(arch):
        def loss(params, stats, images, labels):
            return loss_of(static_apply(graphdef, params, stats, images, arch, train=True), labels)
        return jax.value_and_grad(loss, has_aux=True)

    masked_grad = jax.value_and_grad(masked_loss, has_aux=True)
    first_grad = static_loss(static_first) if static_first is not None else None
    last_grad = static_loss(static_last) if static_last is not None else None

    def step(state: TrainState, images, labels, archs):
        def body(carry, arch):
            stats, grads = carry
            (loss, (stats, acc)), arch_grads = masked_grad(state.params, stats, images, labels, arch)
            return (stats, jax.tree.map(jnp.add, grads, arch_grads)), (loss, acc)

        stats, grads = state.stats, jax.tree.map(jnp.zeros_like, state.params)
        losses, accs = [], []
        if first_grad is not None:
            (loss, (stats, acc)), grads = first_grad(state.params, stats, images, labels)
            losses.append(loss[None])
            accs.append(acc[None])
        if archs.shape[0]:
            (stats, grads), (scan_losses, scan_accs) = lax.scan(body, (stats, grads), archs)
            losses.append(scan_losses)
            accs.append(scan_accs)
        if last_grad is not None:
            (loss, (stats, acc)), last = last_grad(state.params, stats, images, labels)
            grads = jax.tree.map(jnp.add, grads, last)
            losses.append(loss[None])
            accs.append(acc[None])
        losses, accs = jnp.concatenate(losses), jnp.concatenate(accs)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = dict(zip(METRICS, (jnp.mean(losses), losses, accs, optax.tree.norm(grads))))
        return TrainState(params, stats, opt_state, state.step + 1), metrics

    donate_argnums = (0,) if donate else ()
    if disk_cache_key is None:
        jitted = jax.jit(step, donate_argnums=donate_argnums)
    else:
        jitted = DiskCachedJit(step, name="train_step", key=disk_cache_key, donate_argnums=donate_argnums,
                               out_structure=lambda state, *_: jax.tree.structure((state, dict.fromkeys(METRICS, 0))))
    if image_shape is None:
        return jitted

    def checked_step(state, images, labels, archs):
        check_batch(images, labels, image_shape)
        check_archs(space, archs)
        return jitted(state, images, labels, archs)
    return checked_step


def check_archs(space: Space, archs) -> None:
    """`archs` must be int32 [n, num_decisions] with every index inside its decision's choices."""
    shape = getattr(archs, "shape", None)
    if shape is None or len(shape) != 2 or shape[1] != space.num_decisions:
        raise SpaceError(f"space {space.name!r}: archs must have shape (n, {space.num_decisions}), got {shape}")
    for row in np.asarray(archs):
        space.from_vector(row)  # names the decision whose index is out of range
