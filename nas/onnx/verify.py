"""An ONNX export checked in onnxruntime against the jax model it came from, on real inputs.

Both read the same raw inputs (pixels as stored, or token windows), batch by batch. The figures:
the largest |onnxruntime - jax| over every logit, and the fraction of predictions (the argmax of
each example's logits, for a language model at every position) on which the two agree.

The check passes when the difference is within `tolerance` x max(1, the largest |jax logit|): 1e-5
absolute for logits of magnitude up to 1, relative beyond, where float32 rounding of a different
summation order alone grows with the logits (as in tests/search_spaces/test_lowering.py).
Disagreeing argmaxes within that bar can only be near ties, so agreement is reported, not required.
"""
from __future__ import annotations

import numpy as np
import onnxruntime

from nas.errors import ExportError

TOLERANCE = 1e-5  # float32 logits: the two runtimes differ by reduction order only


def session(model) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session of a ModelProto, serialised bytes or a file path."""
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else model
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                        providers=["CPUExecutionProvider"])


def check(model, reference, raw_inputs, *, batch_size: int = 500, tolerance: float = TOLERANCE) -> dict:
    """{"max_abs_diff_vs_jax", "max_abs_logit", "allowed_diff", "argmax_agreement", "checked_examples"}
    of the export on `raw_inputs`; raises ExportError naming the figure and the bar beyond it."""
    runner = session(model)
    input_name = runner.get_inputs()[0].name
    raw_inputs = np.asarray(raw_inputs)
    if len(raw_inputs) == 0:
        raise ExportError("ONNX check: no examples to check the export on; allowed: at least one")
    worst, largest, agreeing, predictions = 0.0, 0.0, 0, 0
    for start in range(0, len(raw_inputs), batch_size):
        batch = raw_inputs[start:start + batch_size]
        got = runner.run(None, {input_name: batch})[0]
        want = np.asarray(reference(batch))
        if got.shape != want.shape:
            raise ExportError(f"ONNX check: onnxruntime gives logits of shape {got.shape}, jax {want.shape}")
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))))
        largest = max(largest, float(np.max(np.abs(want))))
        agreeing += int(np.sum(np.argmax(got, -1) == np.argmax(want, -1)))
        predictions += int(np.prod(want.shape[:-1]))
    bar = tolerance * max(1.0, largest)
    if not worst <= bar:  # NaN fails too
        raise ExportError(f"ONNX check failed: max |onnxruntime - jax| = {worst:.3g} over {len(raw_inputs)} "
                          f"examples (allowed <= {bar:.3g}: {tolerance:g} x max(1, max |logit| {largest:.3g}))")
    return {"max_abs_diff_vs_jax": worst, "max_abs_logit": largest, "allowed_diff": bar,
            "argmax_agreement": agreeing / predictions, "checked_examples": int(len(raw_inputs))}
