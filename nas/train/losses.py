"""Loss functions of the training step (pure, jittable)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def cross_entropy(logits, labels, label_smoothing: float = 0.0):
    """Mean softmax cross-entropy with optional label smoothing."""
    targets = jax.nn.one_hot(labels, logits.shape[-1])
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return jnp.mean(optax.softmax_cross_entropy(logits, targets))


def accuracy(logits, labels):
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def kl_distillation(student_logits, teacher_logits):
    """Mean KL(teacher || student): in-place distillation (teacher held fixed by the caller)."""
    teacher_log_prob = jax.nn.log_softmax(teacher_logits)
    student_log_prob = jax.nn.log_softmax(student_logits)
    return jnp.mean(jnp.sum(jnp.exp(teacher_log_prob) * (teacher_log_prob - student_log_prob), axis=-1))


def _alpha_divergence(student_logits, teacher_logits, alpha: float, ratio_clip: float):
    """Per-sample D_alpha(teacher || student) and a surrogate with AlphaNet's clipped gradient.

    With q the student's and p the teacher's distribution, the ratio w = p / q is
    raised to alpha and clipped at `ratio_clip`, so a student that puts almost no
    mass where the teacher does cannot produce an exploding gradient.
    """
    student_log_prob = jax.nn.log_softmax(student_logits)
    q = jax.lax.stop_gradient(jnp.exp(student_log_prob))
    log_ratio = jax.lax.stop_gradient(jax.nn.log_softmax(teacher_logits) - student_log_prob)
    if abs(alpha) < 1e-3:  # the alpha -> 0 limit: KL(q || p)
        log_ratio = jnp.minimum(log_ratio, jnp.log(ratio_clip))
        f, f_base, rho = -log_ratio, 0.0, log_ratio - 1.0
    elif abs(alpha - 1.0) < 1e-3:  # the alpha -> 1 limit: KL(p || q)
        ratio = jnp.exp(log_ratio)
        f, f_base, rho = ratio * log_ratio, 0.0, ratio
    else:
        weight = jnp.minimum(jnp.exp(alpha * log_ratio), ratio_clip)
        f_base = 1.0 / (alpha * (alpha - 1.0))
        f, rho = weight * f_base, weight / alpha + f_base
    value = jnp.sum(q * (f - f_base), axis=-1)
    surrogate = -jnp.sum(q * rho * student_log_prob, axis=-1)
    return value, surrogate


def adaptive_alpha_divergence(student_logits, teacher_logits, alpha_min: float = -1.0,
                              alpha_max: float = 1.0, ratio_clip: float = 5.0):
    """AlphaNet's adaptive alpha-divergence, mean over the batch.

    Per sample, the larger of D_{alpha_min} (penalises over-estimating the
    teacher's uncertainty) and D_{alpha_max} (under-estimating it) is trained.
    The value returned is that divergence; its gradient is AlphaNet's clipped one.
    """
    low_value, low_surrogate = _alpha_divergence(student_logits, teacher_logits, alpha_min, ratio_clip)
    high_value, high_surrogate = _alpha_divergence(student_logits, teacher_logits, alpha_max, ratio_clip)
    pick_low = low_value > high_value
    value = jnp.where(pick_low, low_value, high_value)
    surrogate = jnp.where(pick_low, low_surrogate, high_surrogate)
    return jnp.mean(surrogate + jax.lax.stop_gradient(value - surrogate))

