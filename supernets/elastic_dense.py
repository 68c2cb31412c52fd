"""Dense layer with elastic input and output widths (prefixes of the largest)."""
from __future__ import annotations

from flax import nnx

from nas.hardware import layer_counts
from supernets import init, ops, shape_trace
from supernets.build import abstract, with_values
from supernets.decisions import check_width, evaluate, largest, read
from supernets.masks import mask_last_axis, static_width


class ElasticDense(nnx.Module):
    """`y = x @ W[:in, :out] + b[:out]`.

    Masked lowering: inputs beyond the active input width must already be zero
    (every elastic layer zeroes its inactive outputs), so only the output is
    masked. `sliced` returns a plain layer of exactly the active shape.

    Sizes are ints or declared (`supernets.decisions`): a declared output width is read from the
    `arch` the layer is called with, and both sizes tell derived cost what sets this layer's shape.
    """

    cost_type = "dense"

    def __init__(self, in_features, out_features, *, use_bias: bool = True, rngs: nnx.Rngs):
        self.in_size, self.out_size = in_features, out_features
        self.in_features, self.out_features = largest(in_features), largest(out_features)
        self.use_bias = use_bias
        in_features, out_features = self.in_features, self.out_features
        # PyTorch's default Linear init.
        self.kernel = nnx.Param(init.variance_scaling(rngs, (in_features, out_features), 1.0 / 3.0, "fan_in",
                                                      "uniform"))
        self.bias = nnx.Param(init.uniform(rngs, (out_features,), 1.0 / in_features ** 0.5)) if use_bias else None

    def __call__(self, x, out_width=None, *, arch=None):
        shape_trace.note(self, x)
        if arch is not None:
            check_width(self, x.shape[-1], self.in_size, arch)
            out_width = read(self.out_size, arch)
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

    # -- derived cost and export (supernets.decisions) -------------------------------

    def cost_sizes(self) -> dict:
        return {"in": self.in_size, "out": self.out_size}

    def cost_config(self, sizes: dict, input_shape: tuple) -> dict:
        tokens = 1
        for extent in input_shape[1:-1]:
            tokens *= extent
        return {"type": self.cost_type, "in": sizes["in"], "out": sizes["out"], "tokens": tokens,
                "bias": self.use_bias}

    @staticmethod
    def count_cost(config: dict) -> tuple[int, int]:
        return (layer_counts.dense_macs(config["in"], config["out"], config["tokens"]),
                layer_counts.dense_params(config["in"], config["out"], config["bias"]))

    @staticmethod
    def build_for_cost(config: dict, rngs: nnx.Rngs):
        layer = ElasticDense(config["in"], config["out"], use_bias=config["bias"], rngs=rngs)
        shape = (config["in"],) if config["tokens"] == 1 else (config["tokens"], config["in"])
        return layer, shape

    def active(self, values) -> "ElasticDense":
        """The standalone layer of a fixed arch (decision values by name)."""
        return self.sliced(evaluate(self.in_size, values), evaluate(self.out_size, values))
