"""Cost layers of the ViT space (`nas.hardware`): patch embedding (by embed_dim), one layer per
transformer block (by embed_dim, its heads and MLP ratio; present while depth reaches it) and the
head (LayerNorm, classifier). Attention counts its two token-by-token products as multiply-adds."""
from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from flax import nnx

from nas.hardware import layer_counts as lc
from nas.hardware.cost_model import CostLayer, CostModel
from search_spaces.vit import DEFAULT_OPTIONS, patchify
from supernets.elastic_dense import ElasticDense
from supernets.norms import ElasticLayerNorm
from supernets.transformer_block import ElasticTransformerBlock


def count(c: Mapping) -> tuple[int, int]:
    t, e = c["tokens"], c["embed"]
    if c["type"] == "embed":  # patches -> embed, class token, positions
        patches = t - 1
        return lc.dense_macs(c["patch_dim"], e, patches), lc.dense_params(c["patch_dim"], e) + e + t * e
    if c["type"] == "block":
        inner, hidden = c["heads"] * c["head_dim"], c["ratio"] * e
        macs = (3 * lc.dense_macs(e, inner, t) + 2 * t * t * inner + lc.dense_macs(inner, e, t)
                + lc.dense_macs(e, hidden, t) + lc.dense_macs(hidden, e, t))
        params = (2 * lc.norm_params(e) + 3 * lc.dense_params(e, inner) + lc.dense_params(inner, e)
                  + lc.dense_params(e, hidden) + lc.dense_params(hidden, e))
        return macs, params
    if c["type"] == "head":
        return lc.dense_macs(e, c["classes"]), lc.norm_params(e) + lc.dense_params(e, c["classes"])
    raise ValueError(f"unknown vit cost layer type {c['type']!r}")


class Embed(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.patch_size = c["patch_size"]
        self.dense = ElasticDense(c["patch_dim"], c["embed"], rngs=rngs)
        self.class_token = nnx.Param(jnp.zeros((c["embed"],)))
        self.position = nnx.Param(jnp.zeros((c["tokens"], c["embed"])))

    def __call__(self, x):
        h = self.dense(patchify(x, self.patch_size))
        cls = jnp.broadcast_to(self.class_token[...], (h.shape[0], 1, h.shape[-1]))
        return jnp.concatenate([cls, h], axis=1) + self.position[...]


class Block(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.block = ElasticTransformerBlock(c["embed"], c["heads"], c["head_dim"], c["ratio"] * c["embed"],
                                             rngs=rngs)

    def __call__(self, x):
        return self.block(x)


class Head(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.norm = ElasticLayerNorm(c["embed"])
        self.classifier = ElasticDense(c["embed"], c["classes"], rngs=rngs)

    def __call__(self, x):
        return self.classifier(self.norm(x)[:, 0])


_MODULES = {"embed": Embed, "block": Block, "head": Head}


def build(config: Mapping, rngs: nnx.Rngs):
    if config["type"] == "embed":
        shape = (config["image_size"], config["image_size"], config["in_channels"])
    else:
        shape = (config["tokens"], config["embed"])
    return _MODULES[config["type"]](config, rngs), shape


def cost_model(options: Mapping, image_shape: tuple[int, ...]) -> CostModel:
    o = {**DEFAULT_OPTIONS, **options}
    patch, size, channels = o["patch_size"], image_shape[0], image_shape[-1]
    tokens = (size // patch) ** 2 + 1
    common = {"tokens": tokens, "head_dim": o["head_dim"]}
    layers = [CostLayer("embed", ("embed_dim",), lambda e: {
        "type": "embed", "embed": e, "tokens": tokens, "patch_dim": patch * patch * channels, "patch_size": patch,
        "image_size": size, "in_channels": channels})]
    depths = tuple(o["depths"])
    for layer in range(max(depths)):
        present = tuple(d for d in depths if d > layer)
        layers.append(CostLayer(
            f"l{layer}", ("embed_dim", f"l{layer}.heads", f"l{layer}.mlp_ratio"),
            lambda e, h, r: {"type": "block", "embed": e, "heads": h, "ratio": r, **common},
            active_if=None if len(present) == len(depths) else ("depth", present)))
    layers.append(CostLayer("head", ("embed_dim",), lambda e: {"type": "head", "embed": e, "tokens": tokens,
                                                              "classes": o["num_classes"]}))
    return CostModel(tuple(layers), count, build)
