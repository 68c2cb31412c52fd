"""The NAS-Bench-Macro space: a chain of 8 single-path layers, 3^8 = 6561 archs.

As the benchmark (Su et al., CVPR 2021): stem conv 3x3 -> BN -> ReLU, then three
stages of 2, 3 and 3 searchable layers (the first of each stride 2, doubling the
channels: 32 -> 64 -> 128 -> 256), then 1x1 conv to 1280 -> BN -> ReLU -> global
pool -> classifier. Each layer `layer{i}` is one of

* `identity`: the input itself, or a 1x1 conv stride s -> BN where the shape changes;
* `mb3_k3`: MobileNetV2 block (ReLU, no squeeze-excite), expand 3, depthwise 3x3;
* `mb6_k5`: the same block, expand 6, depthwise 5x5.

The two blocks of a layer are one entangled MBConv: `mb3_k3` uses its first 3C
inner channels and the centre 3x3 of the 5x5 depthwise kernel (Once-for-All).
Every decision is always active (single-path), so FairNAS strict fairness applies.
Each layer declares its op (`supernets.decisions`); the space, cost and export are derived.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from nas.declared_space import declared_space
from nas.option_bounds import NonNegativeInts, PositiveInt
from supernets import ops
from supernets.build import abstract
from supernets.choice import run_choice
from supernets.decisions import In, OneOf
from supernets.dispatch import call_op_choice
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from supernets.masks import is_traced
from supernets.mbconv import MBConv
from supernets.norms import ElasticBatchNorm
from supernets.relaxed import Relaxed

NAME = "macro_chain"
# Cheapest first: `smallest()` is all identity, `largest()` all mb6_k5.
OPS = ("identity", "mb3_k3", "mb6_k5")
BLOCKS = {"mb3_k3": (3, 3), "mb6_k5": (6, 5)}  # op -> (expand ratio, depthwise kernel)


def layer_name(index: int) -> str:
    return f"layer{index}"


class ChainLayer(nnx.Module):
    """One searchable layer holding the candidates in `ops` (all of OPS in the supernet, one in a subnet)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, ops: tuple[str, ...], *,
                 op: OneOf | None = None, rngs: nnx.Rngs):
        """`op`: the declared decision choosing among `ops` (the supernet), or None (a subnet's one op)."""
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.ops, self.op = tuple(ops), op
        self.reshapes = stride != 1 or in_channels != out_channels
        downsample = "identity" in self.ops and self.reshapes
        self.downsample = ElasticConv2d(in_channels, out_channels, 1, stride=stride, rngs=rngs) if downsample else None
        self.downsample_bn = ElasticBatchNorm(out_channels) if downsample else None
        blocks = [BLOCKS[op] for op in self.ops if op in BLOCKS]
        largest_block = max(blocks) if blocks else None
        mid, kernels = in_channels * max(e for e, _ in blocks) if blocks else 0, tuple(sorted({k for _, k in blocks}))
        if op is not None:  # sizes by op, for derived cost (an op without the block reads the largest's)
            mid = op.map(lambda name: in_channels * BLOCKS.get(name, largest_block)[0])
            kernels = op.map(lambda name: BLOCKS.get(name, largest_block)[1])
        self.mbconv = MBConv(in_channels, out_channels, mid, kernel_sizes=kernels, stride=stride,
                             activation="relu", rngs=rngs) if blocks else None

    def conditioned_children(self):
        """For `supernets.decisions`: the op, then each candidate's layers, present while the op picks it."""
        yield "op", self.op, ()
        for key, candidates in (("downsample", ("identity",)), ("downsample_bn", ("identity",)),
                                ("mbconv", tuple(BLOCKS))):
            condition = (In(self.op, candidates),) if self.op is not None else ()
            yield key, getattr(self, key), condition

    def active(self, values) -> "ChainLayer":
        return self.sliced(values[self.op.name])

    def mid(self, op: str) -> int:
        return self.in_channels * BLOCKS[op][0]

    def run_op(self, op: str, x, train: bool):
        """The candidate `op` alone, at its exact size."""
        if op == "identity":
            return self.downsample_bn(self.downsample(x), train=train) if self.reshapes else x
        return self.mbconv(x, train=train, mid=self.mid(op), kernel_size=BLOCKS[op][1])

    def __call__(self, x, *, train: bool, op=None, switch: bool = False):
        """`op`: None (the largest held), an op name (static), a traced index into OPS (masked, or switched
        with `switch`) or a `Relaxed` one."""
        return call_op_choice(self, x, op, train=train, switch=switch, names=OPS)

    def run_masked(self, x, op, train: bool):
        """A traced index: identity, or the entangled block at the chosen width and kernel (masked to it)."""
        mid = jnp.where(op == OPS.index("mb3_k3"), self.mid("mb3_k3"), self.mid("mb6_k5"))
        kernel = jnp.where(op == OPS.index("mb3_k3"), BLOCKS["mb3_k3"][1], BLOCKS["mb6_k5"][1])
        branches = [lambda layer, h: layer.run_op("identity", h, train),
                    lambda layer, h: layer.mbconv(h, train=train, mid=mid, kernel_size=kernel)]
        return run_choice(jnp.where(op == OPS.index("identity"), 0, 1), self, x, branches)

    def run_relaxed(self, x, op: Relaxed, train: bool):
        """`op` over indices into OPS: identity mixed with the block, whose two ops are superposed
        (their expand widths' and kernels' masks weighted), or with `per_choice` every op on its own."""
        if op.per_choice:
            return run_choice(op, self, x, [lambda layer, h, name=name: layer.run_op(name, h, train)
                                            for name in OPS])
        _, block = op.restrict(lambda index: OPS[index] in BLOCKS)
        mid = block.map(lambda index: self.mid(OPS[index]))
        kernel = block.map(lambda index: BLOCKS[OPS[index]][1])
        branches = [lambda layer, h: layer.run_op("identity", h, train),
                    lambda layer, h: layer.mbconv(h, train=train, mid=mid, kernel_size=kernel)]
        return run_choice(op.map(lambda index: int(OPS[index] in BLOCKS)), self, x, branches)

    def sliced(self, op: str) -> "ChainLayer":
        layer = abstract(ChainLayer, self.in_channels, self.out_channels, self.stride, (op,))
        if op == "identity" and self.reshapes:
            layer.downsample = self.downsample.sliced(self.in_channels, self.out_channels)
            layer.downsample_bn = self.downsample_bn.sliced(self.out_channels)
        elif op in BLOCKS:
            layer.mbconv = self.mbconv.sliced(self.mid(op), BLOCKS[op][1], 0)
        return layer


class MacroChain(nnx.Module):
    """The supernet (every layer holds all of OPS); sliced, its standalone subnets (one op per layer)."""

    def __init__(self, stages: NonNegativeInts = (2, 3, 3), init_channels: PositiveInt = 32, head_channels: PositiveInt = 1280,
                 in_channels: PositiveInt = 3, num_classes: PositiveInt = 10, *, rngs: nnx.Rngs):
        self.stem = ElasticConv2d(in_channels, init_channels, 3, rngs=rngs)
        self.stem_bn = ElasticBatchNorm(init_channels)
        layers, channels = [], init_channels
        for stage in stages:
            for index in range(stage):
                out = channels * 2 if index == 0 else channels
                layers.append(ChainLayer(channels, out, 2 if index == 0 else 1, OPS,
                                         op=OneOf(OPS, name=layer_name(len(layers))), rngs=rngs))
                channels = out
        self.layers = nnx.List(layers)
        self.head = ElasticConv2d(channels, head_channels, 1, rngs=rngs)
        self.head_bn = ElasticBatchNorm(head_channels)
        self.classifier = ElasticDense(head_channels, num_classes, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None, switch: bool = False):
        h = ops.relu(self.stem_bn(self.stem(x), train=train))
        for layer in self.layers:
            op = layer.op.of(arch) if layer.op is not None else None
            h = layer(h, train=train, op=op, switch=switch and is_traced(op))
        h = ops.relu(self.head_bn(self.head(h), train=train))
        return self.classifier(ops.global_avg_pool(h))

    def sort_channels(self) -> None:
        """Each block's inner channels by importance (OFA), so mb3_k3 keeps the most important third."""
        for layer in self.layers:
            if layer.mbconv is not None:
                layer.mbconv.sort_channels()


DEFINITION = declared_space(NAME, MacroChain, switch_execution=True)
