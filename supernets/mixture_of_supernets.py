"""Mixture-of-Supernets (Jawahar et al.): weights routed by the architecture.

`MixtureOfSupernets(supernet, space, experts=E, granularity=...)` wraps any
supernet. Every kernel (dense, convolution, depthwise, attention projections)
gets E experts: the supernet's own kernel is expert 0, `experts` holds the
other E-1 copies; biases and norms stay shared. A small router MLP reads the
arch's features (`space.features`: per free decision a one-hot, zeros when
inactive) and gives, per routed kernel, a softmax over the experts: one for the
whole kernel (`layer`) or one per output neuron, the kernel's last axis
(`neuron`). The subnet runs the supernet with the router-weighted sum of the
experts, through the supernet's own masked or sliced lowering, so no layer is
forked and every space works unchanged.

The wrapper is itself a supernet: `__call__(x, train=, arch=)` and
`get_active_subnet(arch)`, so training, evaluation, search and export use it
as they use any supernet. The standalone subnet is the supernet's own sliced
model holding the routed kernels: it needs no router.

With E = 1 the softmax is exactly 1 and the wrapper computes exactly what the
supernet does. Experts start as copies of the kernel (the wrapper starts as
the supernet's function); the randomly initialised router gives each arch
different weights, which breaks the symmetry once training starts.

Unused slices: an expert's gradient is its routing weight times the mixed
kernel's gradient, so it is exactly zero wherever no sampled subnet read the
kernel, and `freeze_unused` keeps those entries still. The router is read by
every subnet and moves every step.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nas.space import Space
from supernets.elastic_dense import ElasticDense
from supernets.param_paths import arch_vector, is_fixed, leaf_name, named_leaves, usage_by_name, usage_in_order
from supernets.active_subnet import get_active_subnet

GRANULARITIES = ("layer", "neuron")


def is_routed(name: str) -> bool:
    """Kernels are routed; biases, norms, embeddings and kernel transforms are shared."""
    return name.rsplit("/", 1)[-1] == "kernel"


class Router(nnx.Module):
    """Arch features -> per routed kernel a [rows, E] softmax over experts (rows: 1, or its output neurons)."""

    def __init__(self, num_features: int, rows: tuple[int, ...], experts: int, hidden: int, *, rngs: nnx.Rngs):
        self.rows, self.experts = tuple(rows), experts
        self.hidden = ElasticDense(num_features, hidden, rngs=rngs)  # full widths: a plain dense, host init
        self.out = ElasticDense(hidden, sum(self.rows) * experts, rngs=rngs)

    def logits(self, features) -> jax.Array:
        """The MLP's raw output, [..., sum(rows) * E], batched over leading axes."""
        return self.out(jax.nn.relu(self.hidden(features)))

    def __call__(self, features) -> list[jax.Array]:
        logits = self.logits(features)
        splits = np.cumsum([r * self.experts for r in self.rows])[:-1]
        return [jax.nn.softmax(part.reshape(rows, self.experts), axis=-1)
                for part, rows in zip(jnp.split(logits, splits), self.rows)]


def mix(kernel, extras, weights):
    """sum_e weights[:, e] * expert_e over the kernel's last axis; expert 0 is `kernel`, the others `extras`."""
    experts = kernel[None] if extras is None else jnp.concatenate([kernel[None], extras])
    per_expert = jnp.moveaxis(weights, -1, 0).reshape(experts.shape[0], *(1,) * (kernel.ndim - 1), -1)
    return jnp.sum(experts * per_expert, axis=0)


class MixtureOfSupernets(nnx.Module):
    def __init__(self, supernet: nnx.Module, space: Space, *, experts: int = 2, granularity: str = "layer",
                 router_hidden: int = 64, rngs: nnx.Rngs):
        if experts < 1:
            raise ValueError(f"experts must be >= 1, got {experts}")
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
        self.supernet, self.space = supernet, space
        self.num_experts, self.granularity = experts, granularity
        routed = [(name, leaf) for name, leaf in named_leaves(nnx.state(supernet, nnx.Param)) if is_routed(name)]
        if not routed:
            raise ValueError(f"{type(supernet).__name__} has no kernel to route")
        self.routed = tuple(name for name, _ in routed)
        # Copies of expert 0: the wrapper starts as the supernet's function.
        self.experts = nnx.List([nnx.Param(jnp.asarray(np.repeat(np.asarray(leaf)[None], experts - 1, axis=0)))
                                 for _, leaf in routed]) if experts > 1 else None
        rows = tuple(leaf.shape[-1] if granularity == "neuron" else 1 for _, leaf in routed)
        self.router = Router(space.num_features, rows, experts, router_hidden, rngs=rngs)

    def routing_weights(self, vector) -> list[jax.Array]:
        """Per routed kernel, [rows, E] weights of the arch with choice indices `vector`."""
        return self.router(self.space.features_jax(vector))

    def routed_params(self, vector):
        """(graphdef, the supernet's params with routed kernels, its other state) for this arch."""
        graphdef, params, rest = nnx.split(self.supernet, nnx.Param, ...)
        weights = dict(zip(self.routed, self.routing_weights(vector)))
        extras = dict(zip(self.routed, [e[...] for e in self.experts] if self.experts is not None
                          else [None] * len(self.routed)))

        def route(path, leaf):
            name = leaf_name(path)
            return mix(leaf, extras[name], weights[name]) if name in weights else leaf
        return graphdef, jax.tree_util.tree_map_with_path(route, params), rest

    def __call__(self, x, *, train: bool = False, arch: Mapping | None = None, **options):
        if arch is None:
            raise ValueError("a mixture of supernets runs a given arch; slice it for a standalone model")
        graphdef, params, rest = self.routed_params(arch_vector(self.space, arch))
        model = nnx.merge(graphdef, params, rest)
        logits = model(x, train=train, arch=arch, **options)
        nnx.update(self.supernet, nnx.state(model, nnx.BatchStat))
        return logits

    def get_active_subnet(self, arch: Mapping) -> nnx.Module:
        """The supernet's sliced subnet of `arch`, holding that arch's routed kernels."""
        if not is_fixed(arch):
            raise ValueError("slicing needs a fixed arch")
        graphdef, params, rest = self.routed_params(arch_vector(self.space, arch))
        return get_active_subnet(nnx.merge(graphdef, jax.device_get(params), rest), arch)

    def param_usage(self, arch: Mapping) -> list[np.ndarray]:
        """`nas.lowering.param_usage` for this wrapper: each expert is read where the supernet's kernel is;
        the router is read by every arch."""
        inner = usage_by_name(self.supernet, arch)

        def used(name: str, shape: tuple):
            head, _, rest = name.partition("/")
            if head == "supernet":
                return inner[rest]
            if head == "experts":
                return inner[self.routed[int(rest)]][None]
            return True
        return usage_in_order(self, used)
