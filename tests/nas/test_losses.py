"""Distillation losses: zero at the teacher, the gradients the papers define."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas.train.losses import _alpha_divergence, adaptive_alpha_divergence, kl_distillation


def logits(seed, shape=(16, 10), scale=2.0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale, jnp.float32)


@pytest.mark.parametrize("loss", [kl_distillation, adaptive_alpha_divergence])
def test_zero_with_zero_gradient_when_student_equals_teacher(loss):
    teacher = logits(0)
    value, grad = jax.value_and_grad(loss)(teacher, teacher)
    assert abs(float(value)) < 1e-6
    assert float(jnp.max(jnp.abs(grad))) < 1e-6


@pytest.mark.parametrize("loss", [kl_distillation, adaptive_alpha_divergence])
def test_positive_and_decreased_by_a_gradient_step(loss):
    student, teacher = logits(1), logits(2)
    value, grad = jax.value_and_grad(loss)(student, teacher)
    assert float(value) > 0
    assert float(loss(student - 0.5 * grad, teacher)) < float(value)


def test_alpha_one_gradient_is_the_kl_gradient_and_alpha_values_are_divergences():
    student, teacher = logits(3), logits(4)
    surrogate = lambda s: jnp.mean(_alpha_divergence(s, teacher, 1.0, 1e9)[1])
    np.testing.assert_allclose(jax.grad(surrogate)(student), jax.grad(kl_distillation)(student, teacher),
                               atol=1e-6)
    # alpha = 1 is KL(p || q); alpha = -1 its closed form sum q ((p/q)^-1 - 1) / 2.
    value_one = jnp.mean(_alpha_divergence(student, teacher, 1.0, 1e9)[0])
    np.testing.assert_allclose(value_one, kl_distillation(student, teacher), rtol=1e-5)
    p, q = jax.nn.softmax(teacher), jax.nn.softmax(student)
    expected = jnp.sum(q * (q / p - 1.0), axis=-1) / 2.0
    np.testing.assert_allclose(_alpha_divergence(student, teacher, -1.0, 1e9)[0], expected, rtol=1e-4)


def test_adaptive_takes_the_larger_divergence_per_sample():
    student, teacher = logits(5), logits(6)
    low = _alpha_divergence(student, teacher, -1.0, 5.0)[0]
    high = _alpha_divergence(student, teacher, 1.0, 5.0)[0]
    np.testing.assert_allclose(adaptive_alpha_divergence(student, teacher), jnp.mean(jnp.maximum(low, high)),
                               rtol=1e-5)


def test_importance_ratio_clip_bounds_the_gradient():
    teacher = jnp.array([[10.0, -10.0, 0.0]])
    student = jnp.array([[0.0, 10.0, 0.0]])  # mass where the teacher has none: (p/q)^-1 explodes
    def grad_norm(clip):
        surrogate = lambda s: jnp.mean(_alpha_divergence(s, teacher, -1.0, clip)[1])
        return float(jnp.max(jnp.abs(jax.grad(surrogate)(student))))
    assert grad_norm(5.0) < 10.0 < grad_norm(1e12)
