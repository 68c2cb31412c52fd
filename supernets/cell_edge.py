"""One edge of a NAS-Bench-201 cell: none, skip, 3x3 average pool, or ReLU -> conv -> BN.

The two convolutions are entangled: `nor_conv_1x1` is the centre tap of the
`nor_conv_3x3` kernel, and both share the BatchNorm after it (as Once-for-All
shares a layer's BN across kernel sizes; exported subnets recalibrate it).
The other ops have no weights, so the edge is a single-path choice between
four branches (`supernets.choice.run_choice`): with a traced op every branch
runs and the chosen one is kept; with a fixed op only that op runs. Switched
(`switch=True`, `supernets.dispatch`), a traced op runs only its own branch at its
exact size: the masked function at about the sliced cost, one compile for all archs.

A relaxed op (differentiable search) is the DARTS mixed op over the four
branches, the two convolutions superposed into one (TangleNAS: the 3x3 kernel
under the expected centre mask, weighted by P(conv)); with `per_choice` each of
the five ops runs on its own.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from supernets import ops
from supernets.build import abstract
from supernets.choice import run_choice
from supernets.decisions import In, OneOf
from supernets.dispatch import call_op_choice
from supernets.elastic_conv import ElasticConv2d
from supernets.norms import ElasticBatchNorm
from supernets.pooling import avg_pool_same
from supernets.relaxed import Relaxed

# Cheapest first: a space's smallest() picks the first value and largest() the last.
# skip_connect precedes none (both cost nothing) so that the smallest subnet still computes.
EDGE_OPS = ("skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")
CONV_KERNELS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


class CellEdge(nnx.Module):
    """An edge holding the candidates `ops` (all of EDGE_OPS in a supernet, one in a subnet)."""

    def __init__(self, channels: int, ops: tuple[str, ...], *, op: OneOf | None = None, rngs: nnx.Rngs):
        """`op`: the declared decision choosing among `ops` (a supernet), or None (a subnet's one op)."""
        self.channels, self.ops, self.op = channels, tuple(ops), op
        kernels = [CONV_KERNELS[name] for name in self.ops if name in CONV_KERNELS]
        # The conv's kernel by op, for derived cost (ops without the conv read the largest kernel's).
        kernel = op.map(lambda name: CONV_KERNELS.get(name, max(kernels))) if op is not None and kernels else \
            (max(kernels) if kernels else None)
        self.conv = ElasticConv2d(channels, channels, kernel, rngs=rngs) if kernels else None
        self.bn = ElasticBatchNorm(channels) if kernels else None

    def conditioned_children(self):
        """For `supernets.decisions`: the op, then the conv and its norm, present while the op is a conv."""
        yield "op", self.op, ()
        condition = (In(self.op, tuple(CONV_KERNELS)),) if self.op is not None else ()
        yield "conv", self.conv, condition
        yield "bn", self.bn, condition

    def active(self, values) -> "CellEdge":
        return self.sliced(values[self.op.name])

    def run_op(self, op: str, x, train: bool):
        """The candidate `op` alone, at its exact size."""
        if op == "skip_connect":
            return x
        if op == "none":
            return jnp.zeros_like(x)
        if op == "avg_pool_3x3":
            return avg_pool_same(x, 3)
        return self._conv(x, CONV_KERNELS[op], train)

    def _conv(self, x, kernel_size, train: bool):
        return self.bn(self.conv(ops.relu(x), kernel_size=kernel_size), train=train)

    def __call__(self, x, *, train: bool, op=None, switch: bool = False):
        """`op`: None (the last held op), an op name (static), a traced index into EDGE_OPS (masked, or
        switched with `switch`) or a `Relaxed` one."""
        return call_op_choice(self, x, op, train=train, switch=switch, names=EDGE_OPS)

    def run_masked(self, x, op, train: bool):
        """A traced index: the conv branch runs the 3x3 kernel with its outer taps masked off for nor_conv_1x1."""
        conv_position = EDGE_OPS.index("nor_conv_1x1")
        kernel_size = jnp.where(op == conv_position, 1, 3)
        branches = [lambda edge, h, name=name: edge.run_op(name, h, train) for name in EDGE_OPS[:conv_position]]
        branches.append(lambda edge, h: edge._conv(h, kernel_size, train))
        return run_choice(jnp.minimum(op, conv_position), self, x, branches)

    def run_relaxed(self, x, op: Relaxed, train: bool):
        """`op` over indices into EDGE_OPS: every op's output weighted by its probability."""
        if op.per_choice:
            branches = [lambda edge, h, name=name: edge.run_op(name, h, train) for name in EDGE_OPS]
            return run_choice(op, self, x, branches)
        conv_position = EDGE_OPS.index("nor_conv_1x1")
        _, kernel_size = op.restrict(lambda index: index >= conv_position)
        kernel_size = kernel_size.map(lambda index: CONV_KERNELS[EDGE_OPS[index]])
        branches = [lambda edge, h, name=name: edge.run_op(name, h, train) for name in EDGE_OPS[:conv_position]]
        branches.append(lambda edge, h: edge._conv(h, kernel_size, train))
        return run_choice(op.map(lambda index: min(index, conv_position)), self, x, branches)

    def sliced(self, op: str) -> "CellEdge":
        edge = abstract(CellEdge, self.channels, (op,))
        if op in CONV_KERNELS:
            edge.conv = self.conv.sliced(self.channels, self.channels, CONV_KERNELS[op])
            edge.bn = self.bn.sliced(self.channels)
        return edge
