"""Graph neural network space (Auto-GNN / GraphNAS-like): node classification on a k-NN graph of Fashion-MNIST.

The network holds the graph (`nas.graph_data`: 2,000 images as nodes, 64 PCA features, symmetric
8-nearest-neighbour links plus self loops) and classifies its nodes: an example's input is a node
index (float32, shape (1, 1, 1)), and every forward runs message passing over the whole graph, then
reads the asked nodes' rows. Up to `max_layers` message-passing layers (`supernets.graph_layer`), each
followed by LayerNorm over its active width (`--option norm=false` drops it), run in a stack of declared
depth, then a dense classifier. Decisions, per layer i:

  layer{i}.width        nested hidden width (the first w channels of each head)
  layer{i}.heads        number of attention heads (the first h), averaged
  layer{i}.attention    const | gcn | linear | gat | cos
  layer{i}.aggregation  mean | max | sum
  layer{i}.activation   identity | tanh | relu | leaky_relu | elu

(each list cheapest first: the smallest subnet takes the first values, the largest the last ones)

and `depth`, the number of layers that run (layers past the smallest depth exist only while the depth
reaches them). Weight sharing: within a layer the projection is shared by every attention,
aggregation and activation (a smaller width or fewer heads read its leading part); each weighted
attention has its own vectors. Space, multiply-adds and params (one forward over the whole graph) and
the standalone export are derived from the network.

`nas train --space gnn --data fashion-mnist-knn` trains it (20 labelled nodes per class).
"""
from __future__ import annotations

import dataclasses

from flax import nnx

from nas.declared_space import declared_space
from nas.errors import ConfigError
from nas.graph_data import NAME as GRAPH_NAME
from nas.graph_data import NODE_INPUT_SHAPE, fashion_mnist_knn_graph, node_indices
from nas.option_bounds import PositiveInt, PositiveInts
from supernets.decisions import Integer, NestedWidth, OneOf
from supernets.elastic_dense import ElasticDense
from supernets.elastic_stack import ElasticStack
from supernets.graph_layer import ACTIVATIONS, AGGREGATIONS, ATTENTIONS, ElasticGraphLayer, constant
from supernets.norms import ElasticLayerNorm

NAME = "gnn"


def _names(option: str, given, allowed: tuple) -> tuple:
    values = tuple(given)
    unknown = [v for v in values if v not in allowed]
    if not values or unknown:
        raise ConfigError(f"space {NAME!r}: option {option} holds {list(unknown) or 'nothing'}; allowed: a non-empty "
                          f"list of {', '.join(allowed)}")
    return values


class GraphBlock(nnx.Module):
    """A message-passing layer, then (with `norm`) LayerNorm over its active width.

    The norm keeps every subnet's scale in check: a sum over ~13 neighbours per layer (const attention,
    sum aggregation) otherwise grows activations by an order of magnitude per layer, and training
    diverged on such subnets within 25 steps.
    """

    def __init__(self, conv: ElasticGraphLayer, norm: bool):
        self.conv = conv
        self.norm = ElasticLayerNorm(conv.width) if norm else None

    def __call__(self, h, *, arch, switch: bool = False):
        h = self.conv(h, arch=arch, switch=switch)
        return h if self.norm is None else self.norm(h, arch=arch)


class GNN(nnx.Module):
    """The supernet (called with an `arch`) and, sliced, its standalone subnets (`arch=None`)."""

    def __init__(self, max_layers: int = 3, min_layers: int = 1, widths: PositiveInts = (16, 32, 48, 64), heads: PositiveInts = (1, 2, 4),
                 attentions=ATTENTIONS, aggregations=AGGREGATIONS, activations=ACTIVATIONS, norm: bool = True,
                 num_classes: PositiveInt = 10, *, rngs: nnx.Rngs):
        if not (isinstance(max_layers, int) and isinstance(min_layers, int) and 1 <= min_layers <= max_layers):
            raise ConfigError(f"space {NAME!r}: options min_layers={min_layers!r}, max_layers={max_layers!r}; "
                              "allowed: ints with 1 <= min_layers <= max_layers")
        attentions = _names("attentions", attentions, ATTENTIONS)
        aggregations = _names("aggregations", aggregations, AGGREGATIONS)
        activations = _names("activations", activations, ACTIVATIONS)
        graph = fashion_mnist_knn_graph()
        if num_classes != graph.num_classes:
            raise ConfigError(f"space {NAME!r}: num_classes={num_classes}, but graph {GRAPH_NAME!r} has "
                              f"{graph.num_classes} classes; allowed: {graph.num_classes}")
        # The graph's node features are constants of the network (baked into a compiled or exported model).
        self.graph = graph
        layers, size = [], graph.features.shape[1]
        for i in range(max_layers):
            width = NestedWidth(widths=tuple(widths), name=f"layer{i}.width")
            layers.append(GraphBlock(ElasticGraphLayer(
                size, width, OneOf(tuple(heads), name=f"layer{i}.heads"), graph.structure,
                attention=OneOf(attentions, name=f"layer{i}.attention"),
                aggregation=OneOf(aggregations, name=f"layer{i}.aggregation"),
                activation=OneOf(activations, name=f"layer{i}.activation"), rngs=rngs), norm))
            size = width
        self.layers = ElasticStack(layers, depth=Integer(min_layers, max_layers, name="depth"))
        self.head = ElasticDense(self.layers.out_size(lambda block: block.conv.width), num_classes, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None, switch: bool = False):
        """x: node indices [B, 1, 1, 1] (float32) -> logits [B, num_classes]. `switch`: a traced arch runs
        each layer at its chosen sizes and ops only, and skips the layers past its depth (`lax.switch`)."""
        del train  # no batch statistics, no dropout
        if tuple(x.shape[1:]) != NODE_INPUT_SHAPE:
            raise ConfigError(f"space {NAME!r} reads node indices of graph {GRAPH_NAME!r}, shape [batch, 1, 1, 1]; "
                              f"got inputs of shape {tuple(x.shape)}; use --data {GRAPH_NAME}")
        features = constant(self.graph.features)[None]  # [1, N, F]: the one graph, as a batch of one
        hidden = self.layers(features, arch, lambda block, h: block(h, arch=arch, switch=switch),
                             switch=switch)[0]  # [N, width]
        return self.head(hidden[node_indices(x, self.graph.num_nodes)])


def _options_for_inputs(shape) -> dict:
    """The inputs are node indices (1, 1, 1); anything else is refused with the data to use."""
    if tuple(shape) != NODE_INPUT_SHAPE:
        raise ConfigError(f"space {NAME!r} reads node indices of graph {GRAPH_NAME!r} (input shape 1,1,1), not "
                          f"images of {'x'.join(map(str, shape))}; use --data {GRAPH_NAME} (or --input-shape 1,1,1 "
                          "for a cost query)")
    return {}


# Deployed as trained: on node indices of its graph (the default input of `nas cost` and `nas latency`).
DEFINITION = dataclasses.replace(declared_space(NAME, GNN, options_for_inputs=_options_for_inputs,
                                                switch_execution=True),
                                 deployment_input_shape=NODE_INPUT_SHAPE)
