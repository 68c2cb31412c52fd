"""The Once-for-All MobileNetV3 space (5 elastic stages; depth, kernel, expand per block).

Same stages and choices as the reference implementation (../shared/peers/ofa/README.md):
first conv 3x3/2 -> fixed MBConv(expand 1) -> 5 stages of up to 4 MBConv blocks ->
1x1 expand -> global pool -> feature mix (no BN) -> classifier. Works on 28x28
(Fashion-MNIST) and 32x32 inputs; `width_mult` narrows every layer as OFA does.
Decisions: `s{1..5}.depth` in {2,3,4}; `s{s}.b{0..3}.kernel` in {3,5,7} and
`s{s}.b{b}.expand` in {3,4,6}, the slots past the smallest depth conditional on depth.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from flax import nnx

from nas.definition import SearchSpaceDefinition
from nas.space import AtLeast, Choice, Space
from supernets import ops
from supernets.build import abstract_from_config
from supernets.choice import run_per_choice
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from supernets.elastic_depth import run_elastic_depth
from supernets.dispatch import identity, switch_block
from supernets.masks import is_traced, lookup
from supernets.mbconv import MBConv
from supernets.norms import ElasticBatchNorm

NAME = "mobilenetv3"
# (output channels, stride of the first block, activation, squeeze-excite) per elastic stage.
STAGES = ((24, 2, "relu", False), (40, 2, "relu", True), (80, 2, "h_swish", False),
          (112, 1, "h_swish", True), (160, 2, "h_swish", True))
STEM, FIRST_BLOCK, FINAL_EXPAND, FEATURE_MIX = 16, 16, 960, 1280
DEFAULT_OPTIONS = {"kernels": (3, 5, 7), "expands": (3, 4, 6), "depths": (2, 3, 4), "width_mult": 1.0,
                   "in_channels": 3, "num_classes": 10, "kernel_transform": False,
                   "depthwise_implementation": "auto"}


def make_divisible(value: float, divisor: int = 8) -> int:
    """OFA's channel rounding: to a multiple of `divisor`, never below 90% of `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def decision(stage: int, slot: int, what: str) -> str:
    return f"s{stage}.b{slot}.{what}"


def make_space(kernels=(3, 5, 7), expands=(3, 4, 6), depths=(2, 3, 4), **_network_options) -> Space:
    decisions = []
    for stage in range(1, len(STAGES) + 1):
        depth = f"s{stage}.depth"
        decisions.append(Choice(depth, tuple(depths)))
        for slot in range(max(depths)):
            when = AtLeast(depth, slot + 1) if slot + 1 > min(depths) else None
            decisions.append(Choice(decision(stage, slot, "kernel"), tuple(kernels), when=when))
            decisions.append(Choice(decision(stage, slot, "expand"), tuple(expands), when=when))
    return Space(NAME, decisions, version=1)


def supernet_config(kernels=(3, 5, 7), expands=(3, 4, 6), depths=(2, 3, 4), width_mult=1.0,
                    in_channels=3, num_classes=10, kernel_transform=False,
                    depthwise_implementation="auto") -> dict:
    """The JSON config of the full supernet: every block at its largest, with the choice tables."""
    widths = [make_divisible(c * width_mult) for c, *_ in STAGES]
    stem = make_divisible(STEM * width_mult)
    first = make_divisible(FIRST_BLOCK * width_mult)
    stages, cin = [], first
    for (stride_act_se, cout) in zip(STAGES, widths):
        _, stride, act, se = stride_act_se
        blocks = []
        for slot in range(max(depths)):
            mids = {str(e): make_divisible(round(cin * e)) for e in expands}
            ses = {e: (make_divisible(mid // 4) if se else 0) for e, mid in mids.items()}
            blocks.append({"in_channels": cin, "out_channels": cout, "mid_channels": max(mids.values()),
                           "kernel_sizes": sorted(kernels), "stride": stride if slot == 0 else 1,
                           "activation": act, "se_channels": max(ses.values()),
                           "mid_by_expand": mids, "se_by_expand": ses})
            cin = cout
        stages.append(blocks)
    return {"kind": "supernet", "in_channels": in_channels, "num_classes": num_classes,
            "stem_channels": stem, "first_block_channels": first, "stages": stages,
            "head_in_channels": widths[-1],
            "final_expand_channels": make_divisible(STAGES[-1][0] * 6 * width_mult),
            "feature_mix_channels": make_divisible(FEATURE_MIX * width_mult),
            "kernel_transform": kernel_transform, "depthwise_implementation": depthwise_implementation}


class MobileNetV3(nnx.Module):
    """One class for the supernet and for its standalone subnets (built from a config).

    Called with `arch=None` every layer runs at its own size (a standalone
    subnet); with `arch` (decision values, traced or static) the masked lowering.
    """

    def __init__(self, config: Mapping, *, rngs: nnx.Rngs):
        self.config = dict(config)
        c = self.config
        dw_impl = c["depthwise_implementation"]
        self.stem = ElasticConv2d(c["in_channels"], c["stem_channels"], 3, stride=2, rngs=rngs)
        self.stem_bn = ElasticBatchNorm(c["stem_channels"])
        self.first_block = MBConv(c["stem_channels"], c["first_block_channels"], c["stem_channels"],
                                  kernel_sizes=(3,), stride=1, activation="relu", expand=False,
                                  depthwise_implementation=dw_impl, rngs=rngs)
        self.stages = nnx.List([
            nnx.List([MBConv(b["in_channels"], b["out_channels"], b["mid_channels"],
                             kernel_sizes=tuple(b["kernel_sizes"]), stride=b["stride"],
                             activation=b["activation"], se_channels=b["se_channels"],
                             kernel_transform=c.get("kernel_transform", False),
                             depthwise_implementation=dw_impl, rngs=rngs) for b in blocks])
            for blocks in c["stages"]])
        self.final_expand = ElasticConv2d(c["head_in_channels"], c["final_expand_channels"], 1, rngs=rngs)
        self.final_expand_bn = ElasticBatchNorm(c["final_expand_channels"])
        self.feature_mix = ElasticDense(c["final_expand_channels"], c["feature_mix_channels"],
                                        use_bias=False, rngs=rngs)
        self.classifier = ElasticDense(c["feature_mix_channels"], c["num_classes"], rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch: Mapping | None = None, switch: bool = False):
        """Logits of the supernet (`arch` None), of a subnet (`arch` values: traced or Python ints).

        With traced values and `switch`, each block runs only its chosen expand width
        (`supernets.dispatch`), instead of the masked largest width.
        """
        h = ops.h_swish(self.stem_bn(self.stem(x), train=train))
        h = self.first_block(h, train=train)
        for stage_index, blocks in enumerate(self.stages, start=1):
            tables = self.config["stages"][stage_index - 1]
            if arch is not None and switch and is_traced(arch[f"s{stage_index}.depth"]):
                h = self._switched_stage(stage_index, blocks, tables, h, arch, train)
                continue
            depth = None if arch is None else arch[f"s{stage_index}.depth"]

            def call_block(slot, block, h, stage_index=stage_index, tables=tables):
                if arch is None:
                    return block(h, train=train)

                def run(block, h, kernel, expand):
                    return block(h, train=train, kernel_size=kernel,
                                 mid=lookup(expand, _int_keys(tables[slot]["mid_by_expand"])),
                                 se=lookup(expand, _int_keys(tables[slot]["se_by_expand"])))
                # Relaxed decisions asking for the mixed-op form run the block once per (kernel, expand).
                return run_per_choice(block, h, run, kernel=arch[decision(stage_index, slot, "kernel")],
                                      expand=arch[decision(stage_index, slot, "expand")])

            h = run_elastic_depth(blocks, h, depth, call_block, min_depth=1)
        h = ops.h_swish(self.final_expand_bn(self.final_expand(h), train=train))
        h = ops.h_swish(self.feature_mix(ops.global_avg_pool(h)))
        return self.classifier(h)

    def _switched_stage(self, stage_index, blocks, tables, h, arch, train):
        """Each block: identity when depth skips it, else the branch of its expand ratio."""
        depth = arch[f"s{stage_index}.depth"]
        for slot, block in enumerate(blocks):
            table = tables[slot]
            expands = sorted(_int_keys(table["mid_by_expand"]))
            kernel = arch[decision(stage_index, slot, "kernel")]
            expand = arch[decision(stage_index, slot, "expand")]

            def branch(mid, se, kernel=kernel):
                return lambda block, h: block(h, train=train, kernel_size=kernel, mid=mid, se=se)
            branches = [branch(table["mid_by_expand"][str(e)], table["se_by_expand"][str(e)]) for e in expands]
            index = sum(jnp.where(expand == e, i, 0) for i, e in enumerate(expands))
            if slot >= 1:  # every stage runs its first block (as run_elastic_depth's min_depth=1 below)
                branches.insert(0, identity)
                index = jnp.where(slot < depth, index + 1, 0)
            h = switch_block(index, block, h, branches)
        return h

    def sort_channels(self) -> None:
        """Once-for-All's re-organisation: each elastic block keeps its most important channels first."""
        for blocks in self.stages:
            for block in blocks:
                block.sort_channels()

    def subnet_config(self, arch: Mapping) -> dict:
        """The config of the standalone subnet for `arch` (exact layer sizes, no choice tables)."""
        config = {k: v for k, v in self.config.items() if k != "stages"}
        config.update(kind="subnet", kernel_transform=False, stages=[])
        for stage_index, tables in enumerate(self.config["stages"], start=1):
            blocks = []
            for slot in range(arch[f"s{stage_index}.depth"]):
                table, expand = tables[slot], str(arch[decision(stage_index, slot, "expand")])
                blocks.append({"in_channels": table["in_channels"], "out_channels": table["out_channels"],
                               "mid_channels": table["mid_by_expand"][expand],
                               "kernel_sizes": [arch[decision(stage_index, slot, "kernel")]],
                               "stride": table["stride"], "activation": table["activation"],
                               "se_channels": table["se_by_expand"][expand]})
            config["stages"].append(blocks)
        return config

    def get_active_subnet(self, arch: Mapping) -> "MobileNetV3":
        """Sliced lowering: a standalone network of exactly the active shapes (copied weights)."""
        config = self.subnet_config(arch)
        # The fixed layers are the same for every arch (a cached abstract skeleton);
        # the blocks are sliced one by one below.
        subnet = abstract_from_config(MobileNetV3, {**config, "stages": [[] for _ in config["stages"]]})
        subnet.config = config
        subnet.stages = nnx.List([nnx.List([]) for _ in config["stages"]])
        for name in ("stem", "stem_bn", "first_block", "final_expand", "final_expand_bn",
                     "feature_mix", "classifier"):
            nnx.update(getattr(subnet, name), nnx.state(getattr(self, name)))
        for stage_index, (blocks, sub_blocks) in enumerate(zip(self.stages, subnet.stages), start=1):
            for slot, block_config in enumerate(config["stages"][stage_index - 1]):
                sub_blocks.append(blocks[slot].sliced(block_config["mid_channels"],
                                                      block_config["kernel_sizes"][0],
                                                      block_config["se_channels"]))
        return subnet


def _int_keys(table: Mapping) -> dict[int, int]:
    return {int(k): v for k, v in table.items()}


def build_supernet(space: Space, options: Mapping, rngs: nnx.Rngs) -> MobileNetV3:
    return MobileNetV3(supernet_config(**{k: options[k] for k in DEFAULT_OPTIONS if k in options}), rngs=rngs)


DEFINITION = SearchSpaceDefinition(
    name=NAME, make_space=make_space, build_supernet=build_supernet, default_options=DEFAULT_OPTIONS,
    options_for_images=lambda shape: {"in_channels": shape[-1]}, switch_execution=True)
