"""`supernets.dispatch`: a traced choice picks its branch, and only that branch's statistics move."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from supernets.dispatch import choice_index, identity, switch_block


def test_choice_index_finds_a_traced_value_among_static_ones():
    index = jax.jit(lambda v: choice_index(v, (3, 5, 7)))
    assert [int(index(jnp.int32(v))) for v in (3, 5, 7)] == [0, 1, 2]
    assert int(index(jnp.int32(4))) == 0  # none of them: the first branch


def test_switch_block_runs_the_chosen_branch_and_moves_only_its_statistics():
    block = nnx.BatchNorm(4, rngs=nnx.Rngs(0))
    x = jnp.arange(8.0).reshape(2, 4)

    def normalised(module, h):
        return module(h, use_running_average=False)

    skipped = switch_block(jnp.int32(0), block, x, [identity, normalised])
    np.testing.assert_array_equal(skipped, x)
    np.testing.assert_array_equal(block.mean[...], np.zeros(4))  # the identity branch left the stats alone
    taken = switch_block(jnp.int32(1), block, x, [identity, normalised])
    assert not np.allclose(taken, x)
    assert np.all(np.asarray(block.mean[...]) > 0)
