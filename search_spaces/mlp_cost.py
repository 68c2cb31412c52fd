"""Cost layers of the MLP space (`nas.hardware`): hidden Dense(+LayerNorm) layers and the head.

Hidden layer i depends on the widths of layers i-1 and i and exists while depth > i;
the head reads the last active width, so it is one layer per depth (present iff depth == i+1).
"""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from nas.hardware import layer_counts as lc
from nas.hardware.cost_model import CostLayer, CostModel
from supernets import ops
from supernets.elastic_dense import ElasticDense
from supernets.norms import ElasticLayerNorm


def _dense(in_features: int, out_features: int, norm: bool, relu: bool) -> dict:
    return {"type": "dense", "in": int(in_features), "out": int(out_features), "norm": norm, "relu": relu}


def count(config: Mapping) -> tuple[int, int]:
    params = lc.dense_params(config["in"], config["out"]) + (lc.norm_params(config["out"]) if config["norm"] else 0)
    return lc.dense_macs(config["in"], config["out"]), params


class DenseLayer(nnx.Module):
    """One hidden layer (Dense -> LayerNorm -> ReLU) or the head, for timing alone."""

    def __init__(self, config: Mapping, rngs: nnx.Rngs):
        self.relu = config["relu"]
        self.dense = ElasticDense(config["in"], config["out"], rngs=rngs)
        self.norm = ElasticLayerNorm(config["out"]) if config["norm"] else None

    def __call__(self, x):
        h = self.dense(x)
        h = self.norm(h) if self.norm is not None else h
        return ops.relu(h) if self.relu else h


def build(config: Mapping, rngs: nnx.Rngs):
    return DenseLayer(config, rngs), (config["in"],)


def cost_model(options: Mapping, image_shape: tuple[int, ...]) -> CostModel:
    max_layers, norm = options.get("max_layers", 5), options.get("layer_norm", True)
    in_features = options.get("in_features", 784)
    classes = options.get("num_classes", 10)
    depths = tuple(range(1, max_layers + 1))
    layers = [CostLayer("hidden_0", ("width_0",), lambda w: _dense(in_features, w, norm, True))]
    for i in range(1, max_layers):
        layers.append(CostLayer(f"hidden_{i}", (f"width_{i - 1}", f"width_{i}"),
                                lambda a, b: _dense(a, b, norm, True),
                                active_if=("depth", tuple(d for d in depths if d > i))))
    for i in range(max_layers):
        layers.append(CostLayer(f"head_after_{i}", (f"width_{i}",), lambda w: _dense(w, classes, False, False),
                                active_if=("depth", (i + 1,))))
    return CostModel(tuple(layers), count, build)
