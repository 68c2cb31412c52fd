"""Cost layers of the MobileNetV3 space (`nas.hardware`): stem, first block, one layer per
elastic block slot (config chosen by its kernel and expand, present while the stage's depth
reaches it) and the head (final expand, pool, feature mix, classifier)."""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from nas.hardware import layer_counts as lc
from nas.hardware.cost_model import CostLayer, CostModel
from search_spaces.mobilenetv3 import DEFAULT_OPTIONS, decision, supernet_config
from supernets import ops
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from supernets.mbconv import MBConv
from supernets.norms import ElasticBatchNorm


def count(c: Mapping) -> tuple[int, int]:
    if c["type"] == "stem":
        return (lc.conv2d_macs(c["h"], c["w"], c["in"], c["out"], 3, 2),
                lc.conv2d_params(c["in"], c["out"], 3) + lc.norm_params(c["out"]))
    if c["type"] == "mbconv":
        return lc.mbconv(c["h"], c["w"], c["in"], c["out"], c["mid"], c["kernel"], c["stride"], c["se"], c["expand"])
    if c["type"] == "head":
        macs = (lc.pointwise_macs(c["h"], c["w"], c["in"], c["final"]) + lc.dense_macs(c["final"], c["mix"])
                + lc.dense_macs(c["mix"], c["classes"]))
        params = (lc.conv2d_params(c["in"], c["final"], 1) + lc.norm_params(c["final"])
                  + lc.dense_params(c["final"], c["mix"], bias=False) + lc.dense_params(c["mix"], c["classes"]))
        return macs, params
    raise ValueError(f"unknown MobileNetV3 cost layer type {c['type']!r}")


class Stem(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.conv = ElasticConv2d(c["in"], c["out"], 3, stride=2, rngs=rngs)
        self.bn = ElasticBatchNorm(c["out"])

    def __call__(self, x):
        return ops.h_swish(self.bn(self.conv(x), train=False))


class Block(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.block = MBConv(c["in"], c["out"], c["mid"], kernel_sizes=(c["kernel"],), stride=c["stride"],
                            activation=c["activation"], se_channels=c["se"], expand=c["expand"],
                            depthwise_implementation=c["depthwise"], rngs=rngs)

    def __call__(self, x):
        return self.block(x, train=False)


class Head(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.final_expand = ElasticConv2d(c["in"], c["final"], 1, rngs=rngs)
        self.final_expand_bn = ElasticBatchNorm(c["final"])
        self.feature_mix = ElasticDense(c["final"], c["mix"], use_bias=False, rngs=rngs)
        self.classifier = ElasticDense(c["mix"], c["classes"], rngs=rngs)

    def __call__(self, x):
        h = ops.h_swish(self.final_expand_bn(self.final_expand(x), train=False))
        return self.classifier(ops.h_swish(self.feature_mix(ops.global_avg_pool(h))))


_MODULES = {"stem": Stem, "mbconv": Block, "head": Head}


def build(config: Mapping, rngs: nnx.Rngs):
    return _MODULES[config["type"]](config, rngs), (config["h"], config["w"], config["in"])


def _block(h, w, table, kernel, expand, depthwise) -> dict:
    return {"type": "mbconv", "h": h, "w": w, "in": table["in_channels"], "out": table["out_channels"],
            "mid": table["mid_by_expand"][str(expand)], "kernel": int(kernel), "stride": table["stride"],
            "se": table["se_by_expand"][str(expand)], "activation": table["activation"], "expand": True,
            "depthwise": depthwise}


def cost_model(options: Mapping, image_shape: tuple[int, ...]) -> CostModel:
    config = supernet_config(**{k: options[k] for k in DEFAULT_OPTIONS if k in options})
    depths = tuple(options.get("depths", DEFAULT_OPTIONS["depths"]))
    depthwise = config["depthwise_implementation"]
    h, w = image_shape[0], image_shape[1]
    stem = {"type": "stem", "h": h, "w": w, "in": config["in_channels"], "out": config["stem_channels"]}
    layers = [CostLayer("stem", (), lambda: stem)]
    h, w = lc.conv_out_size(h, 3, 2), lc.conv_out_size(w, 3, 2)
    first = {"type": "mbconv", "h": h, "w": w, "in": config["stem_channels"], "out": config["first_block_channels"],
             "mid": config["stem_channels"], "kernel": 3, "stride": 1, "se": 0, "activation": "relu",
             "expand": False, "depthwise": depthwise}
    layers.append(CostLayer("first_block", (), lambda: first))
    for stage, tables in enumerate(config["stages"], start=1):
        for slot, table in enumerate(tables):
            present = tuple(d for d in depths if d > slot)
            layers.append(CostLayer(
                f"s{stage}.b{slot}", (decision(stage, slot, "kernel"), decision(stage, slot, "expand")),
                lambda k, e, h=h, w=w, table=table: _block(h, w, table, k, e, depthwise),
                active_if=None if len(present) == len(depths) else (f"s{stage}.depth", present)))
            # The spatial size after a block does not depend on its kernel (padding k // 2).
            h, w = lc.conv_out_size(h, 3, table["stride"]), lc.conv_out_size(w, 3, table["stride"])
    head = {"type": "head", "h": h, "w": w, "in": config["head_in_channels"], "final": config["final_expand_channels"],
            "mix": config["feature_mix_channels"], "classes": config["num_classes"]}
    layers.append(CostLayer("head", (), lambda: head))
    return CostModel(tuple(layers), count, build)
