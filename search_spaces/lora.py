"""Elastic low-rank adapters on a frozen, trained language model (Shears / LoNAS / SQFT).

`nas train --space lora --base runs/BASE` takes the standalone subnet `base_arch` of a trained
`transformer_lm` run (its largest by default, or an export's `arch.json`) and puts an
`ElasticLoRADense` on the projections each entry of `groups` names, in every layer:

    "qkv"  query, key and value share one rank decision   (Shears' grouping, the default:
    "up"   the FFN's first projection                       ("qkv", "up", "down"))
    "down" the FFN's second projection
    "o"    the attention output ("q", "k", "v", "o" may be grouped in any combination)

Each group is one decision per layer, `l{i}.{group}_rank`, over the nested `ranks` (rank r uses the
first r columns of A and rows of B). Every weight of the base is `Frozen` (`supernets.frozen`):
training moves the adapters only. `sparsity` > 0 first prunes every projection of the base with
Wanda (`supernets.wanda`, layer by layer on the base run's first training windows); its adapters
then export kept apart, else merged into the base kernels. `ffn_fractions` (LoNAS) makes each
layer's FFN width elastic too: `l{i}.ffn_width` over those fractions of the base's width (the
prefix widths the base supernet trained).

The task is domain adaptation: pretrain the base on some fortune collections and adapt on others
(`--collections`, `nas.text_data`). `context` must be the base's context.
"""
from __future__ import annotations

from typing import Annotated

from flax import nnx

from nas.base_model import load_base
from nas.declared_space import declared_space
from nas.errors import ConfigError
from nas.option_bounds import POSITIVE, PositiveInt
from supernets import shape_trace, wanda
from supernets.decisions import NestedWidth
from supernets.elastic_attention import attention
from supernets.elastic_lora import ElasticLoRADense, adapter_usage
from supernets.frozen import FrozenDense, freeze
from supernets.switchable_scale import scaled
from supernets.transformer_block import gelu

NAME = "lora"
PROJECTIONS = {"q": ("attention", "query"), "k": ("attention", "key"), "v": ("attention", "value"),
               "o": ("attention", "out"), "up": (None, "ffn_in"), "down": (None, "ffn_out")}


def parse_groups(groups) -> list[tuple[str, tuple[str, ...]]]:
    """[(group name, projections)] from entries like "qkv", "o", "up", "down"; each projection at most once."""
    if isinstance(groups, str) or not isinstance(groups, (list, tuple)) or not groups:
        raise ConfigError(f"space 'lora': groups must be a non-empty list such as [\"qkv\", \"up\", \"down\"], "
                          f"got {groups!r}")
    parsed, seen = [], set()
    for entry in groups:
        members = (entry,) if entry in ("up", "down") else tuple(entry) if isinstance(entry, str) else ()
        if not members or any(m not in PROJECTIONS for m in members) or len(set(members)) != len(members):
            raise ConfigError(f"space 'lora': group {entry!r} is not one of up, down or letters of q, k, v, o")
        if seen & set(members):
            raise ConfigError(f"space 'lora': projection(s) {sorted(seen & set(members))} are in two groups")
        seen |= set(members)
        parsed.append((entry, members))
    return parsed


def _check_ranks(ranks) -> tuple[int, ...]:
    ranks = tuple(ranks) if isinstance(ranks, (list, tuple)) else ()
    if not ranks or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in ranks) or \
            list(ranks) != sorted(set(ranks)):
        raise ConfigError("space 'lora': ranks must be strictly increasing positive ints such as [16, 24, 32]")
    return ranks


def _ffn_widths(hidden: int, fractions) -> tuple[int, ...]:
    widths = tuple(sorted({max(1, round(hidden * f)) for f in fractions}))
    if any(not 0 < f <= 1 for f in fractions) or widths[-1] != hidden:
        raise ConfigError(f"space 'lora': ffn_fractions must lie in (0, 1] and include 1.0, got {list(fractions)}")
    return widths


class AdaptedBlock(nnx.Module):
    """A pre-LN transformer block of the frozen base, its projections adapted where a group names them."""

    def __init__(self, block, index: int, groups, ranks, ffn_fractions, alpha, merge: bool, rngs: nnx.Rngs):
        # The base's attention module keeps its own cost (the token-by-token products); its projections
        # are replaced below and called from here, each with the arch.
        self.attention, self.attention_norm, self.ffn_norm = block.attention, block.attention_norm, block.ffn_norm
        # A base trained with switchable scaling keeps its subnet's (frozen) scales on both branches.
        self.attention_scale, self.ffn_scale = block.attention_scale, block.ffn_scale
        # A sliced subnet's attention still names the supernet's heads decision; here the heads are fixed.
        heads = block.attention.query.out_features // block.attention.head_dim
        self.attention.heads = self.attention.num_heads = heads
        hidden = block.ffn_in.out_features
        width = NestedWidth(widths=_ffn_widths(hidden, ffn_fractions), name=f"l{index}.ffn_width") \
            if ffn_fractions else hidden
        sizes = {"ffn_in": {"out_features": width}, "ffn_out": {"in_features": width}}
        rank_of = {}
        for name, members in groups:
            decision = NestedWidth(widths=ranks, name=f"l{index}.{name}_rank")
            rank_of.update(dict.fromkeys(members, decision))
        for key, (parent, attribute) in PROJECTIONS.items():
            owner = getattr(block, parent) if parent else block
            dense, size = getattr(owner, attribute), sizes.get(attribute, {})
            layer = ElasticLoRADense.around(dense, rank_of[key], alpha=alpha, merge=merge, rngs=rngs, **size) \
                if key in rank_of else FrozenDense.of(dense, **size)
            setattr(self.attention if parent else self, attribute, layer)

    def projections(self) -> list:
        attention = self.attention
        return [attention.query, attention.key, attention.value, attention.out, self.ffn_in, self.ffn_out]

    def __call__(self, x, *, arch=None):
        attention_module, h = self.attention, self.attention_norm(x)
        shape_trace.note(attention_module, h)
        q, k, v = (p(h, arch=arch) for p in (attention_module.query, attention_module.key, attention_module.value))
        y = attention(q, k, v, attention_module.head_dim, attention_module.causal)
        x = x + scaled(attention_module.out(y, arch=arch), self.attention_scale)
        return x + scaled(self.ffn_out(gelu(self.ffn_in(self.ffn_norm(x), arch=arch)), arch=arch), self.ffn_scale)


class LoRALM(nnx.Module):
    """The frozen base LM with elastic adapters; `__call__(tokens [B, T])` -> logits [B, T, 256]."""

    def __init__(self, base: str | None = None, base_arch: str = "largest", ranks=(16, 24, 32),
                 groups=("qkv", "up", "down"), alpha: Annotated[float | None, POSITIVE] = None,
                 sparsity: float = 0.0, ffn_fractions=(), calibration_windows: PositiveInt = 64,
                 context: PositiveInt = 64, *, rngs: nnx.Rngs):
        ranks, parsed = _check_ranks(ranks), parse_groups(groups)
        sparsity = wanda.check_ratio(sparsity)
        loaded = load_base(base, base_arch, calibration_windows)
        if loaded.space != "transformer_lm":
            raise ConfigError(f"--base {base}: adapters wrap a transformer_lm run, this one trained {loaded.space!r}")
        if loaded.options["context"] != context:
            raise ConfigError(f"space 'lora': context {context} differs from the base's {loaded.options['context']}; "
                              f"give --option context={loaded.options['context']}")
        lm = freeze(loaded.model())
        self.embedding, self.positions, self.norm = lm.embedding, lm.positions, lm.norm
        self.blocks = nnx.List([AdaptedBlock(block, i, parsed, ranks, tuple(ffn_fractions), alpha, sparsity == 0, rngs)
                                for i, block in enumerate(lm.blocks.blocks)])
        if sparsity:  # Wanda on the base, block by block; the untrained adapters (B = 0) add nothing yet
            wanda.sparsify(self, [block.projections() for block in self.blocks], loaded.calibration, sparsity)

    def param_usage(self, arch) -> list:
        """Which adapter entries `arch` trains (`nas.lowering.param_usage`): every parameter is an adapter's."""
        return adapter_usage(self, dict(arch))

    def __call__(self, tokens, *, train: bool = False, arch=None):
        del train  # no batch statistics, no dropout
        h = self.embedding.embed(tokens) + self.positions(tokens.shape[1])
        for block in self.blocks:
            h = block(h, arch=arch)
        return self.embedding.logits(self.norm(h))


DEFINITION = declared_space(NAME, LoRALM, inputs="tokens")
