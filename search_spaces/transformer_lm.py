"""Decoder-only character-level language model space (HAT / MobileLLM-like).

Bytes (vocabulary 256) -> elastic embedding (weight-tied with the output) + learned
positions -> `depth` pre-LN causal transformer blocks -> LayerNorm -> logits over the
vocabulary at every position. The network declares its decisions (`supernets.decisions`):
`embed_dim` (nested: each width a prefix of the larger ones, shared by every layer, the
embedding table and the tied output), `depth`, and per layer `l{i}.heads` (the first h heads)
and `l{i}.ffn_width` (nested FFN width); the stack makes the layers past the smallest depth
conditional on it. Space, cost and export are derived from the network. Switched execution
(`--execution switch`) runs each layer at its chosen heads and FFN width only and skips the layers
past the depth.

`__call__(tokens [B, T] int)` returns logits [B, T, 256]; position t sees tokens <= t only.
`nas train --space transformer_lm --data fortunes` trains it on byte windows of the fortune
corpus (`nas.text_data`), `--option context=T` setting the window length. `--option switchable_scale=true`
gives every block NASViT's switchable scaling (`supernets.transformer_block`): the same archs, each
trained and exported with a per-channel scale on its residual branches.
"""
from __future__ import annotations

from flax import nnx

from nas.declared_space import declared_space
from nas.errors import ConfigError
from nas.option_bounds import NonNegativeInts, PositiveInt, PositiveInts
from supernets.decisions import NestedWidth, OneOf
from supernets.elastic_embedding import ElasticEmbedding, ElasticPositions
from supernets.elastic_stack import ElasticStack
from supernets.norms import ElasticLayerNorm
from supernets.transformer_block import ElasticTransformerBlock

NAME = "transformer_lm"


class TransformerLM(nnx.Module):
    def __init__(self, embed_dims: PositiveInts = (64, 96, 128), depths: NonNegativeInts = (2, 3, 4),
                 heads: PositiveInts = (2, 3, 4), ffn_widths: PositiveInts = (128, 256, 384, 512),
                 head_dim: PositiveInt = 32, context: PositiveInt = 64, vocab_size: PositiveInt = 256,
                 switchable_scale: bool = False, *, rngs: nnx.Rngs):
        # Names as the space has always had them, so runs and results made before stay valid.
        embed = NestedWidth(widths=tuple(embed_dims), name="embed_dim")
        self.embedding = ElasticEmbedding(vocab_size, embed, rngs=rngs)
        self.positions = ElasticPositions(context, embed, rngs=rngs)
        blocks = [ElasticTransformerBlock(embed, OneOf(tuple(heads), name=f"l{i}.heads"), head_dim,
                                          NestedWidth(widths=tuple(ffn_widths), name=f"l{i}.ffn_width"),
                                          causal=True, switchable_scale=switchable_scale, rngs=rngs)
                  for i in range(max(depths))]
        self.blocks = ElasticStack(blocks, depth=OneOf(tuple(depths), name="depth"))
        self.norm = ElasticLayerNorm(embed)

    def __call__(self, tokens, *, train: bool = False, arch=None, switch: bool = False):
        del train  # no batch statistics, no dropout
        h = self.embedding.embed(tokens, arch=arch) + self.positions(tokens.shape[1], arch=arch)
        h = self.blocks(h, arch, lambda block, h: block(h, arch=arch, switch=switch), switch=switch)
        return self.embedding.logits(self.norm(h, arch=arch))

    def sort_channels(self) -> None:
        """Each block's heads and FFN units by importance (`ElasticTransformerBlock.sort_channels`; `--resort`)."""
        self.blocks.sort_channels()


def _options_for_inputs(shape) -> dict:
    """The context is the data's window length; images are refused (a cost query may still pass them)."""
    if len(shape) != 1:
        raise ConfigError(f"space 'transformer_lm' reads byte sequences, not {'x'.join(map(str, shape))} images; "
                          "use --data fortunes (or token batches of shape (B, T) from Python)")
    return {"context": int(shape[0])}


DEFINITION = declared_space(NAME, TransformerLM, inputs="tokens", options_for_inputs=_options_for_inputs,
                            switch_execution=True)
