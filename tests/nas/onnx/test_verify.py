"""The onnxruntime check: the float32 bar, and beyond it the float64 reference that tells rounding a deep
network amplifies (jax as far from exact) from a wrong lowering (onnxruntime further from exact than jax)."""
import numpy as np
import pytest

from nas.errors import ExportError
from nas.onnx import check, to_onnx

W = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)


def forward(x):
    return x @ W


def test_within_the_bar_and_beyond_it():
    model = to_onnx(forward, (6,), np.float32)
    x = np.random.default_rng(1).normal(size=(9, 6)).astype(np.float32)
    exact = lambda raw: raw.astype(np.float64) @ W.astype(np.float64)  # noqa: E731
    record = check(model, forward, x, batch_size=4)
    assert record["max_abs_diff_vs_jax"] <= record["allowed_diff"] and "float64_reference" not in record
    assert record["checked_examples"] == 9 and record["argmax_agreement"] == 1.0

    # jax's float32 result 1e-3 off the exact one: onnxruntime, close to exact, is as accurate, so it passes.
    noisy = lambda raw: forward(raw) + 1e-3  # noqa: E731
    with pytest.raises(ExportError, match=r"max \|onnxruntime - jax\| = 0.001 over 9 examples"):
        check(model, noisy, x)
    record = check(model, noisy, x, exact=exact)
    assert record["float64_reference"]["jax_float32_error"] == pytest.approx(1e-3, rel=1e-3)
    assert record["float64_reference"]["onnxruntime_error"] < 1e-5

    # onnxruntime 1e-3 off where jax is exact: a wrong lowering, refused.
    with pytest.raises(ExportError, match="from the float64 result where jax's float32 is"):
        check(model, noisy, x, exact=noisy)
    with pytest.raises(ExportError, match="the float64 reference did not run: ZeroDivisionError"):
        check(model, noisy, x, exact=lambda raw: 1 / 0)
