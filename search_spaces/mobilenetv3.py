"""The Once-for-All MobileNetV3 space (5 elastic stages; depth, kernel, expand per block).

Same stages and choices as the reference implementation (../shared/peers/ofa/README.md):
first conv 3x3/2 -> fixed MBConv(expand 1) -> 5 stages of up to 4 MBConv blocks ->
1x1 expand -> global pool -> feature mix (no BN) -> classifier. Works on 28x28
(Fashion-MNIST) and 32x32 inputs, and on OFA's 224x224x3 (its declared deployment input, the default
of latency collection: strides divide it by 32, then global pooling); `width_mult` narrows every
layer as OFA does.
Decisions: `s{1..5}.depth` in {2,3,4}; `s{s}.b{0..3}.kernel` in {3,5,7} and
`s{s}.b{b}.expand` in {3,4,6}, the slots past the smallest depth conditional on depth.
Each block declares its kernel and expand ratio and each stage its depth (`supernets.decisions`);
the space, cost and export are derived.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import nnx

from nas.declared_space import declared_space
from nas.option_bounds import NonNegativeInts, PositiveFloat, PositiveInt, PositiveInts, PositiveNumbers
from supernets import ops
from supernets.choice import run_per_choice
from supernets.decisions import OneOf
from supernets.dispatch import choice_index, identity, switch_block
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from supernets.elastic_stack import ElasticStack
from supernets.masks import is_traced, lookup
from supernets.mbconv import MBConv
from supernets.norms import ElasticBatchNorm

NAME = "mobilenetv3"
# (output channels, stride of the first block, activation, squeeze-excite) per elastic stage.
STAGES = ((24, 2, "relu", False), (40, 2, "relu", True), (80, 2, "h_swish", False),
          (112, 1, "h_swish", True), (160, 2, "h_swish", True))
STEM, FIRST_BLOCK, FINAL_EXPAND, FEATURE_MIX = 16, 16, 960, 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """OFA's channel rounding: to a multiple of `divisor`, never below 90% of `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def decision(stage: int, slot: int, what: str) -> str:
    return f"s{stage}.b{slot}.{what}"


class MobileNetV3(nnx.Module):
    """The supernet; called with `arch` (decision values, traced or Python ints) a subnet of it, and,
    sliced (`get_active_subnet`), a standalone subnet called with `arch=None`."""

    def __init__(self, kernels: PositiveInts = (3, 5, 7), expands: PositiveNumbers = (3, 4, 6),
                 depths: NonNegativeInts = (2, 3, 4), width_mult: PositiveFloat = 1.0, in_channels: PositiveInt = 3,
                 num_classes: PositiveInt = 10, kernel_transform: bool = False,
                 depthwise_implementation: str = "auto", *, rngs: nnx.Rngs):
        widths = [make_divisible(c * width_mult) for c, *_ in STAGES]
        stem, first = make_divisible(STEM * width_mult), make_divisible(FIRST_BLOCK * width_mult)
        self.stem = ElasticConv2d(in_channels, stem, 3, stride=2, rngs=rngs)
        self.stem_bn = ElasticBatchNorm(stem)
        self.first_block = MBConv(stem, first, stem, kernel_sizes=(3,), stride=1, activation="relu", expand=False,
                                  depthwise_implementation=depthwise_implementation, rngs=rngs)
        stages, cin = [], first
        for stage, ((_, stride, activation, se), cout) in enumerate(zip(STAGES, widths), start=1):
            blocks = []
            for slot in range(max(depths)):
                expand = OneOf(tuple(expands), name=decision(stage, slot, "expand"))
                mid = expand.map(lambda e, cin=cin: make_divisible(round(cin * e)))
                blocks.append(MBConv(
                    cin, cout, mid, kernel_sizes=OneOf(tuple(kernels), name=decision(stage, slot, "kernel")),
                    stride=stride if slot == 0 else 1, activation=activation,
                    se_channels=expand.map(lambda e, cin=cin, se=se: make_divisible(make_divisible(round(cin * e)) // 4)
                                           if se else 0),
                    kernel_transform=kernel_transform, depthwise_implementation=depthwise_implementation, rngs=rngs))
                cin = cout
            stages.append(ElasticStack(blocks, depth=OneOf(tuple(depths), name=f"s{stage}.depth")))
        self.stages = nnx.List(stages)
        final = make_divisible(STAGES[-1][0] * 6 * width_mult)
        mix = make_divisible(FEATURE_MIX * width_mult)
        self.final_expand = ElasticConv2d(widths[-1], final, 1, rngs=rngs)
        self.final_expand_bn = ElasticBatchNorm(final)
        self.feature_mix = ElasticDense(final, mix, use_bias=False, rngs=rngs)
        self.classifier = ElasticDense(mix, num_classes, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None, switch: bool = False):
        """Logits of the supernet (`arch` None), of a subnet (`arch` values: traced or Python ints).

        With traced values and `switch`, each block runs only its chosen expand width
        (`supernets.dispatch`) and kernel size, instead of the masked largest ones.
        """
        h = ops.h_swish(self.stem_bn(self.stem(x), train=train))
        h = self.first_block(h, train=train)
        for stage in self.stages:
            if arch is not None and switch and is_traced(stage.depth.of(arch)):
                h = self._switched_stage(stage, h, arch, train)
                continue

            def call_block(block, h):
                if arch is None:
                    return block(h, train=train)

                def run(block, h, kernel, expand):
                    return block(h, train=train, kernel_size=kernel, mid=lookup(expand, dict(block.mid_size.table)),
                                 se=lookup(expand, dict(block.se_size.table)))
                # Relaxed decisions asking for the mixed-op form run the block once per (kernel, expand).
                return run_per_choice(block, h, run, kernel=block.kernel_choice.of(arch),
                                      expand=block.mid_size.source.of(arch))

            h = stage(h, arch, call_block)
        h = ops.h_swish(self.final_expand_bn(self.final_expand(h), train=train))
        h = ops.h_swish(self.feature_mix(ops.global_avg_pool(h)))
        return self.classifier(h)

    def _switched_stage(self, stage: ElasticStack, h, arch, train):
        """Each block: identity when depth skips it, else the branch of its expand ratio."""
        depth = stage.depth.of(arch)
        for slot, block in enumerate(stage.blocks):
            mids, ses = dict(block.mid_size.table), dict(block.se_size.table)
            expands = sorted(mids)
            kernel, expand = block.kernel_choice.of(arch), block.mid_size.source.of(arch)

            def branch(mid, se, kernel=kernel):
                return lambda block, h: block(h, train=train, kernel_size=kernel, mid=mid, se=se, switch=True)
            branches = [branch(mids[e], ses[e]) for e in expands]
            index = choice_index(expand, expands)
            if slot >= stage.min_depth:  # the blocks every depth runs have no identity branch
                branches.insert(0, identity)
                index = jnp.where(slot < depth, index + 1, 0)
            h = switch_block(index, block, h, branches, remat=True)
        return h

    def sort_channels(self) -> None:
        """Once-for-All's re-organisation: each elastic block keeps its most important channels first."""
        for stage in self.stages:
            stage.sort_channels()


DEFINITION = dataclasses.replace(
    declared_space(NAME, MobileNetV3, options_for_inputs=lambda shape: {"in_channels": shape[-1]},
                   switch_execution=True),
    deployment_input_shape=(224, 224, 3))  # OFA's ImageNet input: /32 by strides, then global pooling
