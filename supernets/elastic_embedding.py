"""Token embedding with an elastic width (the first e columns), and its tied output projection.

`embed(ids, width)` looks up rows of the table [vocab, E] and keeps the first e
columns; `logits(h, width)` multiplies by the same table, transposed, read at the
first e columns (weight tying, as GPT-2 and MobileLLM): the subnet of width e
uses exactly `table[:, :e]` in both places.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from nas.hardware import layer_counts
from supernets import init, shape_trace
from supernets.build import abstract, with_values
from supernets.decisions import evaluate, largest, read
from supernets.masks import mask_last_axis, static_width


class ElasticEmbedding(nnx.Module):
    """`embed_dim` an int or a declared width (`supernets.decisions`); its cost is the tied output projection."""

    cost_type = "tied_embedding"

    def __init__(self, vocab_size: int, embed_dim, *, rngs: nnx.Rngs):
        self.size = embed_dim
        embed_dim = largest(embed_dim)
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        self.table = nnx.Param(init.uniform(rngs, (vocab_size, embed_dim), 0.02 * 3 ** 0.5))  # std 0.02

    def embed(self, ids, width=None, *, arch=None):
        """int [...] token ids -> [..., e] (masked beyond a traced width)."""
        shape_trace.note(self, ids)
        if arch is not None:
            width = read(self.size, arch)
        table = self.table[...][:, :static_width(width, self.embed_dim)]
        return mask_last_axis(jnp.take(table, ids, axis=0), width)

    def logits(self, h):
        """[..., e] hidden states (zeros beyond the active width) -> [..., vocab] logits, tied to the table."""
        return h @ self.table[...][:, :h.shape[-1]].T

    def sliced(self, width: int) -> "ElasticEmbedding":
        layer = abstract(ElasticEmbedding, self.vocab_size, width)
        return with_values(layer, table=self.table[...][:, :width])

    def active(self, values) -> "ElasticEmbedding":
        return self.sliced(evaluate(self.size, values))

    def cost_sizes(self) -> dict:
        return {"embed": self.size}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        tokens = 1
        for extent in input_shape[1:]:
            tokens *= extent
        return {"type": self.cost_type, "vocab": self.vocab_size, "embed": sizes["embed"], "tokens": tokens}

    @staticmethod
    def count_cost(c: dict) -> tuple[int, int]:
        """The lookup costs no multiply-adds; the tied output projection does."""
        return layer_counts.dense_macs(c["embed"], c["vocab"], c["tokens"]), c["vocab"] * c["embed"]

    @staticmethod
    def build_for_cost(c: dict, rngs: nnx.Rngs):
        from supernets.timed_layer import InferenceCall

        return InferenceCall(ElasticEmbedding(c["vocab"], c["embed"], rngs=rngs), "logits"), (c["tokens"], c["embed"])


class ElasticPositions(nnx.Module):
    """Learned positions [context, E] read at an elastic width: the first e columns of the first T rows."""

    cost_type = "positions"

    def __init__(self, context: int, embed_dim, *, rngs: nnx.Rngs):
        self.size, self.context, self.embed_dim = embed_dim, context, largest(embed_dim)
        self.table = nnx.Param(init.uniform(rngs, (context, self.embed_dim), 0.02 * 3 ** 0.5))

    def __call__(self, length: int, width=None, *, arch=None):
        """[length, e] position embeddings (masked beyond a traced width)."""
        shape_trace.note(self, self.table)
        if arch is not None:
            width = read(self.size, arch)
        return mask_last_axis(self.table[...][:length, :static_width(width, self.embed_dim)], width)

    def sliced(self, width: int) -> "ElasticPositions":
        layer = abstract(ElasticPositions, self.context, width)
        return with_values(layer, table=self.table[...][:, :width])

    def active(self, values) -> "ElasticPositions":
        return self.sliced(evaluate(self.size, values))

    def cost_sizes(self) -> dict:
        return {"embed": self.size}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        return {"type": self.cost_type, "context": self.context, "embed": sizes["embed"]}

    @staticmethod
    def count_cost(c: dict) -> tuple[int, int]:
        return 0, c["context"] * c["embed"]

    @staticmethod
    def build_for_cost(c: dict, rngs: nnx.Rngs):
        from supernets.timed_layer import PlusPositions

        return PlusPositions(ElasticPositions(c["context"], c["embed"], rngs=rngs)), (c["context"], c["embed"])


class ElasticClassToken(nnx.Module):
    """A learned token [E] put before a sequence (ViT's class token), read at an elastic width: its first e entries."""

    cost_type = "class_token"

    def __init__(self, embed_dim, *, rngs: nnx.Rngs):
        self.size, self.embed_dim = embed_dim, largest(embed_dim)
        self.token = nnx.Param(init.uniform(rngs, (self.embed_dim,), 0.02 * 3 ** 0.5))

    def __call__(self, h, width=None, *, arch=None):
        """[B, T, e] -> [B, T + 1, e], the token first (masked beyond a traced width)."""
        shape_trace.note(self, h)
        if arch is not None:
            width = read(self.size, arch)
        columns = static_width(width, self.embed_dim)
        token = mask_last_axis(self.token[...][:columns], width)
        return jnp.concatenate([jnp.broadcast_to(token, (h.shape[0], 1, columns)), h], axis=1)

    def sliced(self, width: int) -> "ElasticClassToken":
        layer = abstract(ElasticClassToken, width)
        return with_values(layer, token=self.token[...][:width])

    def active(self, values) -> "ElasticClassToken":
        return self.sliced(evaluate(self.size, values))

    def cost_sizes(self) -> dict:
        return {"embed": self.size}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        return {"type": self.cost_type, "tokens": input_shape[1], "embed": sizes["embed"]}

    @staticmethod
    def count_cost(c: dict) -> tuple[int, int]:
        """A concatenation: no multiply-adds; E params."""
        return 0, c["embed"]

    @staticmethod
    def build_for_cost(c: dict, rngs: nnx.Rngs):
        return ElasticClassToken(c["embed"], rngs=rngs), (c["tokens"], c["embed"])
