"""DiskCachedJit: same results as jax.jit, no Python tracing on a warm start, corrupt entries re-traced."""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas.traced_cache import DiskCachedJit


class Pair(NamedTuple):
    weights: dict
    count: jax.Array


def make_function(calls: list):
    def update(pair: Pair, x):
        calls.append(1)  # runs only while tracing
        hidden = jnp.tanh(x @ pair.weights["w"] + pair.weights["b"])
        new = Pair({"w": pair.weights["w"] * 0.5, "b": pair.weights["b"] + hidden.mean(0)}, pair.count + 1)
        return new, {"mean": hidden.mean(), "rows": hidden}
    return update


def out_structure(pair, x):
    return jax.tree.structure((pair, {"mean": 0, "rows": 0}))


def arguments():
    rng = np.random.default_rng(0)
    pair = Pair({"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), "b": jnp.zeros(4)}, jnp.zeros((), jnp.int32))
    return pair, jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)


def cached(calls, directory, key="k"):
    return DiskCachedJit(make_function(calls), name="unit", key=key, out_structure=out_structure,
                         directory=directory)


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_matches_jit_and_warm_start_skips_tracing(tmp_path):
    expected = jax.jit(make_function([]))(*arguments())
    calls = []
    first = cached(calls, tmp_path)
    assert_trees_equal(first(*arguments()), expected)
    assert len(calls) == 1 and "trace_s" in first.last_prepare
    first(*arguments())
    assert len(calls) == 1  # one program per argument signature
    second = cached(calls, tmp_path)  # as a fresh process would
    assert_trees_equal(second(*arguments()), expected)
    assert len(calls) == 1 and "load_s" in second.last_prepare


def test_other_key_or_shape_traces_again(tmp_path):
    calls = []
    cached(calls, tmp_path, key="a")(*arguments())
    cached(calls, tmp_path, key="b")(*arguments())
    pair, x = arguments()
    cached(calls, tmp_path, key="a")(pair, x[:2])
    assert len(calls) == 3


def test_corrupt_entry_is_traced_again(tmp_path):
    calls = []
    expected = cached(calls, tmp_path)(*arguments())
    (entry,) = tmp_path.glob("unit-*.exported")
    entry.write_bytes(b"not a program")
    with pytest.warns(UserWarning, match="unreadable traced-program cache entry"):
        result = cached(calls, tmp_path)(*arguments())
    assert len(calls) == 2
    assert_trees_equal(result, expected)
    assert "load_s" in cached(calls, tmp_path).prepare(*arguments())  # rewritten


def test_wrong_out_structure_is_an_error(tmp_path):
    wrong = DiskCachedJit(make_function([]), name="unit", key="k", directory=tmp_path,
                          out_structure=lambda pair, x: jax.tree.structure((pair, {"mean": 0})))
    with pytest.raises(TypeError, match="out_structure"):
        wrong(*arguments())


def test_disabled_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WEFT_TRACED_CACHE", "0")
    calls = []
    cached(calls, tmp_path)(*arguments())
    cached(calls, tmp_path)(*arguments())
    assert len(calls) == 2 and not list(tmp_path.iterdir())


def test_the_code_fingerprint_follows_an_edited_module(tmp_path, monkeypatch):
    # A traced program is only valid for the code that traced it: editing any loaded module must change
    # the fingerprint, although unchanged files are not re-read: an edit to the same size within the
    # filesystem's timestamp granularity (just written, so never memoised) and one made later.
    import importlib
    import os
    import sys

    from nas import traced_cache

    source = tmp_path / "weft_fingerprinted_module.py"
    source.write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("weft_fingerprinted_module")
    try:
        before = traced_cache.code_fingerprint()
        assert traced_cache.code_fingerprint() == before
        stamp = source.stat().st_mtime_ns
        source.write_text("SCALE = 2\n")
        os.utime(source, ns=(stamp, stamp))  # same size, same modification time
        assert traced_cache.code_fingerprint() != before
        # Older than the racy window: memoised, and an edit (new size and time) still changes it.
        old = source.stat().st_mtime_ns - 10 * traced_cache._RACY_NANOSECONDS
        os.utime(source, ns=(old, old))
        monkeypatch.setattr(traced_cache, "_RACY_NANOSECONDS", 0)
        middle = traced_cache.code_fingerprint()
        assert str(source) in traced_cache._SOURCE_DIGESTS
        source.write_text("SCALE = 30\n")
        assert traced_cache.code_fingerprint() not in (before, middle)
    finally:
        sys.modules.pop("weft_fingerprinted_module", None)
