"""The heap trim runs once after each backend compile, not on calls that reuse an executable."""
import jax
import jax.numpy as jnp
import numpy as np

from nas import compile_memory


def test_trim_follows_each_compile_and_nothing_else(monkeypatch):
    calls = []
    monkeypatch.setattr(compile_memory, "_installed", False)
    monkeypatch.setattr(compile_memory, "_malloc_trim", lambda: calls.append)
    assert compile_memory.release_memory_after_compiles()
    assert compile_memory.release_memory_after_compiles()  # installed once: a second call adds no listener

    f = jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)
    f(np.ones(7, np.float32)).block_until_ready()
    assert calls == [0]
    f(np.ones(7, np.float32)).block_until_ready()  # the same executable: no compile, no trim
    assert calls == [0]
    f(np.ones(9, np.float32)).block_until_ready()  # a new shape compiles again
    assert calls == [0, 0]


def test_no_glibc_means_nothing_installed(monkeypatch):
    monkeypatch.setattr(compile_memory, "_installed", False)
    monkeypatch.setattr(compile_memory, "_malloc_trim", lambda: None)
    assert not compile_memory.release_memory_after_compiles()
