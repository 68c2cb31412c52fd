"""Dense layer with elastic input and output widths (prefixes of the largest)."""
from __future__ import annotations

from flax import nnx

from supernets import init, ops
from supernets.build import abstract, with_values
from supernets.masks import mask_last_axis, static_width


class ElasticDense(nnx.Module):
    """`y = x @ W[:in, :out] + b[:out]`.

    Masked lowering: inputs beyond the active input width must already be zero
    (every elastic layer zeroes its inactive outputs), so only the output is
    masked. `sliced` returns a plain layer of exactly the active shape.
    """

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool = True,
                 rngs: nnx.Rngs):
        self.in_features = in_features
        self.out_features = out_features
        self.use_bias = use_bias
        # PyTorch's default Linear init.
        self.kernel = nnx.Param(init.variance_scaling(rngs, (in_features, out_features), 1.0 / 3.0, "fan_in",
                                                      "uniform"))
        self.bias = nnx.Param(init.uniform(rngs, (out_features,), 1.0 / in_features ** 0.5)) if use_bias else None

    def __call__(self, x, out_width=None):
        out = static_width(out_width, self.out_features)
        kernel = self.kernel[...][:x.shape[-1], :out]
        y = ops.dense(x, kernel, None if self.bias is None else self.bias[...][:out])
        return mask_last_axis(y, out_width)

    def sliced(self, in_width: int, out_width: int) -> "ElasticDense":
        layer = abstract(ElasticDense, in_width, out_width, use_bias=self.use_bias)
        with_values(layer, kernel=self.kernel[...][:in_width, :out_width])
        if self.use_bias:
            with_values(layer, bias=self.bias[...][:out_width])
        return layer
