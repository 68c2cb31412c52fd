"""Single-Path NAS on entangled weights: the weights decide, through trainable thresholds.

Single-Path NAS (Stamoulis et al., 2019) keeps one over-parameterised kernel per
MBConv; a smaller choice is a subset of it (the 3x3 centre of the 5x5 kernel, the
first channel group of the expanded channels) and the choice is taken by comparing
the norm of what the larger choice adds with a trainable threshold:

    w = w_3x3 + 1(||w_ring|| > t_5x5) * w_ring,

indicators multiplying down the nesting, the step 1(.) in the forward pass and a
sigmoid's gradient in the backward pass (straight-through). There are no
architecture logits: a ring whose weights grow past its threshold is kept.

In weft every nested decision (sorted widths, kernel sizes, expand ratios,
depths) already has that structure: the weights a choice reads contain those of
the choice before it (`nas.lowering.param_usage`, exact for any space). Per free
decision with choices c_0 .. c_k (in the space's order) and per step j from c_j to
c_{j+1}, the *ring* is the set of weight entries c_{j+1} reads and c_j does not
(the other decisions at their largest). Then

    d_j = 1(rms(ring_j) > t_j)            forward; gradient of sigmoid(rms(ring_j) - t_j)
    reach_j = d_0 * ... * d_{j-1}         the cascade: a ring counts only if every inner one does
    p(c_j) = reach_j - reach_{j+1}        (reach_0 = 1, reach_{k+1} = 0)

and the supernet runs `superposed_apply` on p: at 0/1 indicators p is one-hot and
the forward equals the masked lowering of the chosen arch; in general the
superposed weight is exactly w_inner + d_0 * (ring_0 + d_1 * (ring_1 + ...)).

Two choices differ from the reference, both stated where they matter: the ring is
measured by its root mean square (norm / sqrt(entries)), i.e. the paper's test
with the threshold t * sqrt(entries), so one threshold scale and one learning rate
serve rings of any size; rings are measured on weight matrices and kernels only
(leaves of 2 or more dimensions; norms' scales and biases would otherwise dominate
a ring), all of a ring's entries where it has no such leaf. Expected latency is
the lookup-table predictor's relaxed form at p (`LogLatencyPenalty`), so it is a
function of the indicators; the loss adds lambda * log(E[latency]).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nas.atomic_write import write_text_atomically
from nas.differentiable.latency_penalty import LatencyPenalty
from nas.differentiable.superposition import choice_values, superposed_apply
from nas.errors import ConfigError
from nas.space import Arch, Space
from nas.train.losses import accuracy, cross_entropy
from nas.train.step import TrainState
from nas.train.tree_reductions import all_finite
from searchers.differentiable import SearchState

METHOD = "single-path"
FORMAT = "weft-single-path-thresholds"
_EPSILON = 1e-12  # inside the square root: a ring of all-zero weights keeps a finite gradient


# ---- rings: the weights each larger choice adds --------------------------------------------------------------

@dataclass(frozen=True)
class _Region:
    """A subset of one parameter leaf: the outer product of per-axis masks (a box), else the whole mask."""
    axes: tuple | None
    full: np.ndarray | None

    @classmethod
    def of(cls, used: np.ndarray) -> "_Region":
        axes = tuple(used.any(axis=tuple(a for a in range(used.ndim) if a != axis)) for axis in range(used.ndim))
        box = np.ones(used.shape, bool)
        for axis, mask in enumerate(axes):
            box &= mask.reshape([-1 if a == axis else 1 for a in range(used.ndim)])
        return cls(axes, None) if np.array_equal(box, used) else cls(None, used)

    def mask(self, ndim: int):
        """float32 0/1, broadcastable to the leaf (built from small per-axis constants when a box)."""
        if self.full is not None:
            return jnp.asarray(self.full, jnp.float32)
        mask = jnp.ones((), jnp.float32)
        for axis, values in enumerate(self.axes):
            mask = mask * jnp.asarray(values, jnp.float32).reshape([-1 if a == axis else 1 for a in range(ndim)])
        return mask


@dataclass(frozen=True)
class Ring:
    """The entries a choice reads beyond the choice before it: per leaf (index in `jax.tree.leaves(params)`)
    the region the larger choice reads and the one the smaller reads (None: it reads none of the leaf)."""
    parts: tuple                # ((leaf index, outer _Region, inner _Region | None), ...)
    size: int                   # entries in the ring

    def sum_of_squares(self, leaves):
        total = jnp.zeros((), jnp.float32)
        for index, outer, inner in self.parts:
            leaf = leaves[index]
            mask = outer.mask(leaf.ndim)
            if inner is not None:
                mask = mask * (1.0 - inner.mask(leaf.ndim))
            total = total + jnp.sum(jnp.square(leaf.astype(jnp.float32)) * mask)
        return total

    def rms(self, leaves):
        return jnp.sqrt(self.sum_of_squares(leaves) / self.size + _EPSILON)


@dataclass(frozen=True)
class Rings:
    """Per free decision of two or more choices, its rings (one per step between consecutive choices)."""
    space: Space
    rings: dict                 # {decision name: (Ring, ...)}, free decisions in vector order
    num_leaves: int

    def rms(self, params) -> dict:
        """{decision: float32 [n_choices - 1]}: each ring's root mean square at `params`; jittable."""
        leaves = jax.tree.leaves(params)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"params have {len(leaves)} leaves, the rings were found on {self.num_leaves}")
        return {name: jnp.stack([ring.rms(leaves) for ring in rings]) for name, rings in self.rings.items()}


# Rings depend on the network's structure and the leaves' shapes only (not on the weights' values); finding
# them slices the supernet once per choice, so a process keeps them.
_FOUND: dict = {}


def nested_rings(graphdef, params, stats, space: Space) -> Rings:
    """Every free decision's rings, found from the entries each choice's sliced subnet reads.

    ConfigError naming the decision when a choice does not read every weight the choice before it
    reads, or reads exactly the same ones (op types, e.g. NB201's edges): single-path needs nested
    decisions.
    """
    shapes = tuple((tuple(np.shape(leaf)), str(leaf.dtype)) for leaf in jax.tree.leaves(params))
    key = (graphdef, space, jax.tree.structure(params), shapes)
    if key not in _FOUND:
        _FOUND[key] = _find_rings(graphdef, params, stats, space)
    return _FOUND[key]


def _find_rings(graphdef, params, stats, space: Space) -> Rings:
    from nas.lowering import param_usage

    values = choice_values(space)
    largest_vector = space.largest().to_vector()
    largest_usage = param_usage(graphdef, params, stats, space.largest())
    leaves = jax.tree.leaves(params)
    rings = {}
    for position, decision in enumerate(space.free):
        if len(decision) < 2:
            continue
        usages = []
        for index in range(len(decision)):
            if index == largest_vector[position]:
                usages.append(largest_usage)
                continue
            vector = largest_vector.copy()
            vector[position] = index  # the others at the largest arch, which keeps this decision active
            usages.append(param_usage(graphdef, params, stats, space.from_vector(vector)))
        found = []
        for step in range(len(decision) - 1):
            inner, outer = usages[step], usages[step + 1]
            smaller, larger = values[decision.name][step], values[decision.name][step + 1]
            if any(np.any(i & ~o) for i, o in zip(inner, outer)):
                raise _not_nested(space, decision.name, f"its choice {larger!r} does not read every weight its "
                                                        f"choice {smaller!r} reads")
            added = [o & ~i for i, o in zip(inner, outer)]
            if not any(a.any() for a in added):
                raise _not_nested(space, decision.name, f"its choices {smaller!r} and {larger!r} read the same "
                                                        "weights")
            found.append(_ring(leaves, inner, outer, added))
        rings[decision.name] = tuple(found)
    return Rings(space, rings, len(leaves))


def _ring(leaves, inner, outer, added) -> Ring:
    kernels = [index for index, a in enumerate(added) if a.any() and np.ndim(leaves[index]) >= 2]
    picked = kernels or [index for index, a in enumerate(added) if a.any()]
    parts = tuple((index, _Region.of(outer[index]), _Region.of(inner[index]) if inner[index].any() else None)
                  for index in picked)
    return Ring(parts, int(sum(added[index].sum() for index in picked)))


class NotNestedError(ConfigError):
    """A space with a decision single-path cannot express (its choices' weights are not nested)."""


def _not_nested(space: Space, name: str, why: str) -> NotNestedError:
    return NotNestedError(f"single-path search on space {space.name!r}: decision {name!r} is not nested ({why}); "
                       "single-path needs nested decisions, where each choice's weights contain the previous "
                       "choice's (sorted widths, kernel sizes, expand ratios, depths: mobilenetv3, mlp); use "
                       "tangle, darts or gdas for this space")


# ---- thresholds, indicators and the cascade ------------------------------------------------------------------

def init_thresholds(rings: Rings, value: float = 0.0) -> dict:
    """{decision: float32 [n_choices - 1]}; at 0 (the reference's start) every ring is kept: the largest arch."""
    return {name: jnp.full(len(found), value, jnp.float32) for name, found in rings.rings.items()}


def straight_through(x):
    """1(x > 0) forward, the gradient of sigmoid(x) backward (exactly 0 or 1 in the forward pass)."""
    soft = jax.nn.sigmoid(x)
    return (x > 0).astype(soft.dtype) + (soft - jax.lax.stop_gradient(soft))


def indicators(rms: dict, thresholds: dict) -> dict:
    """{decision: [n_choices - 1]}: per ring, 1(rms > threshold) with the sigmoid's gradient."""
    return {name: straight_through(rms[name] - thresholds[name]) for name in thresholds}


def choice_probabilities(space: Space, decided: dict) -> dict:
    """{free decision: [n_choices]}: the cascade reach_j - reach_{j+1}; one-hot where `decided` is 0/1."""
    probs = {}
    for decision in space.free:
        if decision.name not in decided:  # a single choice
            probs[decision.name] = jnp.ones(len(decision), jnp.float32)
            continue
        reach = jnp.cumprod(decided[decision.name])
        reach = jnp.concatenate([jnp.ones(1, reach.dtype), reach, jnp.zeros(1, reach.dtype)])
        probs[decision.name] = reach[:-1] - reach[1:]
    return probs


def drop_indicators(decided: dict, key: jax.Array, rate: float) -> dict:
    """Each indicator zeroed with probability `rate` (warm-up: inner choices then train on their own)."""
    keys = jax.random.split(key, len(decided))
    return {name: values * jax.random.bernoulli(k, 1.0 - rate, values.shape).astype(values.dtype)
            for (name, values), k in zip(decided.items(), keys)}


def derived_vector(space: Space, rms: dict, thresholds: dict) -> np.ndarray:
    """int32 [num_decisions]: per decision the number of leading kept rings (its choice index), canonical."""
    rms, thresholds = jax.device_get(rms), jax.device_get(thresholds)
    vector = []
    for decision in space.free:
        if decision.name not in thresholds:
            vector.append(0)
            continue
        kept = np.asarray(rms[decision.name]) > np.asarray(thresholds[decision.name])
        vector.append(int(np.argmin(kept)) if not kept.all() else len(kept))
    return space.canonical(np.asarray(vector, np.int32))


def derived_arch(space: Space, rms: dict, thresholds: dict) -> Arch:
    """The arch the indicators choose at these ring sizes and thresholds (inactive decisions dropped)."""
    return space.from_vector(derived_vector(space, rms, thresholds))


# ---- latency ---------------------------------------------------------------------------------------------------

class LogLatencyPenalty(LatencyPenalty):
    """`penalty(probs) -> (lambda * log E[latency ms], E[latency ms])` under the cascade's probabilities.

    With a budget, lambda * max(log(E / budget), 0): free at or below the budget, the log above it.
    `predictor` is any weft latency predictor with a relaxed form (`expected(probs [D, C])`).
    """

    def __call__(self, probs: dict) -> tuple[jax.Array, jax.Array]:
        expected = self.expected_ms(probs)
        # A fitted overhead can make a predictor's figure tiny or negative on a tiny arch: the log needs > 0.
        log_latency = jnp.log(jnp.maximum(expected, 1e-6))
        if self.budget_ms is not None:
            log_latency = jnp.maximum(log_latency - np.log(self.budget_ms), 0.0)
        return self.weight * log_latency, expected


# ---- the search step --------------------------------------------------------------------------------------------

def make_single_path_step(graphdef, space: Space, rings: Rings, weight_optimizer: optax.GradientTransformation,
                          threshold_optimizer: optax.GradientTransformation, *, penalty=None, warmup_steps: int = 0,
                          indicator_dropout: float = 0.0, label_smoothing: float = 0.0):
    """`step(state, train_images, train_labels, val_images, val_labels, key, step) -> (state, metrics)`.

    `state` is a `searchers.differentiable.SearchState` whose `alpha` holds the thresholds. A weight step
    on the training batch (the thresholds held), then a threshold step on the validation batch at the
    new weights, both on cross-entropy + lambda * log(E[latency]), the latency term from step
    `warmup_steps` on. The weights get the indicators' gradient too (through their rings' sizes): the
    weights decide. During the warm-up the weight step drops each indicator with probability
    `indicator_dropout` (key from `key`), so inner choices also train alone, and the thresholds stay where
    they are. One compile per run.
    """

    def loss_fn(params, stats, thresholds, images, labels, latency_on, drop_key):
        decided = indicators(rings.rms(params), thresholds)
        if drop_key is not None:
            dropped = drop_indicators(decided, drop_key, indicator_dropout)
            decided = jax.tree.map(lambda d, x: jnp.where(latency_on, d, x), decided, dropped)
        probs = choice_probabilities(space, decided)
        logits, stats = superposed_apply(graphdef, params, stats, space, images, probs, train=True)
        loss = cross_entropy(logits, labels, label_smoothing)
        if penalty is None:
            return loss, (stats, loss, accuracy(logits, labels), jnp.zeros(()), jnp.zeros(()))
        cost_penalty, expected = penalty(probs)
        return loss + jnp.where(latency_on, cost_penalty, 0.0), (stats, loss, accuracy(logits, labels),
                                                                  cost_penalty, expected)

    def step(state, train_images, train_labels, val_images, val_labels, key, step_number):
        weights, thresholds = state.weights, state.alpha
        latency_on = step_number >= warmup_steps
        drop_key = jax.random.fold_in(key, 0) if indicator_dropout > 0 else None
        (_, (stats, train_loss, train_acc, _, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            weights.params, weights.stats, jax.lax.stop_gradient(thresholds), train_images, train_labels,
            latency_on, drop_key)
        updates, opt_state = weight_optimizer.update(grads, weights.opt_state, weights.params)
        params = optax.apply_updates(weights.params, updates)
        # Threshold step at the new weights; running statistics follow the training split only.
        (_, (_, val_loss, val_acc, cost_penalty, expected)), threshold_grads = jax.value_and_grad(
            lambda t: loss_fn(params, stats, t, val_images, val_labels, latency_on, None), has_aux=True)(thresholds)
        threshold_updates, threshold_opt_state = threshold_optimizer.update(threshold_grads, state.alpha_opt_state,
                                                                            thresholds)
        # The thresholds wait for the warm-up's end: on cross-entropy alone they would only fall (a larger
        # network fits better), which delays the latency term's effect by as many steps.
        moved = optax.apply_updates(thresholds, threshold_updates)
        thresholds, threshold_opt_state = jax.tree.map(lambda new, old: jnp.where(latency_on, new, old),
                                                       (moved, threshold_opt_state), (thresholds, state.alpha_opt_state))
        new = SearchState(TrainState(params, stats, opt_state, weights.step + 1), thresholds, threshold_opt_state)
        finite = jnp.stack([jnp.isfinite(train_loss) & all_finite(grads),
                            jnp.isfinite(val_loss) & jnp.isfinite(cost_penalty) & all_finite(threshold_grads)])
        metrics = {"train_loss": train_loss, "train_accuracy": train_acc, "validation_loss": val_loss,
                   "validation_accuracy": val_acc, "penalty": cost_penalty, "expected_cost": expected,
                   "weight_grad_norm": optax.tree.norm(grads), "ring_rms": rings.rms(params),
                   "finite": finite, "update_finite": all_finite(new)}
        return new, metrics

    return jax.jit(step)


def make_threshold_optimizer(learning_rate: float) -> optax.GradientTransformation:
    """Adam on the thresholds, no weight decay (decay would pull every threshold to 0: the largest arch)."""
    return optax.adam(learning_rate)


# ---- files ------------------------------------------------------------------------------------------------------

def to_json(space: Space, thresholds: dict, rms: dict) -> str:
    """The thresholds, the rings' sizes they were compared with and the arch they choose."""
    import json

    host = {name: [float(v) for v in np.asarray(values)] for name, values in jax.device_get(thresholds).items()}
    sizes = {name: [float(v) for v in np.asarray(values)] for name, values in jax.device_get(rms).items()}
    arch = derived_arch(space, rms, thresholds)
    return json.dumps({"format": FORMAT, "space": space.name, "version": space.version,
                       "fingerprint": space.fingerprint(), "thresholds": host, "ring_rms": sizes,
                       "arch": arch.to_string()})


def save(path, space: Space, thresholds: dict, rms: dict) -> None:
    write_text_atomically(path, to_json(space, thresholds, rms))


__all__ = ["METHOD", "NotNestedError", "Ring", "Rings", "nested_rings", "init_thresholds", "straight_through", "indicators",
           "choice_probabilities", "drop_indicators", "derived_vector", "derived_arch", "LogLatencyPenalty",
           "make_single_path_step", "make_threshold_optimizer", "save"]
