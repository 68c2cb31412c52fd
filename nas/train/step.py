"""The jitted training step: one compile for every set of archs.

`step(state, images, labels, archs)` with `archs: int32[n_archs, n_decisions]`
runs each sampled arch's masked lowering in a `lax.scan` (a small graph: one
loop body, not n unrolled copies). Archs fixed for the whole run (the sandwich
rule's largest and smallest) are given once as `static_first`/`static_last`
and run sliced inside the same jit, each at its own cost: under masking the
smallest subnet costs as much as the largest. Gradients of all archs are
summed before one optimizer update. Batch statistics are threaded through, so
each arch's BN update sees the previous one's, as in sequential PyTorch training.

A step whose loss or gradients (of any arch) or whose updated state hold NaN or
inf returns its input state unchanged (a select inside the jit, so no extra
compile and no host sync): `metrics["finite"]` says which arch went bad and
`metrics["update_finite"]` whether the update did; the loop decides whether to
stop or go on (nas.train.divergence).

A supernet may add its own term to each sampled arch's loss (`auxiliary_loss`,
see nas.lowering.auxiliary_loss: a learned assignment's router trains on it);
the step adds it inside the scan, where the supernet defines it, and traces
exactly as before where it does not. The static archs get none: they are two
fixed archs, and the term's extra forward passes would be traced once for each
of them on top of the scan body's. The metrics' losses stay the task losses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from nas.lowering import auxiliary_loss, masked_apply, static_apply, switched_apply
from nas.data import check_batch, renamed_input_shape
from nas.space import Arch, Space, SpaceError
from nas.train.losses import accuracy, adaptive_alpha_divergence, cross_entropy, kl_distillation
from nas.traced_cache import DiskCachedJit
from nas.train.tree_reductions import all_finite, norm


METRICS = ("loss", "losses", "accuracies", "grad_norm", "finite", "update_finite")


class TrainState(NamedTuple):
    params: Any
    stats: Any
    opt_state: Any
    step: jax.Array


def init_train_state(params, stats, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(params, stats, optimizer.init(params), jnp.zeros((), jnp.int32))


@dataclass(frozen=True)
class StepOptions:
    """What the step computes, apart from which archs it trains.

    `distillation`: None (every subnet learns from the labels), "kl" or "alpha"
    (in-place distillation: subnets other than the first static arch, the
    largest, learn its stop-gradient output, by KL or AlphaNet's adaptive
    alpha-divergence). `execution`: "masked" (every subnet at the largest
    shapes) or "switch" (each block runs only its chosen width; spaces whose
    definition supports it).
    """
    label_smoothing: float = 0.0
    distillation: str | None = None
    alpha_min: float = -1.0
    alpha_max: float = 1.0
    ratio_clip: float = 5.0
    execution: str = "masked"

    def student_loss(self, logits, labels, teacher):
        if teacher is None:
            return cross_entropy(logits, labels, self.label_smoothing)
        if self.distillation == "kl":
            return kl_distillation(logits, teacher)
        return adaptive_alpha_divergence(logits, teacher, self.alpha_min, self.alpha_max, self.ratio_clip)


EXECUTIONS = {"masked": masked_apply, "switch": switched_apply}


def keep_if(ok: jax.Array, new, old):
    """`new` if `ok`, else `old`: a diverged step leaves the state as it was.

    One conditional for the whole state rather than a select per leaf: XLA:CPU compiles each select
    into its own kernel, while the conditional's branches only forward their operands.
    """
    return lax.cond(ok, lambda new, old: new, lambda new, old: old, new, old)


def make_train_step(graphdef, space: Space, optimizer: optax.GradientTransformation, *,
                    static_first: Arch | None = None, static_last: Arch | None = None,
                    options: StepOptions = StepOptions(), donate: bool = True,
                    input_shape: tuple[int, ...] | None = None, disk_cache_key: Any = None,
                    static_usage: Any = None, image_shape: tuple[int, ...] | None = None):
    """The jitted step; with `input_shape` (one example's: (H, W, C) images or (T,) tokens), each batch is
    checked first (a clear error, not a JAX one). `image_shape` is its former name, still accepted.

    `static_usage` (bool, params-shaped: the entries the static archs read, see
    `static_arch_usage`) goes to a `freeze_unused` optimizer as `always_used`, so
    what those archs use is never frozen whatever its gradient rounds to.

    With `disk_cache_key` (everything the step's closure bakes in, e.g. the run's
    config), the traced program is kept on disk so a restart skips tracing.
    """
    input_shape = renamed_input_shape(input_shape, image_shape, "make_train_step")
    if options.distillation is not None and static_first is None:
        raise ValueError("in-place distillation needs the largest subnet as the step's first static arch")
    apply_arch = EXECUTIONS[options.execution]

    # Losses are differentiated scaled by the student weight (DεpS ramps it); metrics stay unscaled.
    # A supernet's own training term (`auxiliary_loss`, nas.lowering), where it defines one, joins each sampled
    # arch's loss.
    def arch_loss(params, stats, images, labels, arch_vector, teacher, weight):
        logits, new_stats = apply_arch(graphdef, params, stats, space, images, arch_vector, train=True)
        value = options.student_loss(logits, labels, teacher)
        total, own = weight * value, auxiliary_loss(graphdef, params, stats)
        if own is not None:
            total = total + own(images, arch=space.values(arch_vector), loss=value,
                                loss_of=lambda logits: options.student_loss(logits, labels, teacher))
        return total, (new_stats, accuracy(logits, labels), value)

    def static_loss(arch, is_teacher):
        def loss(params, stats, images, labels, teacher, weight):
            logits, new_stats = static_apply(graphdef, params, stats, images, arch, train=True)
            target = None if is_teacher else teacher
            value = options.student_loss(logits, labels, target)
            return value if is_teacher else weight * value, (new_stats, accuracy(logits, labels), value, logits)
        return jax.value_and_grad(loss, has_aux=True)

    arch_grad = jax.value_and_grad(arch_loss, has_aux=True)
    first_grad = static_loss(static_first, True) if static_first is not None else None
    last_grad = static_loss(static_last, False) if static_last is not None else None

    def step(state: TrainState, images, labels, archs, student_weight, static_usage):
        stats, grads = state.stats, jax.tree.map(jnp.zeros_like, state.params)
        losses, accs, finite, teacher = [], [], [], None
        if first_grad is not None:
            (_, (stats, acc, loss, logits)), grads = first_grad(state.params, stats, images, labels, None, 1.0)
            if options.distillation is not None:
                teacher = lax.stop_gradient(logits)
            losses.append(loss[None])
            accs.append(acc[None])
            finite.append((jnp.isfinite(loss) & all_finite(grads))[None])
        if archs.shape[0]:
            def body(carry, arch):
                stats, grads = carry
                (_, (stats, acc, loss)), arch_grads = arch_grad(state.params, stats, images, labels, arch, teacher,
                                                                student_weight)
                arch_finite = jnp.isfinite(loss) & all_finite(arch_grads)
                return (stats, jax.tree.map(jnp.add, grads, arch_grads)), (loss, acc, arch_finite)
            (stats, grads), (scan_losses, scan_accs, scan_finite) = lax.scan(body, (stats, grads), archs)
            losses.append(scan_losses)
            accs.append(scan_accs)
            finite.append(scan_finite)
        if last_grad is not None:
            (_, (stats, acc, loss, _)), last = last_grad(state.params, stats, images, labels, teacher, student_weight)
            grads = jax.tree.map(jnp.add, grads, last)
            losses.append(loss[None])
            accs.append(acc[None])
            finite.append((jnp.isfinite(loss) & all_finite(last))[None])
        losses, accs, finite = jnp.concatenate(losses), jnp.concatenate(accs), jnp.concatenate(finite)
        extra = {} if static_usage is None else {"always_used": static_usage}
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params, **extra)
        params = optax.apply_updates(state.params, updates)
        # Finite gradients can still overflow the parameters (an absurd learning rate).
        update_finite = all_finite((params, stats, opt_state))
        ok = jnp.all(finite) & update_finite
        new = keep_if(ok, TrainState(params, stats, opt_state, state.step), state)
        metrics = dict(zip(METRICS, (jnp.mean(losses), losses, accs, norm(grads), finite, update_finite)))
        return new._replace(step=state.step + 1), metrics

    donate_argnums = (0,) if donate else ()
    if disk_cache_key is None:
        jitted = jax.jit(step, donate_argnums=donate_argnums)
    else:
        jitted = DiskCachedJit(step, name="train_step", key=disk_cache_key, donate_argnums=donate_argnums,
                               out_structure=lambda state, *_: jax.tree.structure((state, dict.fromkeys(METRICS, 0))))
    return TrainStep(jitted, space, input_shape, static_usage)


class TrainStep:
    """`step(state, images, labels, archs, student_weight=1.0) -> (state, metrics)`.

    With an `input_shape`, every batch and arch array is checked first, so a wrong
    one gets a clear error rather than a JAX one.
    """

    def __init__(self, jitted, space: Space, input_shape: tuple[int, ...] | None, static_usage=None):
        self.jitted, self.space, self.input_shape, self.static_usage = jitted, space, input_shape, static_usage

    def _arguments(self, state, images, labels, archs, student_weight):
        if self.input_shape is not None:
            check_batch(images, labels, self.input_shape)
            check_archs(self.space, archs)
        return state, images, labels, archs, np.float32(student_weight), self.static_usage

    def __call__(self, state, images, labels, archs, student_weight=1.0):
        return self.jitted(*self._arguments(state, images, labels, archs, student_weight))

    def lower(self, state, images, labels, archs, student_weight=1.0):
        return self.jitted.lower(*self._arguments(state, images, labels, archs, student_weight))

    def prepare(self, state, images, labels, archs, student_weight=1.0) -> dict:
        """Trace or load, lower and compile (disk-cached steps only); seconds per part."""
        return self.jitted.prepare(*self._arguments(state, images, labels, archs, student_weight))


def static_arch_usage(graphdef, params, stats, archs) -> Any:
    """Bool tree shaped like `params`: True where any of `archs` (fixed Arch objects) reads the entry."""
    from nas.lowering import param_usage

    leaves, treedef = jax.tree.flatten(params)
    used = [np.zeros(leaf.shape, bool) for leaf in leaves]
    for arch in archs:
        used = [u | a for u, a in zip(used, param_usage(graphdef, params, stats, arch))]
    return jax.tree.unflatten(treedef, used)


def check_archs(space: Space, archs) -> None:
    """`archs` must be int32 [n, num_decisions] with every index inside its decision's choices."""
    shape = getattr(archs, "shape", None)
    if shape is None or len(shape) != 2 or shape[1] != space.num_decisions:
        raise SpaceError(f"space {space.name!r}: archs must have shape (n, {space.num_decisions}), got {shape}")
    for row in np.asarray(archs):
        space.from_vector(row)  # names the decision whose index is out of range
