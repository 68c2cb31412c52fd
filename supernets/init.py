"""Parameter initialisers computed on the host with numpy.

Eager `jax.random` initialisers compile one small XLA program per parameter
shape: 138 compiles and about 20 s to build the MobileNetV3 supernet on CPU.
Drawing on the host from a numpy generator seeded by the module's NNX key
takes milliseconds and stays deterministic per seed.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def _draw(rngs: nnx.Rngs, shape: tuple[int, ...], sample):
    """`sample(generator)` from a numpy generator seeded by the next `params` key of `rngs`.

    Under abstract construction (`nnx.eval_shape`) the key is traced and only
    the shape matters, so zeros of that shape stand in.
    """
    key_bits = jax.random.key_data(rngs.params())
    if isinstance(key_bits, jax.core.Tracer):
        return jnp.zeros(shape, jnp.float32)
    generator = np.random.default_rng([int(b) for b in np.asarray(key_bits).ravel()])
    return jnp.asarray(np.asarray(sample(generator), np.float32))


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def variance_scaling(rngs: nnx.Rngs, shape: tuple[int, ...], scale: float, mode: str, distribution: str):
    """As `jax.nn.initializers.variance_scaling` (modes fan_in/fan_out; normal or uniform)."""
    fan_in, fan_out = _fans(shape)
    variance = scale / max(1, fan_in if mode == "fan_in" else fan_out)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return _draw(rngs, shape, lambda generator: generator.uniform(-limit, limit, shape))
    return _draw(rngs, shape, lambda generator: generator.normal(0.0, math.sqrt(variance), shape))


def uniform(rngs: nnx.Rngs, shape: tuple[int, ...], bound: float):
    return _draw(rngs, shape, lambda generator: generator.uniform(-bound, bound, shape))


def constant(shape: tuple[int, ...], value: float):
    return jnp.asarray(np.full(shape, value, np.float32))
