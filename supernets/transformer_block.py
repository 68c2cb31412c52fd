"""Pre-LayerNorm transformer block with elastic width, heads and FFN width.

    x + attention(LN(x)), then x + FFN(LN(x)), FFN = Dense -> GELU -> Dense.

Every part works on the active embedding prefix: LayerNorm takes its statistics
over the active width only, attention uses the first h heads, the FFN the first
`hidden` units. In the masked lowering the inputs beyond the active width are
zero and stay zero (GELU(0) = 0, residual sums of zeros), so the block keeps the
invariant every elastic layer relies on. Switched (`switch` with traced sizes), only the chosen
heads and FFN width run, one `lax.switch` branch per pair; the embedding width stays masked (one
width shared by every layer and the embedding, so per-layer branches cannot slice it).

With `switchable_scale`, each residual branch's output is multiplied by a per-channel scale of its own
for each choice of the branch's size (heads for attention, width for the FFN): NASViT's switchable
scaling (`supernets.switchable_scale`).
"""
from __future__ import annotations

import jax
from flax import nnx

from supernets import resort
from supernets.build import abstract
from supernets.decisions import largest, possible_values, read
from supernets.dispatch import choice_index, switch_block
from supernets.elastic_attention import ElasticAttention
from supernets.elastic_dense import ElasticDense
from supernets.masks import is_traced
from supernets.norms import ElasticLayerNorm
from supernets.switchable_scale import SwitchableScale, scaled


def gelu(x):
    return jax.nn.gelu(x, approximate=False)


class ElasticTransformerBlock(nnx.Module):
    """Sizes are ints or declared (`supernets.decisions`): called with `arch`, the block reads them itself."""

    def __init__(self, embed_dim, num_heads, head_dim: int, hidden, *, causal: bool = False,
                 switchable_scale: bool = False, rngs: nnx.Rngs):
        self.embed_dim, self.num_heads, self.head_dim, self.hidden = (largest(embed_dim), largest(num_heads),
                                                                      head_dim, largest(hidden))
        self.causal = causal
        self.attention_norm = ElasticLayerNorm(embed_dim)
        self.attention = ElasticAttention(embed_dim, num_heads, head_dim, causal=causal, rngs=rngs)
        self.ffn_norm = ElasticLayerNorm(embed_dim)
        self.ffn_in = ElasticDense(embed_dim, hidden, rngs=rngs)
        self.ffn_out = ElasticDense(hidden, embed_dim, rngs=rngs)
        if switchable_scale:
            self.attention_scale = SwitchableScale(num_heads, embed_dim)
            self.ffn_scale = SwitchableScale(hidden, embed_dim)
        else:
            self.attention_scale = self.ffn_scale = None

    def __call__(self, x, *, width=None, heads=None, hidden=None, arch=None, switch: bool = False):
        """x [B, T, e]; each size None (all), a Python int (sliced) or traced (masked); or, where the
        sizes are declared, read from `arch`."""
        if arch is not None:
            width, hidden = read(self.ffn_out.out_size, arch), read(self.ffn_in.out_size, arch)
            heads = read(self.attention.heads, arch)
            if switch and (is_traced(heads) or is_traced(hidden)):
                return self._switched(x, width, heads, hidden)
            x = x + scaled(self.attention(self.attention_norm(x, width), arch=arch), self.attention_scale, heads)
            return x + scaled(self.ffn_out(gelu(self.ffn_in(self.ffn_norm(x, width), hidden)), width), self.ffn_scale,
                              hidden)
        x = x + scaled(self.attention(self.attention_norm(x, width), heads, width), self.attention_scale, heads)
        h = gelu(self.ffn_in(self.ffn_norm(x, width), hidden))
        return x + scaled(self.ffn_out(h, width), self.ffn_scale, hidden)

    def _switched(self, x, width, heads, hidden):
        """One branch per (heads, FFN width) the arch may pick, each at those static sizes; recomputed
        in the backward pass (`remat`), so the switch carries no attention weights of untaken branches."""
        head_counts, hiddens = possible_values(self.attention.heads), possible_values(self.ffn_in.out_size)

        def branch(h, f):
            return lambda block, x: block(x, width=width, heads=h, hidden=f)
        index = choice_index(heads, head_counts) * len(hiddens) + choice_index(hidden, hiddens)
        return switch_block(index, self, x, [branch(h, f) for h in head_counts for f in hiddens], remat=True)

    def sort_channels(self) -> None:
        """Heads and FFN units by importance (Once-for-All's re-organisation), most first; the embedding
        width is left as it is: its channels are the residual stream every block, the embedding table and
        the tied output share, which the network sorts or not as a whole. The switchable scales are per
        embedding channel, so they do not move. Host arrays only."""
        self.attention.sort_channels()
        order = resort.descending(resort.l1_importance(self.ffn_out.kernel[...], axis=0))
        resort.permute_channels(self.ffn_in, order)
        resort.permute(self.ffn_out.kernel, order, axis=0)

    def sliced(self, width: int, heads: int, hidden: int) -> "ElasticTransformerBlock":
        block = abstract(ElasticTransformerBlock, width, heads, self.head_dim, hidden, causal=self.causal,
                         switchable_scale=self.attention_scale is not None)
        block.attention_norm = self.attention_norm.sliced(width)
        block.attention = self.attention.sliced(width, heads)
        block.ffn_norm = self.ffn_norm.sliced(width)
        block.ffn_in = self.ffn_in.sliced(width, hidden)
        block.ffn_out = self.ffn_out.sliced(hidden, width)
        if self.attention_scale is not None:
            block.attention_scale = self.attention_scale.sliced(heads, width)
            block.ffn_scale = self.ffn_scale.sliced(hidden, width)
        return block
