"""Multi-head self-attention with elastic heads (the first h) and elastic embedding width (a prefix).

Heads have a fixed size `head_dim` (as AutoFormer's q/k/v dimension = heads x 64), so
h heads use the first h * head_dim columns of the query, key and value projections
and the same rows of the output projection; the embedding width e uses the first
e rows of q/k/v and the first e columns (and bias entries) of the output.

Masked lowering: inactive heads' queries, keys and values are zero (ElasticDense
masks them with `jnp.where`), so their attention output is exactly zero and their
weights get zero gradient; the output is masked to the active width. Causal
attention masks future positions with the most negative float before the softmax.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from supernets import resort, shape_trace
from supernets.build import abstract
from supernets.decisions import Declared, largest, read
from supernets.elastic_dense import ElasticDense
from supernets.masks import mask_last_axis


def head_importance(out_kernel, heads: int, head_dim: int) -> np.ndarray:
    """Per head, the L1 norm of the output projection's rows (`out_kernel` [heads * head_dim, e]) reading it."""
    return resort.l1_importance(out_kernel, axis=0).reshape(heads, head_dim).sum(axis=1)


def attention(q, k, v, head_dim: int, causal: bool):
    """Scaled dot-product attention on [B, T, heads * head_dim] projections."""
    batch, length, inner = q.shape
    shape = (batch, length, inner // head_dim, head_dim)
    q, k, v = q.reshape(shape), k.reshape(shape), v.reshape(shape)
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * (head_dim ** -0.5)
    if causal:
        future = jnp.arange(length)[None, :] > jnp.arange(length)[:, None]
        logits = jnp.where(future, jnp.finfo(logits.dtype).min, logits)
    weights = jax.nn.softmax(logits, axis=-1)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, inner)


class ElasticAttention(nnx.Module):
    """`embed_dim` and `num_heads` are ints or declared (`supernets.decisions`); the projections' inner
    width is the heads times `head_dim`. Its own cost is the two token-by-token products."""

    cost_type = "attention_products"

    def __init__(self, embed_dim, num_heads, head_dim: int, *, causal: bool = False, rngs: nnx.Rngs):
        self.heads = num_heads
        inner = num_heads.map(lambda h: h * head_dim) if isinstance(num_heads, Declared) else num_heads * head_dim
        self.embed_dim, self.num_heads, self.head_dim, self.causal = largest(embed_dim), largest(num_heads), head_dim, causal
        self.query = ElasticDense(embed_dim, inner, rngs=rngs)
        self.key = ElasticDense(embed_dim, inner, rngs=rngs)
        self.value = ElasticDense(embed_dim, inner, rngs=rngs)
        self.out = ElasticDense(inner, embed_dim, rngs=rngs)

    def __call__(self, x, heads=None, width=None, *, arch=None):
        """x [B, T, e]; `heads` and `width`: None (all), Python ints (sliced) or traced (masked); or
        read from `arch` where the sizes are declared."""
        shape_trace.note(self, x)
        if arch is not None:
            inner, width = read(self.query.out_size, arch), read(self.out.out_size, arch)
        else:
            inner = None if heads is None else heads * self.head_dim
        q, k, v = (projection(x, inner) for projection in (self.query, self.key, self.value))
        y = mask_last_axis(attention(q, k, v, self.head_dim, self.causal), inner)
        return self.out(y, width)

    def sort_channels(self) -> None:
        """Heads by importance (L1 norm of the output projection's rows that read the head), most first: the
        first h heads a smaller choice keeps are then the ones the largest relies on most. Each head's
        query, key and value columns and output rows move together, so the all-heads function is
        unchanged. Host arrays only."""
        order = resort.descending(head_importance(self.out.kernel[...], self.num_heads, self.head_dim))
        columns = (order[:, None] * self.head_dim + np.arange(self.head_dim)).ravel()
        for projection in (self.query, self.key, self.value):
            resort.permute_channels(projection, columns)
        resort.permute(self.out.kernel, columns, axis=0)

    def sliced(self, width: int, heads: int) -> "ElasticAttention":
        layer = abstract(ElasticAttention, width, heads, self.head_dim, causal=self.causal)
        inner = heads * self.head_dim
        layer.query, layer.key, layer.value = (p.sliced(width, inner) for p in (self.query, self.key, self.value))
        layer.out = self.out.sliced(inner, width)
        return layer

    def cost_sizes(self) -> dict:
        return {"inner": self.query.out_size}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        return {"type": self.cost_type, "tokens": input_shape[1], "inner": sizes["inner"], "head_dim": self.head_dim,
                "causal": self.causal}

    @staticmethod
    def count_cost(c: dict) -> tuple[int, int]:
        """q.k and weights.v: 2 T^2 inner multiply-adds (causal masking skips none of them); no params."""
        return 2 * c["tokens"] * c["tokens"] * c["inner"], 0

    @staticmethod
    def build_for_cost(c: dict, rngs: nnx.Rngs):
        from supernets.timed_layer import AttentionProducts

        return AttentionProducts(c["head_dim"], c["causal"]), (c["tokens"], c["inner"])
