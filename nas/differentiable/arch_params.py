"""Architecture parameters: per free decision of a space, logits alpha over its choices.

alpha is a plain pytree `{decision name: float32 [n_choices]}` (free decisions, in
vector order), kept apart from the supernet's weights: its own optax optimiser
and learning rate (`make_optimizer`), its own file (`save` / `load`, JSON, no
pickle; the optimiser's state as an .npz of its leaves). Ties have no entry;
they read their source's. Every function but the file ones is pure and jittable.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nas.atomic_write import write_text_atomically
from nas.space import Arch, Space, SpaceError

ArchParams = dict  # {decision name: float32 [n_choices]}

FORMAT = "weft-arch-params"


def init(space: Space, key: jax.Array | None = None, scale: float = 1e-3) -> ArchParams:
    """Zero logits (uniform choices), or `scale` * normal noise from `key` (DARTS breaks ties so)."""
    if key is None:
        return {d.name: jnp.zeros(len(d), jnp.float32) for d in space.free}
    keys = jax.random.split(key, space.num_decisions)
    return {d.name: scale * jax.random.normal(k, (len(d),), jnp.float32) for d, k in zip(space.free, keys)}


def probabilities(alpha: ArchParams, temperature: float = 1.0) -> ArchParams:
    """softmax(alpha / temperature) per decision."""
    return {name: jax.nn.softmax(logits / temperature) for name, logits in alpha.items()}


def gumbel_straight_through(alpha: ArchParams, key: jax.Array, temperature: float = 1.0) -> ArchParams:
    """GDAS: per decision a one-hot sample of softmax((alpha + Gumbel noise) / temperature).

    The forward value is exactly one-hot (the sample's index); the gradient is
    that of the soft sample (straight-through): hard + (soft - stop_gradient(soft)),
    whose second term is exactly zero in the forward pass.
    """
    keys = jax.random.split(key, len(alpha))
    sample = {}
    for (name, logits), k in zip(alpha.items(), keys):
        soft = jax.nn.softmax((logits + jax.random.gumbel(k, logits.shape, logits.dtype)) / temperature)
        hard = jax.nn.one_hot(jnp.argmax(soft), logits.shape[-1], dtype=soft.dtype)
        sample[name] = hard + (soft - jax.lax.stop_gradient(soft))
    return sample


def argmax_vector(space: Space, alpha: ArchParams) -> jax.Array:
    """int32 [num_decisions]: the most likely choice per decision, canonical (inactive ones 0); jittable."""
    vector = jnp.stack([jnp.argmax(alpha[d.name]) for d in space.free]).astype(jnp.int32)
    return space.canonicalize_vectors(vector)


def argmax_arch(space: Space, alpha: ArchParams) -> Arch:
    """The discrete arch: the most likely choice per decision (decisions whose condition fails are dropped)."""
    # On the host: one numpy argmax per decision, no device dispatch (from_vector canonicalises).
    alpha = jax.device_get(alpha)
    return space.from_vector(np.array([np.argmax(alpha[d.name]) for d in space.free], np.int32))


def one_hot(space: Space, arch) -> ArchParams:
    """float32 probabilities that put all mass on `arch`'s choices (inactive decisions: their index 0)."""
    vector = space.to_vector(arch)
    return {d.name: jax.nn.one_hot(int(vector[p]), len(d), dtype=jnp.float32) for p, d in enumerate(space.free)}


def make_optimizer(learning_rate: float = 3e-4, b1: float = 0.5, b2: float = 0.999,
                   weight_decay: float = 1e-3) -> optax.GradientTransformation:
    """DARTS's architecture optimiser: Adam(3e-4, betas (0.5, 0.999)) with L2 weight decay 1e-3 on alpha."""
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.scale_by_adam(b1=b1, b2=b2),
                       optax.scale_by_learning_rate(learning_rate))


def to_json(space: Space, alpha: ArchParams) -> str:
    """alpha as JSON: the space's identity and per decision the logits as a list of floats."""
    logits = {name: [float(v) for v in np.asarray(jax.device_get(values), np.float32)] for name, values in alpha.items()}
    return json.dumps({"format": FORMAT, "space": space.name, "version": space.version,
                       "fingerprint": space.fingerprint(), "alpha": logits})


def from_json(space: Space, text: str) -> ArchParams:
    """The alpha `to_json` wrote; SpaceError if it belongs to another space or is damaged."""
    def fail(problem: str) -> SpaceError:
        return SpaceError(f"architecture parameters for space {space.name!r} v{space.version}: {problem}")

    try:
        document = json.loads(text)
    except ValueError as error:
        raise fail(f"not JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("alpha"), dict):
        raise fail(f"not a {FORMAT} document (keys format, space, version, fingerprint, alpha)")
    if (document.get("space"), document.get("version"), document.get("fingerprint")) != \
            (space.name, space.version, space.fingerprint()):
        raise fail(f"written for space {document.get('space')!r} v{document.get('version')} "
                   f"(fingerprint {document.get('fingerprint')}), not fingerprint {space.fingerprint()}")
    logits = document["alpha"]
    expected = {d.name: len(d) for d in space.free}
    if set(logits) != set(expected):
        raise fail(f"decisions {sorted(logits)} differ from the space's {sorted(expected)}")
    alpha = {}
    for name, size in expected.items():
        values = logits[name]
        if not (isinstance(values, list) and len(values) == size
                and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)):
            raise fail(f"decision {name!r}: expected {size} finite numbers, got {values!r}")
        alpha[name] = jnp.asarray(values, jnp.float32)
    return alpha


def save(path, space: Space, alpha: ArchParams) -> None:
    """Writes alpha atomically (a temporary file renamed), so a kill never leaves half a file."""
    write_text_atomically(path, to_json(space, alpha))


def load(path, space: Space) -> ArchParams:
    return from_json(space, Path(path).read_text())

