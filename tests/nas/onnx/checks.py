"""Shared by the ONNX tests: a function lowered, run in onnxruntime at several batch sizes, compared with jax."""
import jax
import numpy as np

from nas.onnx import to_onnx
from nas.onnx.verify import session


def inputs(shape, dtype, batch, seed=0):
    rng = np.random.default_rng(seed + batch)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 256, (batch, *shape)).astype(dtype)
    return rng.normal(size=(batch, *shape)).astype(dtype)


def assert_onnx_matches(fn, shape, dtype=np.float32, batches=(1, 7), tolerance=1e-5, make_inputs=inputs):
    """The ONNX form of `fn` (batch size free) computes what jax computes at each batch size."""
    model = to_onnx(fn, shape, dtype)
    runner = session(model)
    for batch in batches:
        x = make_inputs(shape, dtype, batch)
        got = runner.run(None, {"inputs": x})[0]
        want = np.asarray(jax.jit(fn)(x))
        assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size and want.dtype.kind == "f" else 1.0
        np.testing.assert_allclose(got, want, atol=tolerance * scale, rtol=0)
    return model
