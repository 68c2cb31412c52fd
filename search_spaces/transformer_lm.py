"""Decoder-only character-level language model space (HAT / MobileLLM-like).

Bytes (vocabulary 256) -> elastic embedding (weight-tied with the output) + learned
positions -> `depth` pre-LN causal transformer blocks -> LayerNorm -> logits over the
vocabulary at every position. Decisions: `embed_dim` (Sorted: each width a prefix of
the larger ones, shared by every layer, the embedding table and the tied output),
`depth`, and per layer `l{i}.heads` (the first h heads) and `l{i}.ffn_width`
(Sorted FFN width), the layers past the smallest depth conditional on depth.

`__call__(tokens [B, T] int)` returns logits [B, T, 256]; position t sees tokens <= t only.
`nas train --space transformer_lm --data fortunes` trains it on byte windows of the fortune
corpus (`nas.text_data`), `--option context=T` setting the window length.
"""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from nas.definition import SearchSpaceDefinition
from nas.errors import ConfigError
from nas.space import AtLeast, Choice, Sorted, Space
from supernets import init
from supernets.build import abstract_from_config, with_values
from supernets.elastic_depth import run_elastic_depth
from supernets.elastic_embedding import ElasticEmbedding
from supernets.masks import mask_last_axis, static_width
from supernets.norms import ElasticLayerNorm
from supernets.transformer_block import ElasticTransformerBlock

NAME = "transformer_lm"
DEFAULT_OPTIONS = {"embed_dims": (64, 96, 128), "depths": (2, 3, 4), "heads": (2, 3, 4),
                   "ffn_widths": (128, 256, 384, 512), "head_dim": 32, "context": 64, "vocab_size": 256}


def make_space(embed_dims=(64, 96, 128), depths=(2, 3, 4), heads=(2, 3, 4), ffn_widths=(128, 256, 384, 512),
               **_network_options) -> Space:
    decisions = [Sorted("embed_dim", widths=tuple(embed_dims)), Choice("depth", tuple(depths))]
    for layer in range(max(depths)):
        when = AtLeast("depth", layer + 1) if layer + 1 > min(depths) else None
        decisions.append(Choice(f"l{layer}.heads", tuple(heads), when=when))
        decisions.append(Sorted(f"l{layer}.ffn_width", widths=tuple(ffn_widths), when=when))
    return Space(NAME, decisions, version=1)


def supernet_config(embed_dims=(64, 96, 128), depths=(2, 3, 4), heads=(2, 3, 4), ffn_widths=(128, 256, 384, 512),
                    head_dim=32, context=64, vocab_size=256) -> dict:
    return {"kind": "supernet", "vocab_size": vocab_size, "context": context, "embed_dim": max(embed_dims),
            "head_dim": head_dim, "layers": [{"heads": max(heads), "hidden": max(ffn_widths)}] * max(depths)}


class TransformerLM(nnx.Module):
    def __init__(self, config: Mapping, *, rngs: nnx.Rngs):
        self.config = dict(config)
        c = self.config
        self.embedding = ElasticEmbedding(c["vocab_size"], c["embed_dim"], rngs=rngs)
        self.position = nnx.Param(init.uniform(rngs, (c["context"], c["embed_dim"]), 0.02 * 3 ** 0.5))
        self.blocks = nnx.List([ElasticTransformerBlock(c["embed_dim"], layer["heads"], c["head_dim"],
                                                        layer["hidden"], causal=True, rngs=rngs)
                                for layer in c["layers"]])
        self.norm = ElasticLayerNorm(c["embed_dim"])

    def __call__(self, tokens, *, train: bool = False, arch: Mapping | None = None):
        del train  # no batch statistics, no dropout
        width = None if arch is None else arch["embed_dim"]
        columns = static_width(width, self.config["embed_dim"])
        h = self.embedding.embed(tokens, width)
        h = h + mask_last_axis(self.position[...][:tokens.shape[1], :columns], width)

        def call_block(index, block, h):
            if arch is None:
                return block(h)
            return block(h, width=width, heads=arch[f"l{index}.heads"], hidden=arch[f"l{index}.ffn_width"])

        h = run_elastic_depth(list(self.blocks), h, None if arch is None else arch["depth"], call_block,
                              min_depth=1)
        return self.embedding.logits(self.norm(h, width))

    def subnet_config(self, arch: Mapping) -> dict:
        layers = [{"heads": arch[f"l{i}.heads"], "hidden": arch[f"l{i}.ffn_width"]} for i in range(arch["depth"])]
        return {**self.config, "kind": "subnet", "embed_dim": arch["embed_dim"], "layers": layers}

    def get_active_subnet(self, arch: Mapping) -> "TransformerLM":
        config = self.subnet_config(arch)
        width = config["embed_dim"]
        subnet = abstract_from_config(TransformerLM, {**config, "layers": []})
        subnet.config = config
        subnet.embedding = self.embedding.sliced(width)
        with_values(subnet, position=self.position[...][:, :width])
        subnet.blocks = nnx.List([self.blocks[i].sliced(width, layer["heads"], layer["hidden"])
                                  for i, layer in enumerate(config["layers"])])
        subnet.norm = self.norm.sliced(width)
        return subnet


def build_supernet(space: Space, options: Mapping, rngs: nnx.Rngs) -> TransformerLM:
    return TransformerLM(supernet_config(**{k: options[k] for k in DEFAULT_OPTIONS if k in options}), rngs=rngs)


def _options_for_inputs(shape) -> dict:
    """The context is the data's window length; images are refused (a cost query may still pass them)."""
    if len(shape) != 1:
        raise ConfigError(f"space 'transformer_lm' reads byte sequences, not {'x'.join(map(str, shape))} images; "
                          "use --data fortunes (or token batches of shape (B, T) from Python)")
    return {"context": int(shape[0])}


DEFINITION = SearchSpaceDefinition(
    name=NAME, make_space=make_space, build_supernet=build_supernet, default_options=DEFAULT_OPTIONS, options_for_images=_options_for_inputs,
    inputs="tokens")
