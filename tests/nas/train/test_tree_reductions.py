"""Whole-tree reductions: every entry is read, small leaves grouped, large leaves alone."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nas.train import tree_reductions
from nas.train.tree_reductions import SMALL_LEAF, all_finite, norm


def tree():
    rng = np.random.default_rng(0)
    return {"small": [jnp.asarray(rng.standard_normal((3, 5)), jnp.float32) for _ in range(4)],
            "large": jnp.asarray(rng.standard_normal((SMALL_LEAF + 7,)), jnp.float32),
            "half": jnp.asarray(rng.standard_normal((9,)), jnp.bfloat16),
            "count": jnp.asarray([1, 2, 3], jnp.int32)}


@pytest.mark.parametrize("where", ["small", "large", "half"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_single_non_finite_entry_anywhere_is_found(where, bad):
    t = tree()
    assert bool(jax.jit(all_finite)(t))
    if where == "small":
        t["small"][2] = t["small"][2].at[1, 4].set(bad)
    else:
        t[where] = t[where].at[-1].set(bad)
    assert not bool(jax.jit(all_finite)(t))


def test_huge_finite_values_are_finite():
    # A plain sum of these would overflow to inf; the check must not call them non-finite.
    t = {"large": jnp.full((SMALL_LEAF + 1,), 3e38, jnp.float32), "small": jnp.full((4,), -3e38, jnp.float32)}
    assert bool(jax.jit(all_finite)(t))


def test_norm_matches_optax_and_integer_leaves_are_ignored():
    t = tree()
    floats = {k: v for k, v in t.items() if k != "count"}
    np.testing.assert_allclose(float(jax.jit(norm)(t)), float(optax.tree.norm(floats)), rtol=1e-5)
    assert bool(all_finite({"count": jnp.asarray([1])})) and float(norm({})) == 0.0


def test_small_leaves_share_one_reduction():
    parts = tree_reductions._parts(tree())
    # one large leaf alone, the four small float32 leaves together, the bfloat16 leaf on its own
    assert sorted(int(p.size) for p in parts) == sorted([SMALL_LEAF + 7, 4 * 15, 9])
