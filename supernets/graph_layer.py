"""Message passing with elastic width and heads, and op choices for attention, aggregation and activation.

One layer of an Auto-GNN / GraphNAS-like graph network, on a fixed graph (`GraphStructure`: edge lists
src -> dst, self loops included). Per head h, nodes are projected, `z = x @ W[:, h, :]`, each edge
j -> i gets an attention coefficient `a_ij`, the messages `a_ij * z_j` are aggregated at i (sum, mean
or max), the heads are averaged (GAT's non-concatenating form, so the width does not depend on the
number of heads), a bias is added and the activation applied.

Attention (`ATTENTIONS`, coefficients per edge and head):
  const   1 (no attention: plain sum / mean / max of the neighbours' projections)
  gcn     1 / sqrt(deg_i deg_j), GCN's symmetric normalisation (no weights)
  linear  softmax_j tanh(a . z_j) (GraphNAS's linear attention)
  gat     softmax_j LeakyReLU(a_l . z_i + a_r . z_j) (GAT)
  cos     softmax_j <a_l * z_i, a_r * z_j> (GraphNAS's cosine attention)
The softmax runs over the edges into each node. Each weighted attention holds its own vectors; the
projection W is shared by every candidate (weight entanglement).

Sizes: `width` (nested: the first w channels of every head) and `heads` (nested: the first h heads)
are ints or declared decisions (`supernets.decisions`); `attention`, `aggregation` and `activation`
are a name (a standalone layer) or a declared `OneOf` of names. Lowerings: a traced or fixed arch
runs `supernets.choice.run_choice` over the candidate ops (every candidate computed and the chosen one
kept, one compile; a fixed arch runs its op alone), widths and heads are masked with `jnp.where`
(traced) or sliced (fixed); a relaxed arch mixes the candidates and soft-masks widths and heads.
`active(values)` is the standalone layer of one arch, exactly its shapes.

The input is [B, N, in] (a batch of B graphs' node features, all on the same structure; a space
classifying the nodes of one graph passes B = 1); the output is [B, N, width].
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from supernets import init, shape_trace
from supernets.build import abstract, with_values
from supernets.choice import run_choice
from supernets.decisions import Declared, OneOf, evaluate, largest, possible_values, read
from supernets.dispatch import choice_index, switch_block
from supernets.masks import is_traced, mask_last_axis, prefix_mask, static_width
from supernets.relaxed import Relaxed

# Cheapest first, as the other spaces order their op choices: a space's smallest() takes each first value
# and largest() (the sandwich rule's teacher) each last one, which should be a strong, nonlinear layer.
ATTENTIONS = ("const", "gcn", "linear", "gat", "cos")
AGGREGATIONS = ("mean", "max", "sum")
ACTIVATIONS = ("identity", "tanh", "relu", "leaky_relu", "elu")
# Learned vectors per weighted attention: how many [heads, width] vectors it reads.
ATTENTION_VECTORS = {"gat": 2, "cos": 2, "linear": 1}
_SOFTMAX_ATTENTIONS = ("gat", "cos", "linear")
_LEAKY_SLOPE = 0.2  # GAT's LeakyReLU slope, also the leaky_relu activation's

_ACTIVATION_FNS = {"relu": jax.nn.relu, "elu": jax.nn.elu,
                   "leaky_relu": lambda x: jax.nn.leaky_relu(x, _LEAKY_SLOPE), "tanh": jnp.tanh,
                   "identity": lambda x: x}


class GraphStructure:
    """A fixed directed graph: int32 edge lists `src` -> `dst` over `num_nodes` nodes (host numpy arrays, kept
    sorted by (dst, src)).

    Messages flow along each edge from src to dst; a node hears itself only through a self loop, so a
    structure built for message passing holds one per node (`with_self_loops`). Compared by identity:
    a layer holds its graph as a static attribute, and one graph object serves every layer of a network.
    """

    def __init__(self, src, dst, num_nodes: int):
        src, dst = np.asarray(src), np.asarray(dst)
        if src.ndim != 1 or src.shape != dst.shape:
            raise ValueError(f"src and dst must be 1-D edge lists of one length, got shapes {src.shape} and {dst.shape}")
        if not isinstance(num_nodes, (int, np.integer)) or num_nodes < 1:
            raise ValueError(f"num_nodes must be a positive int, got {num_nodes!r}")
        if len(src) and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= num_nodes):
            raise ValueError(f"edge endpoints must lie in [0, {num_nodes}); got src in [{src.min()}, {src.max()}], "
                             f"dst in [{dst.min()}, {dst.max()}]")
        order = np.lexsort((src, dst))  # sorted by dst: segment reductions run on sorted indices
        self.src, self.dst, self.num_nodes = src[order].astype(np.int32), dst[order].astype(np.int32), int(num_nodes)
        in_degree = np.bincount(self.dst, minlength=self.num_nodes)
        if (in_degree == 0).any():
            raise ValueError(f"{int((in_degree == 0).sum())} node(s) receive no edge (the first: "
                             f"{int(np.flatnonzero(in_degree == 0)[0])}); allowed: every node with at least one "
                             "incoming edge (add self loops)")
        self.in_degree = in_degree.astype(np.float32)
        # GCN's symmetric normalisation 1/sqrt(deg_i deg_j), from in-degrees (equal to out-degrees on a
        # symmetric graph).
        self.gcn_norm = (1.0 / np.sqrt(self.in_degree[self.src] * self.in_degree[self.dst])).astype(np.float32)

    @property
    def num_edges(self) -> int:
        return len(self.src)

    @classmethod
    def with_self_loops(cls, src, dst, num_nodes: int) -> "GraphStructure":
        """The edges src -> dst (duplicates dropped) plus one self loop per node."""
        nodes = np.arange(num_nodes)
        pairs = np.unique(np.stack([np.concatenate([np.asarray(dst), nodes]),
                                    np.concatenate([np.asarray(src), nodes])], axis=1), axis=0)
        return cls(pairs[:, 1], pairs[:, 0], num_nodes)

    @classmethod
    def random(cls, num_nodes: int, num_edges: int, seed: int = 0) -> "GraphStructure":
        """A random graph of exactly `num_edges` edges, self loops included (for timing a layer's config)."""
        if num_edges < num_nodes:
            raise ValueError(f"num_edges={num_edges} must be at least num_nodes={num_nodes} (one self loop each)")
        rng = np.random.default_rng(seed)
        extra = num_edges - num_nodes
        src = np.concatenate([np.arange(num_nodes), rng.integers(0, num_nodes, extra)])
        dst = np.concatenate([np.arange(num_nodes), rng.integers(0, num_nodes, extra)])
        return cls(src, dst, num_nodes)


# ---------------------------------------------------------------------------
# Pure message-passing ops on [B, N, H, W] projections (B graphs on one structure).


def constant(array):
    """A host array as a traced value, not an XLA constant: behind an optimization barrier, XLA does not
    constant-fold the gathers and scatters of whole-graph arrays it feeds (which took seconds per compile)."""
    return jax.lax.optimization_barrier(jnp.asarray(array))


def _segment(op, values, graph: GraphStructure):
    """`op` (a jax.ops.segment_*) of per-edge values [B, E, ...] into their dst nodes: [B, N, ...]."""
    moved = jnp.moveaxis(values, 1, 0)
    out = op(moved, constant(graph.dst), num_segments=graph.num_nodes, indices_are_sorted=True)
    return jnp.moveaxis(out, 0, 1)


def edge_softmax(scores, graph: GraphStructure):
    """Softmax of per-edge scores [B, E, H] over the edges into each node."""
    peak = _segment(jax.ops.segment_max, scores, graph)
    dst = constant(graph.dst)
    weights = jnp.exp(scores - peak[:, dst])
    return weights / _segment(jax.ops.segment_sum, weights, graph)[:, dst]


def attention_scores(kind: str, z, vectors, graph: GraphStructure):
    """Per-edge, per-head coefficients [B, E, H] of attention `kind` from projections z [B, N, H, W]."""
    batch, _, heads, _ = z.shape
    if kind == "const":
        return jnp.ones((batch, graph.num_edges, heads), z.dtype)
    if kind == "gcn":
        return jnp.broadcast_to(constant(graph.gcn_norm)[None, :, None], (batch, graph.num_edges, heads))
    src, dst = constant(graph.src), constant(graph.dst)
    if kind == "gat":
        left, right = jnp.sum(z * vectors[0], -1), jnp.sum(z * vectors[1], -1)  # [B, N, H]
        scores = jax.nn.leaky_relu(left[:, dst] + right[:, src], _LEAKY_SLOPE)
    elif kind == "cos":
        scores = jnp.sum((z * vectors[0])[:, dst] * (z * vectors[1])[:, src], -1)
    elif kind == "linear":
        scores = jnp.tanh(jnp.sum(z * vectors[0], -1))[:, src]
    else:
        raise ValueError(f"unknown attention {kind!r}; allowed: {', '.join(ATTENTIONS)}")
    return edge_softmax(scores, graph)


def aggregate(kind: str, messages, graph: GraphStructure):
    """Per-edge messages [B, E, H, W] gathered at their dst nodes: [B, N, H, W]."""
    if kind == "sum":
        return _segment(jax.ops.segment_sum, messages, graph)
    if kind == "mean":
        return _segment(jax.ops.segment_sum, messages, graph) / constant(graph.in_degree)[None, :, None, None]
    if kind == "max":  # every node receives at least one edge (GraphStructure checks), so no -inf survives
        return _segment(jax.ops.segment_max, messages, graph)
    raise ValueError(f"unknown aggregation {kind!r}; allowed: {', '.join(AGGREGATIONS)}")


def head_weights(heads, size: int):
    """float [size]: the weight of each head in the mean over the active heads.

    Static or None: the mean over all `size` heads held. Traced: 1/h on the first h, 0 elsewhere.
    Relaxed: the expectation over the choices, sum_h P(h) [j < h] / h for head j.
    """
    if isinstance(heads, Relaxed):
        return heads.expect(lambda h: prefix_mask(h, size).astype(jnp.float32) / h)
    if is_traced(heads):
        return jnp.where(prefix_mask(heads, size), 1.0 / heads.astype(jnp.float32), 0.0)
    return jnp.full((size,), 1.0 / size, jnp.float32)


def _mask_heads(z, heads):
    """Zero the heads at or past a traced `heads` on axis -2 (relaxed: scale by P(heads > j))."""
    if isinstance(heads, Relaxed):
        return z * heads.expect(lambda h: prefix_mask(h, z.shape[-2]).astype(z.dtype))[:, None]
    if not is_traced(heads):
        return z
    return jnp.where(prefix_mask(heads, z.shape[-2])[:, None], z, jnp.zeros((), z.dtype))


def _traced_int(value) -> bool:
    return is_traced(value) and not isinstance(value, Relaxed)


def _choice_index(value, candidates: tuple):
    """A choice read from an arch (a name: fixed; an int or Relaxed index: traced or relaxed) as what
    `run_choice` takes; None (no arch: a standalone layer, or the supernet at full size): the last candidate,
    the costliest, as the supernet's largest subnet has it."""
    if value is None:
        return len(candidates) - 1
    if isinstance(value, str):
        if value not in candidates:
            raise ValueError(f"{value!r} is not a candidate here; allowed: {', '.join(candidates)}")
        return candidates.index(value)
    return value


def _candidates(choice, allowed: tuple, what: str) -> tuple:
    values = (choice,) if isinstance(choice, str) else tuple(choice.values) if isinstance(choice, OneOf) else None
    if values is None:
        raise ValueError(f"{what} must be a name or a OneOf of names, got {choice!r}")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; allowed: {', '.join(allowed)}")
    return values


class ElasticGraphLayer(nnx.Module):
    """One message-passing layer on `graph`; see the module docstring."""

    cost_type = "graph_layer"

    def __init__(self, in_size, width, heads, graph: GraphStructure, *, attention="gat", aggregation="sum",
                 activation="relu", rngs: nnx.Rngs):
        if not isinstance(graph, GraphStructure):
            raise ValueError(f"graph must be a GraphStructure, got {type(graph).__name__}")
        self.in_size, self.width, self.heads, self.graph = in_size, width, heads, graph
        self.attention, self.aggregation, self.activation = attention, aggregation, activation
        self.attentions = _candidates(attention, ATTENTIONS, "attention")
        self.aggregations = _candidates(aggregation, AGGREGATIONS, "aggregation")
        self.activations = _candidates(activation, ACTIVATIONS, "activation")
        in_features, self.max_width, self.max_heads = largest(in_size), largest(width), largest(heads)
        self.in_features = in_features
        shape = (in_features, self.max_heads, self.max_width)
        # PyTorch's default Linear init per head (fan-in = the input width); zero bias as GAT's.
        self.kernel = nnx.Param(init.variance_scaling(rngs, (in_features, self.max_heads * self.max_width), 1.0 / 3.0,
                                                      "fan_in", "uniform").reshape(shape))
        self.bias = nnx.Param(init.constant((self.max_width,), 0.0))
        # Glorot-uniform attention vectors, as GAT's.
        bound = (6.0 / (self.max_width + 1)) ** 0.5
        for kind, count in ATTENTION_VECTORS.items():
            vectors = (nnx.Param(init.uniform(rngs, (count, self.max_heads, self.max_width), bound))
                       if kind in self.attentions else None)
            setattr(self, f"attention_{kind}", vectors)

    def _vectors(self, kind: str, heads: int, width: int):
        return getattr(self, f"attention_{kind}")[...][:, :heads, :width] if kind in ATTENTION_VECTORS else None

    def __call__(self, x, width=None, heads=None, *, attention=None, aggregation=None, activation=None, arch=None,
                 switch: bool = False):
        """x [B, N, in] -> [B, N, width]. Sizes and choices: read from `arch` where declared, else as given
        (None: the full width and heads, the last candidate op). With `switch`, traced choices run switched:
        one `lax.switch` branch per (width, heads) pair, each at its static shapes (output zero-padded to the
        largest width, as masking leaves it), and only the chosen attention, aggregation and activation."""
        shape_trace.note(self, x)
        if x.ndim != 3 or x.shape[1] != self.graph.num_nodes:
            raise ValueError(f"graph layer input must be [batch, {self.graph.num_nodes} nodes, features]; "
                             f"got shape {tuple(x.shape)}")
        if arch is not None:
            width, heads = read(self.width, arch), read(self.heads, arch)
            attention, aggregation, activation = (read(c, arch) if isinstance(c, Declared) else None
                                                  for c in (self.attention, self.aggregation, self.activation))
        if switch and (_traced_int(width) or _traced_int(heads)):
            return self._switched_sizes(x, width, heads, attention, aggregation, activation)
        graph = self.graph
        w, h = static_width(width, self.max_width), static_width(heads, self.max_heads)
        z = jnp.einsum("bnf,fhw->bnhw", x, self.kernel[...][:x.shape[-1], :h, :w])
        z = _mask_heads(mask_last_axis(z, width), heads)

        def attend(kind):
            return lambda layer, z: attention_scores(kind, z, layer._vectors(kind, h, w), graph)
        scores = run_choice(_choice_index(attention, self.attentions), self, z,
                            [attend(kind) for kind in self.attentions], switch=switch, remat=True)
        messages = scores[..., None] * z[:, constant(graph.src)]  # [B, E, H, W]
        gathered = run_choice(_choice_index(aggregation, self.aggregations), self, messages,
                              [lambda layer, m, kind=kind: aggregate(kind, m, graph) for kind in self.aggregations],
                              switch=switch, remat=True)
        y = jnp.einsum("bnhw,h->bnw", gathered, head_weights(heads, h)) + self.bias[...][:w]
        y = run_choice(_choice_index(activation, self.activations), self, y,
                       [lambda layer, v, kind=kind: _ACTIVATION_FNS[kind](v) for kind in self.activations],
                       switch=switch)
        return mask_last_axis(y, width)

    def _switched_sizes(self, x, width, heads, attention, aggregation, activation):
        widths, head_counts = possible_values(self.width), possible_values(self.heads)
        index = choice_index(width, widths) * len(head_counts) + choice_index(heads, head_counts)

        def branch(w, h):
            def run(layer, x):
                y = layer(x, w, h, attention=attention, aggregation=aggregation, activation=activation, switch=True)
                return jnp.pad(y, ((0, 0), (0, 0), (0, layer.max_width - w)))
            return run
        return switch_block(index, self, x, [branch(w, h) for w in widths for h in head_counts], remat=True)

    # -- sliced lowering, derived cost and export (supernets.decisions) ---------------

    def sliced(self, in_width: int, width: int, heads: int, attention: str, aggregation: str,
               activation: str) -> "ElasticGraphLayer":
        layer = abstract(ElasticGraphLayer, in_width, width, heads, self.graph, attention=attention,
                         aggregation=aggregation, activation=activation)
        with_values(layer, kernel=self.kernel[...][:in_width, :heads, :width], bias=self.bias[...][:width])
        if attention in ATTENTION_VECTORS:
            with_values(layer, **{f"attention_{attention}": self._vectors(attention, heads, width)})
        return layer

    def active(self, values: Mapping) -> "ElasticGraphLayer":
        """The standalone layer of a fixed arch (decision values by name)."""
        def chosen(choice):
            return choice if isinstance(choice, str) else values[choice.name]
        return self.sliced(evaluate(self.in_size, values), evaluate(self.width, values), evaluate(self.heads, values),
                           chosen(self.attention), chosen(self.aggregation), chosen(self.activation))

    def cost_sizes(self) -> dict:
        # The attention sets multiply-adds and params; aggregation and activation add none.
        sizes = {"in": self.in_size, "width": self.width, "heads": self.heads}
        return {**sizes, "attention": self.attention} if isinstance(self.attention, Declared) else sizes

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        return {"type": self.cost_type, "nodes": self.graph.num_nodes, "edges": self.graph.num_edges,
                "in": sizes["in"], "width": sizes["width"], "heads": sizes["heads"],
                "attention": sizes.get("attention", self.attention)}

    @staticmethod
    def count_cost(c: dict) -> tuple[int, int]:
        """Multiply-adds of one forward over the whole graph, and params.

        Projection N*in*H*W; attention scores (gat: the two per-node dot products 2*N*H*W; cos: the two
        scalings 2*N*H*W and one dot product per edge E*H*W; linear: N*H*W; const and gcn: none);
        weighting the messages E*H*W (const: none); the mean over heads N*H*W. Sums, maxima and the
        softmax's exponentials are not multiply-adds (as norms and activations elsewhere).
        """
        nodes, edges, heads, width = c["nodes"], c["edges"], c["heads"], c["width"]
        per_node, per_edge = nodes * heads * width, edges * heads * width
        scores = {"const": 0, "gcn": 0, "gat": 2 * per_node, "cos": 2 * per_node + per_edge, "linear": per_node}
        macs = c["in"] * per_node + scores[c["attention"]] + (0 if c["attention"] == "const" else per_edge) + per_node
        params = c["in"] * heads * width + width + ATTENTION_VECTORS.get(c["attention"], 0) * heads * width
        return macs, params

    @staticmethod
    def build_for_cost(c: dict, rngs: nnx.Rngs):
        """The layer of one config on a random graph of the same node and edge counts (timing depends on those)."""
        graph = GraphStructure.random(c["nodes"], c["edges"])
        layer = ElasticGraphLayer(c["in"], c["width"], c["heads"], graph, attention=c["attention"], rngs=rngs)
        return layer, (c["nodes"], c["in"])
