"""The message-passing layer (supernets/graph_layer.py): graph structure, op semantics against numpy, masked vs
sliced agreement over every attention, aggregation and activation, relaxed one-hot = masked, and its cost."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from supernets.decisions import NestedWidth, OneOf, name_decisions
from supernets.graph_layer import (ACTIVATIONS, AGGREGATIONS, ATTENTIONS, ElasticGraphLayer, GraphStructure, aggregate,
                                   attention_scores)
from supernets.relaxed import Relaxed

NODES = 12


def ring_graph():
    """Each node i links both ways to i+1 and i+3 (mod NODES), plus self loops: in-degrees 5."""
    nodes = np.arange(NODES)
    src = np.concatenate([nodes, nodes, (nodes + 1) % NODES, (nodes + 3) % NODES])
    dst = np.concatenate([(nodes + 1) % NODES, (nodes + 3) % NODES, nodes, nodes])
    return GraphStructure.with_self_loops(src, dst, NODES)


class Holder(nnx.Module):
    """A network of one layer, so that its decisions get names."""

    def __init__(self, graph, rngs):
        self.layer = ElasticGraphLayer(6, NestedWidth(widths=(3, 5, 8)), OneOf((1, 2, 3)), graph,
                                       attention=OneOf(ATTENTIONS), aggregation=OneOf(AGGREGATIONS),
                                       activation=OneOf(ACTIVATIONS), rngs=rngs)

    def __call__(self, x, *, arch=None):
        return self.layer(x, arch=arch)


def perturbed_holder(graph, seed=0):
    holder = Holder(graph, nnx.Rngs(seed))
    space = name_decisions(holder, "graph-layer-test")
    rng = np.random.default_rng(seed)
    for _, variable in nnx.iter_graph(holder):
        if isinstance(variable, nnx.Param):
            variable.set_value(jnp.asarray(variable[...] + 0.3 * rng.normal(size=variable.shape), jnp.float32))
    return space, holder


def test_structure_adds_self_loops_sorts_by_destination_and_normalises_like_gcn():
    graph = GraphStructure.with_self_loops([0, 1, 1, 2], [1, 0, 2, 1], 3)
    assert list(zip(graph.src, graph.dst)) == [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (1, 2), (2, 2)]
    np.testing.assert_array_equal(graph.in_degree, [2, 3, 2])
    np.testing.assert_allclose(graph.gcn_norm[1], 1 / np.sqrt(3 * 2))  # edge 1 -> 0: deg 3 and 2


def test_a_node_without_incoming_edges_is_refused():
    with pytest.raises(ValueError, match="1 node.*receive no edge.*the first: 2.*add self loops"):
        GraphStructure([0, 1], [1, 0], 3)
    with pytest.raises(ValueError, match=r"edge endpoints must lie in \[0, 3\)"):
        GraphStructure([0, 3], [1, 0], 3)


def test_attention_and_aggregation_match_numpy_on_a_small_graph():
    graph = ring_graph()
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1, NODES, 2, 4)).astype(np.float32)
    vectors = rng.normal(size=(2, 2, 4)).astype(np.float32)
    src, dst = graph.src, graph.dst
    # GAT: softmax over the edges into each node of LeakyReLU(a_l . z_i + a_r . z_j).
    raw = np.einsum("ehw,hw->eh", z[0, dst], vectors[0]) + np.einsum("ehw,hw->eh", z[0, src], vectors[1])
    raw = np.where(raw > 0, raw, 0.2 * raw)
    want = np.exp(raw) / np.stack([np.exp(raw)[dst == d].sum(0) for d in dst])
    got = np.asarray(attention_scores("gat", jnp.asarray(z), jnp.asarray(vectors), graph))[0]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for kind in ("linear", "gat", "cos"):  # softmax attentions: coefficients into each node sum to 1
        scores = np.asarray(attention_scores(kind, jnp.asarray(z), jnp.asarray(vectors), graph))[0]
        np.testing.assert_allclose(np.stack([scores[dst == d].sum(0) for d in range(NODES)]), 1.0, rtol=1e-5)
    messages = rng.normal(size=(1, len(src), 2, 4)).astype(np.float32)
    for kind, reduce in (("sum", np.sum), ("mean", np.mean), ("max", np.max)):
        want = np.stack([reduce(messages[0][dst == d], axis=0) for d in range(NODES)])
        np.testing.assert_allclose(np.asarray(aggregate(kind, jnp.asarray(messages), graph))[0], want, rtol=1e-5,
                                   atol=1e-6)


def test_masked_static_and_sliced_agree_for_every_attention_aggregation_and_activation():
    graph = ring_graph()
    space, holder = perturbed_holder(graph)
    graphdef, state = nnx.split(holder)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(1, NODES, 6)), jnp.float32)
    masked = jax.jit(lambda state, values: nnx.merge(graphdef, state)(x, arch=values))
    # Every attention, aggregation and activation at least once (the ops compose independently: scores, then
    # weighted messages, then their aggregate, then the activation), with widths and heads cycling.
    aggregations, widths, heads = itertools.cycle(AGGREGATIONS), itertools.cycle((3, 5, 8)), itertools.cycle((2, 1, 3))
    combos = [(attention, next(aggregations), activation) for attention, activation in zip(ATTENTIONS, ACTIVATIONS)]
    worst = 0.0
    for attention, aggregation, activation in combos:
        arch = space.validate({"layer.width": next(widths), "layer.heads": next(heads), "layer.attention": attention,
                               "layer.aggregation": aggregation, "layer.activation": activation})
        got = masked(state, space.values(arch.to_vector()))
        sliced = holder.layer.active(dict(arch))(x)
        static = holder(x, arch=dict(arch))
        width = arch["layer.width"]
        assert sliced.shape == (1, NODES, width)
        assert not np.any(np.asarray(got[..., width:])), f"{arch}: inactive channels are not zero"
        for other in (got[..., :width], static):
            worst = max(worst, float(jnp.max(jnp.abs(other - sliced))))
    assert worst <= 1e-5, worst


def test_relaxed_one_hot_choices_equal_the_masked_lowering():
    space, holder = perturbed_holder(ring_graph(), seed=3)
    x = jnp.asarray(np.random.default_rng(2).normal(size=(1, NODES, 6)), jnp.float32)
    arch = space.validate({"layer.width": 5, "layer.heads": 2, "layer.attention": "gat", "layer.aggregation": "max",
                           "layer.activation": "elu"})
    traced = space.values(arch.to_vector())
    relaxed = {}
    for decision in space.decisions:
        count = len(decision.values)
        index = decision.values.index(arch[decision.name])
        # Values as a traced arch reads them: the value for ints, the choice index for names.
        values = decision.values if all(isinstance(v, int) for v in decision.values) else tuple(range(count))
        relaxed[decision.name] = Relaxed(values, jax.nn.one_hot(index, count))
    np.testing.assert_allclose(holder(x, arch=relaxed), holder(x, arch=traced), atol=1e-5)


def test_cost_counts_the_sliced_layers_params_and_builds_a_timed_layer():
    graph = ring_graph()
    _, holder = perturbed_holder(graph)
    for attention in ATTENTIONS:
        values = {"layer.width": 5, "layer.heads": 2, "layer.attention": attention, "layer.aggregation": "sum",
                  "layer.activation": "relu"}
        sliced = holder.layer.active(values)
        config = sliced.cost_config(sliced.cost_sizes(), (1, NODES, 6))
        macs, params = ElasticGraphLayer.count_cost(config)
        assert params == sum(int(leaf.size) for leaf in jax.tree.leaves(nnx.state(sliced, nnx.Param)))
        projection, per_edge = 6 * NODES * 2 * 5, graph.num_edges * 2 * 5
        weighting = 0 if attention == "const" else per_edge
        scores = {"const": 0, "gcn": 0, "linear": NODES * 10, "gat": 2 * NODES * 10, "cos": 2 * NODES * 10 + per_edge}
        assert macs == projection + scores[attention] + weighting + NODES * 10
    layer, shape = ElasticGraphLayer.build_for_cost(config, nnx.Rngs(0))
    assert shape == (NODES, 6) and layer(jnp.zeros((2, *shape))).shape == (2, NODES, 5)
