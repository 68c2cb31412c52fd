"""ONNX export of a jax forward, lowered by weft itself from its jaxpr, and its check in onnxruntime.

    lower.py       the walker, the graph builder, shapes of a symbolic batch (`to_onnx`)
    primitives.py  the ONNX form of each supported jax primitive
    verify.py      the exported model run in onnxruntime against the jax forward on real inputs

The `onnx` and `onnxruntime` packages are an optional extra (`pip install 'weft[onnx]'`); nothing
here imports them until an export or a check is asked for.
"""
from __future__ import annotations

import importlib.util

from nas.errors import ConfigError


def require() -> None:
    """Raise one clear error when the optional packages are missing."""
    missing = [package for package in ("onnx", "onnxruntime") if importlib.util.find_spec(package) is None]
    if missing:
        raise ConfigError(f"ONNX export needs {' and '.join(missing)}, not installed: pip install 'weft[onnx]'")


def to_onnx(fn, input_shape, dtype):
    """`fn` (one array [batch, *input_shape] -> one array) as an ONNX ModelProto, the batch size free."""
    require()
    from nas.onnx.lower import to_onnx as lower

    return lower(fn, tuple(input_shape), dtype)


def check(model, reference, raw_inputs, **options) -> dict:
    """onnxruntime vs the jax `reference` on `raw_inputs` (see `nas.onnx.verify.check`)."""
    require()
    from nas.onnx.verify import check as run_check

    return run_check(model, reference, raw_inputs, **options)
