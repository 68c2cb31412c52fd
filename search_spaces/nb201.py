"""The NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 ops per edge, 5^6 = 15,625 archs.

Node 0 is the cell input; node j (1..3) sums `op(node i)` over its edges from
every earlier node i; node 3 is the cell output. Every cell of the network uses
the same cell. Edge ops (`supernets.cell_edge`): none, skip_connect,
nor_conv_1x1 (the centre of nor_conv_3x3, entangled), nor_conv_3x3, avg_pool_3x3.

The network is NAS-Bench-201's: stem conv 3x3 -> BN, N cells of C channels,
a residual reduction block (stride 2, 2C), N cells, reduction (4C), N cells,
BN -> ReLU -> global pool -> classifier; C = 16 and N = 5 in the benchmark.

Decisions are `node{j}.from{i}`, declared once by the network and shared by every cell's edges
(`supernets.decisions`); the space, cost and export are derived. `to_nb201_string` and `from_nb201_string`
read and write the benchmark's arch string, e.g.
`|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`.
"""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from nas.declared_space import declared_space
from nas.errors import WeftError
from nas.space import Arch, Space
from nas.option_bounds import PositiveInt
from supernets import ops
from supernets.cell_edge import EDGE_OPS, CellEdge
from supernets.decisions import OneOf
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from supernets.masks import is_traced
from supernets.norms import ElasticBatchNorm
from supernets.pooling import avg_pool_down

NAME = "nb201"
NODES = 4
EDGES = tuple((j, i) for j in range(1, NODES) for i in range(j))  # (to, from), in the arch string's order


class NB201StringError(WeftError):
    """A NAS-Bench-201 arch string is malformed."""


def edge_name(to: int, source: int) -> str:
    return f"node{to}.from{source}"


def to_nb201_string(arch: Mapping) -> str:
    """The NAS-Bench-201 arch string of `arch`."""
    nodes = ["|" + "|".join(f"{arch[edge_name(j, i)]}~{i}" for i in range(j)) + "|" for j in range(1, NODES)]
    return "+".join(nodes)


def from_nb201_string(space: Space, text: str) -> Arch:
    """The arch a NAS-Bench-201 arch string describes; NB201StringError names what is wrong."""
    def fail(problem: str) -> NB201StringError:
        return NB201StringError(f"NAS-Bench-201 arch string {text!r}: {problem}")

    if not isinstance(text, str):
        raise NB201StringError(f"a NAS-Bench-201 arch string must be a str, got {type(text).__name__}")
    nodes = text.split("+")
    if len(nodes) != NODES - 1:
        raise fail(f"has {len(nodes)} node groups joined by '+'; allowed: exactly {NODES - 1}, "
                   "as |op~0|+|op~0|op~1|+|op~0|op~1|op~2|")
    decisions = {}
    for j, group in enumerate(nodes, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise fail(f"node {j} group {group!r} must start and end with '|'")
        tokens = group[1:-1].split("|")
        if len(tokens) != j:
            raise fail(f"node {j} has {len(tokens)} inputs {tokens}; allowed: exactly {j} (op~0 .. op~{j - 1})")
        for i, token in enumerate(tokens):
            op, tilde, source = token.partition("~")
            if not tilde or source != str(i):
                raise fail(f"token {token!r} at node {j}, position {i}; allowed: op~{i}")
            if op not in EDGE_OPS:
                raise fail(f"unknown op {op!r} in token {token!r}; allowed ops: {', '.join(sorted(EDGE_OPS))}")
            decisions[edge_name(j, i)] = op
    return space.validate(decisions)


class ReductionBlock(nnx.Module):
    """NAS-Bench-201's ResNet basic block: ReLU-conv3x3/2-BN, ReLU-conv3x3-BN, + avgpool2 -> conv1x1."""

    def __init__(self, in_channels: int, out_channels: int, *, rngs: nnx.Rngs):
        self.conv_a = ElasticConv2d(in_channels, out_channels, 3, stride=2, rngs=rngs)
        self.bn_a = ElasticBatchNorm(out_channels)
        self.conv_b = ElasticConv2d(out_channels, out_channels, 3, rngs=rngs)
        self.bn_b = ElasticBatchNorm(out_channels)
        self.shortcut = ElasticConv2d(in_channels, out_channels, 1, rngs=rngs)

    def __call__(self, x, *, train: bool):
        h = self.bn_a(self.conv_a(ops.relu(x)), train=train)
        h = self.bn_b(self.conv_b(ops.relu(h)), train=train)
        return h + self.shortcut(avg_pool_down(x, 2))


class Cell(nnx.Module):
    def __init__(self, channels: int, edge_ops: tuple[OneOf, ...], *, rngs: nnx.Rngs):
        """`edge_ops`: the declared op of each edge, in EDGES order (the same decisions in every cell)."""
        self.edges = nnx.List([CellEdge(channels, EDGE_OPS, op=op, rngs=rngs) for op in edge_ops])

    def __call__(self, x, *, train: bool, arch: Mapping | None, switch: bool = False):
        nodes = [x]
        for j in range(1, NODES):
            total = None
            for edge, (to, i) in zip(self.edges, EDGES):
                if to != j:
                    continue
                op = None if edge.op is None else edge.op.of(arch)
                y = edge(nodes[i], train=train, op=op, switch=switch and is_traced(op))
                total = y if total is None else total + y
            nodes.append(total)
        return nodes[-1]


class NB201Network(nnx.Module):
    """The supernet (every edge holds every op); sliced, its standalone subnets (one op per edge)."""

    def __init__(self, channels: PositiveInt = 16, cells_per_stage: PositiveInt = 5, in_channels: PositiveInt = 3,
                 num_classes: PositiveInt = 10, *,
                 rngs: nnx.Rngs):
        self.edge_ops = tuple(OneOf(EDGE_OPS, name=edge_name(j, i)) for j, i in EDGES)
        widths = [channels, 2 * channels, 4 * channels]
        self.stem = ElasticConv2d(in_channels, widths[0], 3, rngs=rngs)
        self.stem_bn = ElasticBatchNorm(widths[0])
        self.stages = nnx.List([nnx.List([Cell(width, self.edge_ops, rngs=rngs) for _ in range(cells_per_stage)])
                                for width in widths])
        self.reductions = nnx.List([ReductionBlock(a, b, rngs=rngs) for a, b in zip(widths, widths[1:])])
        self.last_bn = ElasticBatchNorm(widths[-1])
        self.classifier = ElasticDense(widths[-1], num_classes, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch: Mapping | None = None, switch: bool = False):
        """`switch`: a traced arch runs only each edge's chosen op (`nas train --execution switch`)."""
        h = self.stem_bn(self.stem(x), train=train)
        for index, cells in enumerate(self.stages):
            if index:
                h = self.reductions[index - 1](h, train=train)
            for cell in cells:
                h = cell(h, train=train, arch=arch, switch=switch)
        h = ops.relu(self.last_bn(h, train=train))
        return self.classifier(ops.global_avg_pool(h))


DEFINITION = declared_space(NAME, NB201Network, switch_execution=True)
