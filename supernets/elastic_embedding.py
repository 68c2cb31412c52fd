"""Token embedding with an elastic width (the first e columns), and its tied output projection.

`embed(ids, width)` looks up rows of the table [vocab, E] and keeps the first e
columns; `logits(h, width)` multiplies by the same table, transposed, read at the
first e columns (weight tying, as GPT-2 and MobileLLM): the subnet of width e
uses exactly `table[:, :e]` in both places.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from supernets import init
from supernets.build import abstract, with_values
from supernets.masks import mask_last_axis, static_width


class ElasticEmbedding(nnx.Module):
    def __init__(self, vocab_size: int, embed_dim: int, *, rngs: nnx.Rngs):
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        self.table = nnx.Param(init.uniform(rngs, (vocab_size, embed_dim), 0.02 * 3 ** 0.5))  # std 0.02

    def embed(self, ids, width=None):
        """int [...] token ids -> [..., e] (masked beyond a traced width)."""
        table = self.table[...][:, :static_width(width, self.embed_dim)]
        return mask_last_axis(jnp.take(table, ids, axis=0), width)

    def logits(self, h):
        """[..., e] hidden states (zeros beyond the active width) -> [..., vocab] logits, tied to the table."""
        return h @ self.table[...][:, :h.shape[-1]].T

    def sliced(self, width: int) -> "ElasticEmbedding":
        layer = abstract(ElasticEmbedding, self.vocab_size, width)
        return with_values(layer, table=self.table[...][:, :width])
