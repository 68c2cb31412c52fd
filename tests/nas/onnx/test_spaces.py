"""Every shipped space, largest and smallest subnet: the standalone forward with its preprocessing, as
ONNX, computes in onnxruntime what jax computes (the depthwise taps XLA:CPU runs included) at two
batch sizes, on random raw inputs: uint8-scale pixels, or byte tokens."""
import jax
import numpy as np
import pytest

import nas.onnx
from nas.definition import get_definition
from nas.export import float64_forward, raw_forward
from nas.lowering import split
from supernets.active_subnet import get_active_subnet
from supernets.ops import portable_depthwise

PIXELS = {"kind": "normalise", "pixel_scale": 1 / 255, "mean": 0.286, "std": 0.353}
SPACES = {
    "mlp": ({"max_width": 32}, (28, 28, 1)),
    "mobilenetv3": ({"width_mult": 0.25, "depths": [1, 2], "kernels": [3, 7], "expands": [3, 6]}, (28, 28, 1)),
    "macro_chain": ({"init_channels": 8, "head_channels": 32}, (28, 28, 1)),
    "nb201": ({"channels": 4, "cells_per_stage": 1}, (28, 28, 1)),
    "vit": ({"embed_dims": [16, 32], "depths": [1, 2], "heads": [1, 2], "mlp_ratios": [1, 2], "head_dim": 8,
             "patch_size": 7}, (28, 28, 1)),
    "transformer_lm": ({"embed_dims": [32, 64], "depths": [1, 2], "heads": [1, 2], "ffn_widths": [32, 64],
                        "head_dim": 16, "context": 16}, (16,)),
}


def subnets(name):
    options, shape = SPACES[name]
    definition = get_definition(name)
    space, supernet = definition.build(definition.resolve_options(options, shape if len(shape) > 1 else None))
    for arch in (space.largest(), space.smallest()):
        yield split(get_active_subnet(supernet, arch)), shape, definition.inputs == "tokens"


@pytest.mark.parametrize("name", SPACES)
def test_shipped_space_exports_to_onnx_equal_to_jax(name):
    rng = np.random.default_rng(0)
    for (graphdef, params, stats), shape, tokens in subnets(name):
        forward = raw_forward(graphdef, params, stats, {"kind": "tokens"} if tokens else PIXELS)
        with portable_depthwise():
            model = nas.onnx.to_onnx(forward, shape, np.int32 if tokens else np.float32)
        assert not {node.op_type for node in model.graph.node} & {"Loop", "Scan", "If"}
        reference = jax.jit(forward)
        for batch in (1, 7):
            raw = (rng.integers(0, 256, (batch, *shape)).astype(np.int32) if tokens
                   else rng.integers(0, 256, (batch, *shape)).astype(np.float32))
            record = nas.onnx.check(model, reference, raw)
            assert record["max_abs_diff_vs_jax"] <= 1e-5 * max(1.0, record["max_abs_logit"]), record
            assert record["checked_examples"] == batch
        # The float64 reference a check turns to beyond its bar runs for every space.
        exact = float64_forward(graphdef, params, stats, {"kind": "tokens"} if tokens else PIXELS)(raw)
        assert exact.dtype == np.float64
        np.testing.assert_allclose(exact, reference(raw), atol=1e-4 * max(1.0, float(np.abs(exact).max())))
