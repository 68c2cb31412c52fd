"""A learned, balanced assignment of archs to K supernets: few-shot NAS whose split a router learns.

`RoutedSupernets(supernet, space, num_supernets=K, ...)` holds K copies of a
supernet as `FewShotSupernets` does (`supernets.owned_copies`: the owner runs,
trains, recalibrates and exports the arch; the others get exactly zero
gradient), but the owner is chosen by a small router MLP on the arch's
features (`space.features_jax`): K logits, the owner their argmax. Exactly one
supernet serves each arch at training, evaluation, slicing, export and search.
The router's weights are ordinary `nnx.Param`s, so a checkpoint carries the
assignment: it is a pure function of checkpointed parameters.

The sandwich's endpoints are pinned: the largest arch is always served by
supernet 0 and the smallest by supernet K-1, the router deciding every other
arch. The training step runs them as static archs, and with a router-chosen
(traced) owner each of them compiles as a select over the K copies feeding a
sliced network: on a reduced MobileNetV3 that doubled the compile time of the
static part (490 s against few-shot's 210 s; the rest of the step, router and
extra forward pass included, compiled within 9% of few-shot's) and the full
space ran out of 23 GB compiling. Pinned, their owners are known when the step
is traced, as in few-shot. Each of the two is trained every step anyway.

How the router learns: the wrapper defines the training step's optional hook
`auxiliary_loss(x, *, arch, loss, loss_of)` (nas.lowering.auxiliary_loss),
which the step adds to the loss of each arch it samples (not to the sandwich's
static largest and smallest: two fixed archs that need no routing lesson each
step, and on MobileNetV3 a fit term on them put 2K more networks into the
step's program, which ran out of 23 GB compiling):

  fit      KL(softmax(-losses / temperature) || router softmax), where `losses`
           are the arch's task loss on each of the K copies: the owner's is the
           step's own (`loss`), the K-1 others come from forward passes on the
           step's batch (`loss_of` of their logits), parameters behind
           stop_gradient, batch statistics discarded.
           A soft target rather than the argmin: the copies start identical,
           so their losses tie exactly and argmin would send every arch to
           supernet 0 from the first step; the soft target is uniform then and
           sharpens as the copies specialise.
  balance  balance_weight * (K * sum_k f_k * P_k - 1) over a fixed batch of
           BALANCE_ARCHS archs (`space.sample_vectors` of a constant key: the
           same batch every step and after resume), where f_k is the share of
           the batch whose argmax is supernet k (a constant) and P_k the mean
           router probability of k: the Switch Transformer's load-balancing
           loss, 0 when the shares are equal. It pushes probability away from
           the supernets that own more than their share. It acts on the argmax
           shares, which decide the owners: an earlier term, KL(mean router
           softmax || uniform), was satisfied by soft probabilities while the
           argmax went 94/6 on the Transformer LM (1000 steps, weight 1).
           Without a balance term (weight 0) the supernet that owns most archs
           at first trains on them, gets the lower loss everywhere and takes
           every arch within ~100 steps. It counts once per sampled arch.

The router starts centred (its output bias makes every supernet's mean logit
over the balance batch equal), so the first steps do not hand nearly every arch
to whichever supernet a random bias favoured. The supernets get no gradient
from either term (the K losses are constants); the router gets gradient from
them alone (the owner is an integer). Cost: K-1 forward passes per sampled
arch on top of its forward and backward pass.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from nas.errors import ConfigError
from nas.space import Space
from supernets.mixture_of_supernets import Router
from supernets.owned_copies import OwnedCopies, copies
from supernets.param_paths import arch_vector

MAX_SUPERNETS = 16
BALANCE_ARCHS = 1024
BALANCE_SEED = 0


def fit_loss(logits: jax.Array, losses: jax.Array, temperature: float) -> jax.Array:
    """KL(softmax(-losses / temperature) || softmax(logits)): the router pulled towards the lower-loss supernets."""
    log_target = jax.nn.log_softmax(-lax.stop_gradient(losses) / temperature)
    return jnp.sum(jnp.exp(log_target) * (log_target - jax.nn.log_softmax(logits)))


def balance_loss(logits: jax.Array) -> jax.Array:
    """K * sum_k f_k * P_k - 1 for logits [N, K]: f_k the argmax share of supernet k (no gradient), P_k its mean
    probability. 0 when the argmax shares are equal; its gradient lowers the probability of overloaded supernets."""
    num_archs, num_supernets = logits.shape
    shares = jnp.mean(jax.nn.one_hot(jnp.argmax(logits, axis=-1), num_supernets), axis=0)
    return num_supernets * jnp.sum(shares * jnp.mean(jax.nn.softmax(logits), axis=0)) - 1.0


def run_frozen(supernet: nnx.Module, x, arch: Mapping) -> jax.Array:
    """`supernet`'s training-mode logits of `arch`: no gradient reaches it, its batch statistics stay as they were."""
    graphdef, state = nnx.split(supernet)
    return nnx.merge(graphdef, jax.tree.map(lax.stop_gradient, state))(x, train=True, arch=arch)


class RoutedSupernets(OwnedCopies):
    def __init__(self, supernet: nnx.Module, space: Space, *, num_supernets: int = 2, router_hidden: int = 64,
                 balance_weight: float = 1.0, temperature: float = 0.1, rngs: nnx.Rngs):
        if not 2 <= num_supernets <= MAX_SUPERNETS:
            raise ConfigError(f"a learned assignment needs 2..{MAX_SUPERNETS} supernets, got {num_supernets}")
        if not balance_weight >= 0 or not math.isfinite(balance_weight):
            raise ConfigError(f"balance_weight must be a finite number >= 0, got {balance_weight}")
        if not temperature > 0 or not math.isfinite(temperature):
            raise ConfigError(f"temperature must be a finite number > 0, got {temperature}")
        self.space = space
        self.balance_weight, self.temperature = float(balance_weight), float(temperature)
        self.supernets = copies(supernet, num_supernets)
        self.router = Router(space.num_features, (1,), num_supernets, router_hidden, rngs=rngs)
        # Centred: every supernet's mean logit over the balance batch is equal, so the assignment starts near
        # balanced rather than on the supernet that a random bias favours.
        out = self.router.out
        out.bias[...] = out.bias[...] - jnp.mean(self.router_logits(self.balance_batch()), axis=0)
        # The sandwich's endpoints have fixed owners (the module docstring): (vector as a tuple, owner) pairs.
        self.pinned = ((tuple(int(i) for i in space.largest().to_vector()), 0),
                       (tuple(int(i) for i in space.smallest().to_vector()), num_supernets - 1))

    def router_logits(self, vectors) -> jax.Array:
        """[..., K] router logits of int32 [..., D] arch vectors."""
        return self.router.logits(self.space.features_jax(vectors))

    def assignment(self, vectors) -> jax.Array:
        """int32 [...]: the owner of each of the arch vectors [..., D] (the router's argmax, or a pinned owner)."""
        owners = jnp.argmax(self.router_logits(vectors), axis=-1).astype(jnp.int32)
        for pinned, owner in self.pinned:
            owners = jnp.where(jnp.all(jnp.asarray(vectors) == jnp.array(pinned, jnp.int32), axis=-1), owner, owners)
        return owners

    def supernet_of(self, arch: Mapping):
        """The owner of `arch`: a Python int where the router's weights are concrete or the arch is a pinned
        endpoint given as fixed values (the step's static archs), traced otherwise."""
        vector = arch_vector(self.space, arch)
        if isinstance(vector, np.ndarray):
            for pinned, owner in self.pinned:
                if tuple(int(i) for i in vector) == pinned:
                    return owner
        owner = self.assignment(vector)
        return owner if isinstance(owner, jax.core.Tracer) else int(owner)

    def balance_batch(self) -> jax.Array:
        """The fixed int32 [BALANCE_ARCHS, D] archs the balance term is measured on."""
        return self.space.sample_vectors(jax.random.key(BALANCE_SEED), BALANCE_ARCHS)

    def auxiliary_loss(self, x, *, arch: Mapping, loss: jax.Array, loss_of) -> jax.Array:
        """The router's training term for `arch` (the module docstring): fit, plus the weighted balance.
        `loss` is the arch's task loss on its owner (the step's own), `loss_of(logits)` that loss of other logits."""
        owner = self.supernet_of(arch)
        losses = jnp.zeros(self.num_supernets).at[owner].set(loss)
        for offset in range(1, self.num_supernets):
            other = (owner + offset) % self.num_supernets
            losses = losses.at[other].set(loss_of(run_frozen(self.copy_at(other), x, arch)))
        total = fit_loss(self.router_logits(arch_vector(self.space, arch)), losses, self.temperature)
        if self.balance_weight:
            total = total + self.balance_weight * balance_loss(self.router_logits(self.balance_batch()))
        return total

    def usage_outside(self, name: str) -> bool:
        return True  # the router: every arch reads it to find its owner
