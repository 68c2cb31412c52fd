"""Cost layers of the transformer LM space (`nas.hardware`), per sequence of `context` tokens:
the embedding with its tied output projection (by embed_dim), one layer per block (by embed_dim,
its heads and FFN width; present while depth reaches it). Attention counts its two
token-by-token products as multiply-adds (causal masking does not skip them)."""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from nas.hardware import layer_counts as lc
from nas.hardware.cost_model import CostLayer, CostModel
from search_spaces.transformer_lm import DEFAULT_OPTIONS
from supernets.elastic_embedding import ElasticEmbedding
from supernets.norms import ElasticLayerNorm
from supernets.transformer_block import ElasticTransformerBlock


def count(c: Mapping) -> tuple[int, int]:
    t, e = c["tokens"], c["embed"]
    if c["type"] == "embedding":  # lookup (no MACs), positions, final LayerNorm, tied output projection
        return lc.dense_macs(e, c["vocab"], t), c["vocab"] * e + t * e + lc.norm_params(e)
    if c["type"] == "block":
        inner, hidden = c["heads"] * c["head_dim"], c["hidden"]
        macs = (3 * lc.dense_macs(e, inner, t) + 2 * t * t * inner + lc.dense_macs(inner, e, t)
                + lc.dense_macs(e, hidden, t) + lc.dense_macs(hidden, e, t))
        params = (2 * lc.norm_params(e) + 3 * lc.dense_params(e, inner) + lc.dense_params(inner, e)
                  + lc.dense_params(e, hidden) + lc.dense_params(hidden, e))
        return macs, params
    raise ValueError(f"unknown transformer_lm cost layer type {c['type']!r}")


class Output(nnx.Module):
    """The final LayerNorm and the tied output projection (timed on hidden states)."""

    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.norm = ElasticLayerNorm(c["embed"])
        self.embedding = ElasticEmbedding(c["vocab"], c["embed"], rngs=rngs)

    def __call__(self, x):
        return self.embedding.logits(self.norm(x))


class Block(nnx.Module):
    def __init__(self, c: Mapping, rngs: nnx.Rngs):
        self.block = ElasticTransformerBlock(c["embed"], c["heads"], c["head_dim"], c["hidden"], causal=True,
                                             rngs=rngs)

    def __call__(self, x):
        return self.block(x)


def build(config: Mapping, rngs: nnx.Rngs):
    module = Output(config, rngs) if config["type"] == "embedding" else Block(config, rngs)
    return module, (config["tokens"], config["embed"])


def cost_model(options: Mapping, image_shape: tuple[int, ...] = ()) -> CostModel:
    del image_shape  # a sequence model: the cost is per sequence of `context` tokens
    o = {**DEFAULT_OPTIONS, **options}
    common = {"tokens": o["context"], "head_dim": o["head_dim"]}
    layers = [CostLayer("embedding", ("embed_dim",),
                        lambda e: {"type": "embedding", "embed": e, "vocab": o["vocab_size"], **common})]
    depths = tuple(o["depths"])
    for layer in range(max(depths)):
        present = tuple(d for d in depths if d > layer)
        layers.append(CostLayer(
            f"l{layer}", ("embed_dim", f"l{layer}.heads", f"l{layer}.ffn_width"),
            lambda e, h, f: {"type": "block", "embed": e, "heads": h, "hidden": f, **common},
            active_if=None if len(present) == len(depths) else ("depth", present)))
    return CostModel(tuple(layers), count, build)
