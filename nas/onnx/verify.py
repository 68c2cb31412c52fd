"""An ONNX export checked in onnxruntime against the jax model it came from, on real inputs.

Both read the same raw inputs (pixels as stored, or token windows), batch by batch. The figures:
the largest |onnxruntime - jax| over every logit, and the fraction of predictions (the argmax of
each example's logits, for a language model at every position) on which the two agree.

The check passes when the difference is within `tolerance` x max(1, the largest |jax logit|): 1e-5
absolute for logits of magnitude up to 1, relative beyond, where float32 rounding of a different
summation order alone grows with the logits (as in tests/search_spaces/test_lowering.py).
Disagreeing argmaxes within that bar can only be near ties, so agreement is reported, not required.

A deep network can amplify rounding beyond that bar: jax's own float32 result is then as far from
the exact one. Given `exact` (the same forward in float64), a difference beyond the bar is judged on
the batch where it is largest: the export passes if onnxruntime is no further from float64 than
twice jax's float32 result is (plus the bar), and the record says so ("float64_reference").
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


def check(model, reference, raw_inputs, *, batch_size: int = 500, tolerance: float = TOLERANCE,
          exact=None) -> dict:
    """{"max_abs_diff_vs_jax", "max_abs_logit", "allowed_diff", "argmax_agreement", "checked_examples"}
    of the export on `raw_inputs`; raises ExportError naming the figure and the bar beyond it."""
    runner = session(model)
    input_name = runner.get_inputs()[0].name
    raw_inputs = np.asarray(raw_inputs)
    if len(raw_inputs) == 0:
        raise ExportError("ONNX check: no examples to check the export on; allowed: at least one")
    worst, largest, agreeing, predictions, worst_batch = 0.0, 0.0, 0, 0, None
    for start in range(0, len(raw_inputs), batch_size):
        batch = raw_inputs[start:start + batch_size]
        got = runner.run(None, {input_name: batch})[0]
        want = np.asarray(reference(batch))
        if got.shape != want.shape:
            raise ExportError(f"ONNX check: onnxruntime gives logits of shape {got.shape}, jax {want.shape}")
        difference = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        if worst_batch is None or not difference <= worst:
            worst, worst_batch = difference, (batch, got, want)
        largest = max(largest, float(np.max(np.abs(want))))
        agreeing += int(np.sum(np.argmax(got, -1) == np.argmax(want, -1)))
        predictions += int(np.prod(want.shape[:-1]))
    bar = tolerance * max(1.0, largest)
    record = {"max_abs_diff_vs_jax": worst, "max_abs_logit": largest, "allowed_diff": bar,
              "argmax_agreement": agreeing / predictions, "checked_examples": int(len(raw_inputs))}
    if worst <= bar:
        return record
    failure = (f"ONNX check failed: max |onnxruntime - jax| = {worst:.3g} over {len(raw_inputs)} examples "
               f"(allowed <= {bar:.3g}: {tolerance:g} x max(1, max |logit| {largest:.3g})")
    if exact is None or not np.isfinite(worst):
        raise ExportError(failure + ")")
    batch, got, want = worst_batch
    try:
        truth = np.asarray(exact(batch), np.float64)
    except Exception as error:  # a model that does not run in float64: the float32 bar stands
        raise ExportError(f"{failure}; the float64 reference did not run: {type(error).__name__})") from None
    ort_error = float(np.max(np.abs(got - truth)))
    jax_error = float(np.max(np.abs(want - truth)))
    if not ort_error <= 2 * jax_error + bar:
        raise ExportError(f"{failure}, and on that batch onnxruntime is {ort_error:.3g} from the float64 result "
                          f"where jax's float32 is {jax_error:.3g}; allowed <= 2 x that + the bar)")
    return {**record, "float64_reference": {"examples": int(len(batch)), "onnxruntime_error": ort_error,
                                            "jax_float32_error": jax_error}}
