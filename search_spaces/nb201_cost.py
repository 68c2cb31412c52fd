"""Cost layers of the NAS-Bench-201 space (`nas.hardware`): the stem, one layer per edge of every
cell (config chosen by the edge's op), the two reduction blocks and the head."""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from nas.hardware import layer_counts as lc
from nas.hardware.cost_model import CostLayer, CostModel
from search_spaces.nb201 import DEFAULT_OPTIONS, EDGES, ReductionBlock, edge_name
from supernets import ops
from supernets.cell_edge import CONV_KERNELS, CellEdge
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from supernets.norms import ElasticBatchNorm


def count(c: Mapping) -> tuple[int, int]:
    h, w = c["h"], c["w"]
    if c["type"] == "stem":
        return lc.conv2d_macs(h, w, c["in"], c["out"], 3, 1), lc.conv2d_params(c["in"], c["out"], 3) + lc.norm_params(c["out"])
    if c["type"] == "edge":
        if c["op"] not in CONV_KERNELS:
            return 0, 0  # none, skip and pooling: no multiply-adds, no weights
        k = CONV_KERNELS[c["op"]]
        return lc.conv2d_macs(h, w, c["channels"], c["channels"], k, 1), \
            lc.conv2d_params(c["channels"], c["channels"], k) + lc.norm_params(c["channels"])
    if c["type"] == "reduction":
        i, o = c["in"], c["out"]
        oh, ow = lc.conv_out_size(h, 3, 2), lc.conv_out_size(w, 3, 2)
        macs = lc.conv2d_macs(h, w, i, o, 3, 2) + lc.conv2d_macs(oh, ow, o, o, 3, 1) + lc.pointwise_macs(h // 2, w // 2, i, o)
        params = lc.conv2d_params(i, o, 3) + lc.conv2d_params(o, o, 3) + 2 * lc.norm_params(o) + lc.conv2d_params(i, o, 1)
        return macs, params
    if c["type"] == "head":
        return lc.dense_macs(c["in"], c["classes"]), lc.norm_params(c["in"]) + lc.dense_params(c["in"], c["classes"])
    raise ValueError(f"unknown nb201 cost layer type {c['type']!r}")


class Stem(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.conv = ElasticConv2d(c["in"], c["out"], 3, rngs=rngs)
        self.bn = ElasticBatchNorm(c["out"])

    def __call__(self, x):
        return self.bn(self.conv(x), train=False)


class Edge(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.edge = CellEdge(c["channels"], (c["op"],), rngs=rngs)

    def __call__(self, x):
        return self.edge(x, train=False)


class Reduction(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.block = ReductionBlock(c["in"], c["out"], rngs=rngs)

    def __call__(self, x):
        return self.block(x, train=False)


class Head(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.bn = ElasticBatchNorm(c["in"])
        self.classifier = ElasticDense(c["in"], c["classes"], rngs=rngs)

    def __call__(self, x):
        return self.classifier(ops.global_avg_pool(ops.relu(self.bn(x, train=False))))


_MODULES = {"stem": Stem, "edge": Edge, "reduction": Reduction, "head": Head}


def build(config: Mapping, rngs: nnx.Rngs):
    channels = config.get("channels", config.get("in"))
    return _MODULES[config["type"]](config, rngs), (config["h"], config["w"], channels)


def cost_model(options: Mapping, image_shape: tuple[int, ...]) -> CostModel:
    channels = options.get("channels", DEFAULT_OPTIONS["channels"])
    cells = options.get("cells_per_stage", DEFAULT_OPTIONS["cells_per_stage"])
    h, w = image_shape[0], image_shape[1]
    stem = {"type": "stem", "h": h, "w": w, "in": options.get("in_channels", image_shape[-1]), "out": channels}
    layers = [CostLayer("stem", (), lambda: stem)]
    widths = [channels, 2 * channels, 4 * channels]
    for stage, width in enumerate(widths):
        if stage:
            reduction = {"type": "reduction", "h": h, "w": w, "in": widths[stage - 1], "out": width}
            layers.append(CostLayer(f"reduction{stage}", (), lambda reduction=reduction: reduction))
            h, w = lc.conv_out_size(h, 3, 2), lc.conv_out_size(w, 3, 2)
        for cell in range(cells):
            for to, source in EDGES:
                name = edge_name(to, source)
                layers.append(CostLayer(
                    f"stage{stage}.cell{cell}.{name}", (name,),
                    lambda op, h=h, w=w, width=width: {"type": "edge", "op": op, "h": h, "w": w, "channels": width}))
    head = {"type": "head", "h": h, "w": w, "in": widths[-1], "classes": options.get("num_classes", 10)}
    layers.append(CostLayer("head", (), lambda: head))
    return CostModel(tuple(layers), count, build)
