"""Dense layer of a frozen base plus a low-rank adapter of elastic rank (Shears, LoNAS, SQFT).

    y = x @ W0[:in, :out] + b0[:out] + scale * (x @ A[:in, :r]) @ B[:r, :out]

`W0`, `b0` are the base's weights, held `Frozen` (`supernets.frozen`): training never moves
them. `A` [in, R] and `B` [R, out] are the super-adapter at the largest rank R; rank r uses the
first r columns of A and rows of B (nested, as Shears' sub-adapters: `lora_A[:r]`,
`lora_B[:, :r]`). `scale` is LoRA's alpha / R, fixed for every sub-adapter, as Shears keeps the
super-adapter's scaling when it extracts a smaller one. A starts as LoRA's uniform +-1/sqrt(in),
B at zero, so the untrained adapter computes exactly the base.

The rank is a size like any other (`supernets.decisions`): an int, or a declared decision
(`NestedWidth(widths=(16, 24, 32))`); layers given the same decision object share it (Shears'
groups: q, k and v together). It is read as every size is (`supernets.masks`): a traced int masks
the rank axis with `jnp.where` (one compile for every rank; unused columns of A and rows of B get
exactly zero gradient), a Python int slices, a `Relaxed` vector superposes the ranks (the masked
rank axis scaled by P(rank > i)). The base's widths may be elastic too (LoNAS's elastic FFN).

`active(values)` is the standalone layer: with `merge` (the default) a plain `ElasticDense` whose
kernel is W0 + scale * A_r B_r; without it (a sparse base, whose zeros a dense B_r A_r would fill)
a `LoRADense` keeping base and factors apart. Cost counts the base and the adapter beside it
(the supernet's and the kept-apart export's form): params minus the base's are the trainable ones.
"""
from __future__ import annotations

from flax import nnx

from nas.hardware import layer_counts
from supernets import init, input_norms, ops, shape_trace
from supernets.build import abstract, with_values
from supernets.decisions import evaluate, largest, read
from supernets.elastic_dense import ElasticDense
from supernets.frozen import Frozen
from supernets.masks import mask_last_axis, static_width


def merge_is_cheaper(tokens: int, in_width: int, out_width: int, rank: int) -> bool:
    """Whether x (W0 + s A B) costs fewer multiply-adds per training step than x W0 + s (x A) B.

    Kept apart, the adapter adds 3 r (in + out) per token (x A and (x A) B forward; their input, A and B
    gradients backward). Merged, it adds the kernel's gradient, in x out per token, and 3 in r out per
    step (A B, then the A and B gradients from the kernel's). Apart wins for a wide base at a small rank
    (LoRA's usual case); merged for a narrow one, where it also runs one large matmul instead of three
    small ones.
    """
    return tokens * in_width * out_width + 3 * in_width * rank * out_width < 3 * tokens * rank * (in_width + out_width)


class ElasticLoRADense(nnx.Module):
    cost_type = "lora_dense"

    def __init__(self, in_features, out_features, rank, *, alpha: float | None = None, use_bias: bool = True,
                 merge: bool = True, rngs: nnx.Rngs):
        self.in_size, self.out_size, self.rank = in_features, out_features, rank
        self.in_features, self.out_features, self.max_rank = largest(in_features), largest(out_features), largest(rank)
        if self.max_rank < 1:
            raise ValueError(f"ElasticLoRADense: the largest rank must be >= 1, got {self.max_rank}")
        self.alpha = float(self.max_rank if alpha is None else alpha)
        self.scale = self.alpha / self.max_rank
        self.use_bias, self.merge = use_bias, merge
        fan_in, out = self.in_features, self.out_features
        # The base as PyTorch's Linear initialises it (replaced by a trained base's weights in practice).
        self.kernel = Frozen(init.variance_scaling(rngs, (fan_in, out), 1.0 / 3.0, "fan_in", "uniform"))
        self.bias = Frozen(init.uniform(rngs, (out,), 1.0 / fan_in ** 0.5)) if use_bias else None
        self.lora_a = nnx.Param(init.uniform(rngs, (fan_in, self.max_rank), 1.0 / fan_in ** 0.5))
        self.lora_b = nnx.Param(init.constant((self.max_rank, out), 0.0))

    @classmethod
    def around(cls, dense: ElasticDense, rank, *, in_features=None, out_features=None, alpha: float | None = None,
               merge: bool = True, rngs: nnx.Rngs) -> "ElasticLoRADense":
        """An adapter of elastic `rank` on `dense`'s weights (frozen); its sizes unless given (LoNAS's elastic FFN)."""
        layer = cls(dense.in_size if in_features is None else in_features,
                    dense.out_size if out_features is None else out_features, rank,
                    alpha=alpha, use_bias=dense.use_bias, merge=merge, rngs=rngs)
        if (layer.in_features, layer.out_features) != tuple(dense.kernel.shape):
            raise ValueError(f"ElasticLoRADense.around: sizes {layer.in_features}x{layer.out_features} do not fit the "
                             f"base kernel {tuple(dense.kernel.shape)}")
        layer.kernel.set_value(dense.kernel[...])
        if dense.use_bias:
            layer.bias.set_value(dense.bias[...])
        return layer

    def __call__(self, x, out_width=None, rank=None, *, arch=None):
        """x [..., in]; `out_width` and `rank` None (all), Python ints (sliced) or traced (masked); or read
        from `arch` where declared."""
        shape_trace.note(self, x)
        input_norms.note(self, x)
        if arch is not None:
            out_width, rank = read(self.out_size, arch), read(self.rank, arch)
        out, width = static_width(out_width, self.out_features), x.shape[-1]
        r = static_width(rank, self.max_rank)
        kernel, bias = self.kernel[...][:width, :out], None if self.bias is None else self.bias[...][:out]
        a, b = self.lora_a[...][:width, :r], self.lora_b[...][:r, :out]
        if merge_is_cheaper(x.size // width, width, out, r):  # x (W0 + s A B): the same function
            return mask_last_axis(ops.dense(x, kernel + self.scale * (mask_last_axis(a, rank) @ b), bias), out_width)
        low = mask_last_axis(x @ a, rank)
        return mask_last_axis(ops.dense(x, kernel, bias) + self.scale * (low @ b), out_width)

    def factors(self, in_width: int, out_width: int, rank: int):
        """(W0, b0, A_r, B_r) at these sizes (host or device arrays as the layer holds them)."""
        bias = self.bias[...][:out_width] if self.use_bias else None
        return (self.kernel[...][:in_width, :out_width], bias, self.lora_a[...][:in_width, :rank],
                self.lora_b[...][:rank, :out_width])

    def sliced(self, in_width: int, out_width: int, rank: int):
        """The standalone layer at these sizes: merged into one dense kernel, or kept apart (`merge=False`)."""
        kernel, bias, a, b = self.factors(in_width, out_width, rank)
        if self.merge:
            layer = abstract(ElasticDense, in_width, out_width, use_bias=self.use_bias)
            with_values(layer, kernel=kernel + self.scale * (a @ b))  # numpy on host (slicing) or traced
            if self.use_bias:
                with_values(layer, bias=bias)
            return layer
        return LoRADense.of(kernel, bias, a, b, self.scale)

    def active(self, values):
        """The standalone layer of a fixed arch (decision values by name)."""
        return self.sliced(evaluate(self.in_size, values), evaluate(self.out_size, values),
                           evaluate(self.rank, values))

    # -- derived cost (supernets.decisions) -------------------------------------------

    def cost_sizes(self) -> dict:
        return {"in": self.in_size, "out": self.out_size, "rank": self.rank}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        tokens = 1
        for extent in input_shape[1:-1]:
            tokens *= extent
        return {"type": self.cost_type, "in": sizes["in"], "out": sizes["out"], "rank": sizes["rank"],
                "tokens": tokens, "bias": self.use_bias}

    @staticmethod
    def count_cost(config: dict) -> tuple[int, int]:
        """The base and the adapter beside it: x W0 and (x A) B."""
        adapter = config["rank"] * (config["in"] + config["out"])
        return (layer_counts.dense_macs(config["in"], config["out"], config["tokens"]) + config["tokens"] * adapter,
                layer_counts.dense_params(config["in"], config["out"], config["bias"]) + adapter)

    @staticmethod
    def build_for_cost(config: dict, rngs: nnx.Rngs):
        layer = LoRADense(config["in"], config["out"], config["rank"], use_bias=config["bias"], rngs=rngs)
        shape = (config["in"],) if config["tokens"] == 1 else (config["tokens"], config["in"])
        return layer, shape


class LoRADense(nnx.Module):
    """A plain rank-r LoRA layer, base and factors apart: `x @ W0 + b0 + scale * (x @ A) @ B`.

    What a sparse base exports to, and the reference a rank-r slice of `ElasticLoRADense` must equal.
    Every weight is an `nnx.Param`: a standalone model has nothing frozen.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, *, scale: float = 1.0, use_bias: bool = True,
                 rngs: nnx.Rngs):
        self.in_features, self.out_features, self.rank, self.scale = in_features, out_features, rank, float(scale)
        self.use_bias = use_bias
        self.kernel = nnx.Param(init.variance_scaling(rngs, (in_features, out_features), 1.0 / 3.0, "fan_in",
                                                      "uniform"))
        self.bias = nnx.Param(init.uniform(rngs, (out_features,), 1.0 / in_features ** 0.5)) if use_bias else None
        self.lora_a = nnx.Param(init.uniform(rngs, (in_features, rank), 1.0 / in_features ** 0.5))
        self.lora_b = nnx.Param(init.constant((rank, out_features), 0.0))

    @classmethod
    def of(cls, kernel, bias, a, b, scale: float) -> "LoRADense":
        """The layer holding exactly these weights (no init computed)."""
        layer = abstract(cls, int(kernel.shape[0]), int(kernel.shape[1]), int(a.shape[1]), scale=float(scale),
                         use_bias=bias is not None)
        with_values(layer, kernel=kernel, lora_a=a, lora_b=b)
        if bias is not None:
            with_values(layer, bias=bias)
        return layer

    def __call__(self, x, *, arch=None):
        del arch  # standalone: no decisions to read (called as the elastic layer it replaces is)
        base = ops.dense(x, self.kernel[...], None if self.bias is None else self.bias[...])
        return base + self.scale * ((x @ self.lora_a[...]) @ self.lora_b[...])


def adapter_usage(model: nnx.Module, values) -> list:
    """Per `nnx.Param` leaf of `model` (in `jax.tree.leaves` order), a bool array: True where the adapters of
    the fixed arch `values` read the entry (the first r columns of A and rows of B at the active widths).

    The `param_usage` of a network whose parameters are all adapters: slicing merges A_r B_r into the
    base kernel, so usage cannot be traced through the slice (`nas.lowering.param_usage`).
    """
    import jax
    import numpy as np

    marked = nnx.clone(model)
    for _, layer in nnx.iter_modules(marked):
        if isinstance(layer, ElasticLoRADense):
            width, out, rank = (evaluate(size, values) for size in (layer.in_size, layer.out_size, layer.rank))
            used_a, used_b = np.zeros(layer.lora_a.shape, bool), np.zeros(layer.lora_b.shape, bool)
            used_a[:width, :rank], used_b[:rank, :out] = True, True
            layer.lora_a.set_value(used_a)
            layer.lora_b.set_value(used_b)
    leaves = jax.tree.leaves(nnx.state(marked, nnx.Param))
    if any(leaf.dtype != bool for leaf in leaves):
        raise TypeError("adapter_usage: the model has parameters outside ElasticLoRADense adapters")
    return leaves
