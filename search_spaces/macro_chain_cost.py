"""Cost layers of the NAS-Bench-Macro chain (`nas.hardware`): the stem, one layer per searchable
layer (config chosen by its op) and the head (1x1 conv, pool, classifier)."""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from nas.hardware import layer_counts as lc
from nas.hardware.cost_model import CostLayer, CostModel
from search_spaces.macro_chain import BLOCKS, DEFAULT_OPTIONS, ChainLayer, layer_name, supernet_config
from supernets import ops
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from supernets.norms import ElasticBatchNorm


def count(c: Mapping) -> tuple[int, int]:
    if c["type"] == "stem":
        return (lc.conv2d_macs(c["h"], c["w"], c["in"], c["out"], 3, 1),
                lc.conv2d_params(c["in"], c["out"], 3) + lc.norm_params(c["out"]))
    if c["type"] == "layer":
        if c["op"] in BLOCKS:
            expand, kernel = BLOCKS[c["op"]]
            return lc.mbconv(c["h"], c["w"], c["in"], c["out"], c["in"] * expand, kernel, c["stride"])
        if c["stride"] != 1 or c["in"] != c["out"]:  # identity that reshapes: 1x1 conv stride s -> BN
            return (lc.pointwise_macs(c["h"], c["w"], c["in"], c["out"], c["stride"]),
                    lc.conv2d_params(c["in"], c["out"], 1) + lc.norm_params(c["out"]))
        return 0, 0
    if c["type"] == "head":
        return (lc.pointwise_macs(c["h"], c["w"], c["in"], c["head"]) + lc.dense_macs(c["head"], c["classes"]),
                lc.conv2d_params(c["in"], c["head"], 1) + lc.norm_params(c["head"])
                + lc.dense_params(c["head"], c["classes"]))
    raise ValueError(f"unknown macro_chain cost layer type {c['type']!r}")


class Stem(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.conv = ElasticConv2d(c["in"], c["out"], 3, rngs=rngs)
        self.bn = ElasticBatchNorm(c["out"])

    def __call__(self, x):
        return ops.relu(self.bn(self.conv(x), train=False))


class Layer(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.layer = ChainLayer(c["in"], c["out"], c["stride"], (c["op"],), rngs=rngs)

    def __call__(self, x):
        return self.layer(x, train=False)


class Head(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.conv = ElasticConv2d(c["in"], c["head"], 1, rngs=rngs)
        self.bn = ElasticBatchNorm(c["head"])
        self.classifier = ElasticDense(c["head"], c["classes"], rngs=rngs)

    def __call__(self, x):
        return self.classifier(ops.global_avg_pool(ops.relu(self.bn(self.conv(x), train=False))))


_MODULES = {"stem": Stem, "layer": Layer, "head": Head}


def build(config: Mapping, rngs: nnx.Rngs):
    return _MODULES[config["type"]](config, rngs), (config["h"], config["w"], config["in"])


def cost_model(options: Mapping, image_shape: tuple[int, ...]) -> CostModel:
    keys = ("stages", "init_channels", "head_channels", "in_channels", "num_classes")
    config = supernet_config(**{k: options.get(k, DEFAULT_OPTIONS[k]) for k in keys})
    h, w = image_shape[0], image_shape[1]
    stem = {"type": "stem", "h": h, "w": w, "in": config["in_channels"], "out": config["init_channels"]}
    layers = [CostLayer("stem", (), lambda: stem)]
    for index, table in enumerate(config["layers"]):
        def layer_config(op, h=h, w=w, table=table):
            return {"type": "layer", "op": op, "h": h, "w": w, "in": table["in_channels"],
                    "out": table["out_channels"], "stride": table["stride"]}
        layers.append(CostLayer(layer_name(index), (layer_name(index),), layer_config))
        # Every op of a layer gives the same output size (3x3 stride s, 5x5 stride s and 1x1 stride s alike).
        h, w = lc.conv_out_size(h, 3, table["stride"]), lc.conv_out_size(w, 3, table["stride"])
    head = {"type": "head", "h": h, "w": w, "in": config["head_in_channels"], "head": config["head_channels"],
            "classes": config["num_classes"]}
    layers.append(CostLayer("head", (), lambda: head))
    return CostModel(tuple(layers), count, build)
