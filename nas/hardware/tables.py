"""Per-layer tables indexed by the arch vector: the engine of every additive cost.

For each `CostLayer` every combination of its decisions' choices is enumerated once
(a few to a few dozen per layer), giving a [layers, combos] table of any per-config
value (MACs, params, timed latency). Reading an arch is then a gather and a sum, pure
and jittable over int32 vectors [..., D]; with relaxed weights (per decision, a
probability over its choices) it is the exact expectation of that sum under independent
decisions, so the hard and relaxed forms agree at one-hot weights.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nas.hardware.cost_model import CostLayer, CostModelError
from nas.space import Space, Tie


def _free_position(space: Space, name: str) -> int:
    if name not in space:
        raise CostModelError(f"space {space.name!r}: cost layer refers to unknown decision {name!r}")
    decision = space[name]
    source = decision.source if isinstance(decision, Tie) else decision.name
    return [d.name for d in space.free].index(source)


class LayerTable:
    """Index arrays of a space's cost layers; `configs[l][c]` is layer l's config for combo c."""

    def __init__(self, space: Space, layers: Sequence[CostLayer]):
        self.space, self.layers = space, tuple(layers)
        if not self.layers:
            raise CostModelError(f"space {space.name!r}: the cost model has no layers")
        self.max_choices = max(space.choice_counts)
        self.configs: list[list[dict]] = []
        positions, choices = [], []
        for layer in self.layers:
            pos = [_free_position(space, name) for name in layer.decisions]
            values = [space[name].values for name in layer.decisions]
            combos = list(itertools.product(*(range(len(v)) for v in values)))
            self.configs.append([layer.config(*(v[i] for v, i in zip(values, combo))) for combo in combos])
            positions.append(pos)
            choices.append(combos)
        width = max(1, max(len(p) for p in positions))
        ncombo = max(len(c) for c in choices)
        self.num_combos = ncombo
        self._positions = np.zeros((len(self.layers), width), np.int32)
        self._radix = np.zeros((len(self.layers), width), np.int32)
        self._decision_valid = np.zeros((len(self.layers), width), bool)
        self._combo_choice = np.zeros((len(self.layers), ncombo, width), np.int32)
        for l, (pos, combos) in enumerate(zip(positions, choices)):
            sizes = [space.choice_counts[p] for p in pos]
            radix = [int(np.prod(sizes[j + 1:], dtype=np.int64)) for j in range(len(pos))]
            self._positions[l, :len(pos)] = pos
            self._radix[l, :len(pos)] = radix
            self._decision_valid[l, :len(pos)] = True
            if pos:
                self._combo_choice[l, :len(combos), :len(pos)] = np.array(combos, np.int32)
        self._build_conditions()

    def _build_conditions(self) -> None:
        n = len(self.layers)
        self._conditional = np.zeros(n, bool)
        self._cond_position = np.zeros(n, np.int32)
        self._cond_table = np.ones((n, self.max_choices), bool)
        for l, layer in enumerate(self.layers):
            if layer.active_if is None:
                continue
            name, allowed = layer.active_if
            if name in layer.decisions:
                raise CostModelError(f"cost layer {layer.name!r}: its condition {name!r} is also one of its decisions")
            values = self.space[name].values
            self._conditional[l] = True
            self._cond_position[l] = _free_position(self.space, name)
            self._cond_table[l] = [i < len(values) and values[i] in tuple(allowed) for i in range(self.max_choices)]

    def distinct_configs(self) -> list[dict]:
        """Every distinct layer config once (the entries a lookup table must time)."""
        seen: dict[str, dict] = {}
        for configs in self.configs:
            for config in configs:
                if config is not None:  # None: the layer is absent at that combination (an op not chosen)
                    seen.setdefault(config_key(config), config)
        return list(seen.values())

    def table(self, value: Callable[[dict], float], dtype=np.float32) -> np.ndarray:
        """[layers, combos] of `value(config)`, zero in padding."""
        out = np.zeros((len(self.layers), self.num_combos), dtype)
        for l, configs in enumerate(self.configs):
            out[l, :len(configs)] = [0 if c is None else value(c) for c in configs]
        return out

    # -- jittable readers ----------------------------------------------------

    def index_and_active(self, vectors, xp=jnp):
        """(combo index int32 [..., layers], present bool [..., layers]) for vectors [..., D]."""
        vectors = xp.asarray(vectors, xp.int32)
        index = xp.sum(vectors[..., xp.asarray(self._positions)] * xp.asarray(self._radix), axis=-1)
        source = vectors[..., xp.asarray(self._cond_position)]
        present = xp.asarray(self._cond_table)[xp.arange(len(self.layers)), source]
        return index, present | ~xp.asarray(self._conditional)

    def lookup(self, table, vectors) -> jax.Array:
        """[..., layers]: each layer's table entry for int32 vectors [..., D], zero when absent."""
        index, present = self.index_and_active(vectors)
        table = jnp.asarray(table)
        entries = table[jnp.arange(len(self.layers)), index]
        return jnp.where(present, entries, jnp.zeros((), table.dtype))

    def active_probability(self, probs) -> jax.Array:
        """[..., layers]: probability that each layer exists under relaxed weights [..., D, C]."""
        source = probs[..., jnp.asarray(self._cond_position), :]  # [..., L, C]
        p = jnp.sum(source * jnp.asarray(self._cond_table, probs.dtype), axis=-1)
        return jnp.where(jnp.asarray(self._conditional), p, jnp.ones((), probs.dtype))

    def expected(self, table, probs) -> jax.Array:
        """[..., layers]: expected table entry per layer under independent relaxed weights."""
        probs = jnp.asarray(probs)
        positions = jnp.asarray(self._positions)[:, None, :]  # [L, 1, J]
        chosen = probs[..., positions, jnp.asarray(self._combo_choice)]  # [..., L, C, J]
        chosen = jnp.where(jnp.asarray(self._decision_valid)[:, None, :], chosen, 1.0)
        combo_probability = jnp.prod(chosen, axis=-1)  # [..., L, C]
        per_layer = jnp.sum(combo_probability * jnp.asarray(table, probs.dtype), axis=-1)
        return self.active_probability(probs) * per_layer


def config_key(config: dict) -> str:
    """Canonical JSON of a layer config: equal configs share one lookup-table entry."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def one_hot_probs(space: Space, vectors) -> jax.Array:
    """float32 [..., D, C]: the relaxed weights that put all mass on each decision's choice."""
    return jax.nn.one_hot(jnp.asarray(vectors, jnp.int32), max(space.choice_counts), dtype=jnp.float32)


def softmax_probs(space: Space, logits) -> jax.Array:
    """float32 [..., D, C]: a softmax over each decision's own choices (padding gets 0)."""
    counts = jnp.asarray(space.choice_counts)
    valid = jnp.arange(max(space.choice_counts)) < counts[:, None]
    return jax.nn.softmax(jnp.where(valid, logits, -jnp.inf), axis=-1)
