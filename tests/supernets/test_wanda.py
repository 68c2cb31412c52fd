"""Wanda: exact sparsity per output, the lowest |W| x ||X|| pruned, groups pruned in order."""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nas.errors import ConfigError
from supernets import wanda
from supernets.elastic_lora import ElasticLoRADense

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("ratio,in_features", [(0.5, 8), (0.4, 10), (0.45, 20), (0.3, 7)])
def test_sparsity_ratio_is_exact_in_every_output_column(ratio, in_features):
    kernel = RNG.normal(size=(in_features, 6)).astype(np.float32)
    keep = wanda.keep_mask(kernel, RNG.uniform(0.1, 2.0, size=in_features), ratio)
    pruned = int(in_features * ratio)
    np.testing.assert_array_equal((~keep).sum(axis=0), pruned)
    assert wanda.sparsity(np.where(keep, kernel, 0)) == pruned / in_features


def test_the_lowest_weight_times_input_norm_goes_first():
    kernel = np.array([[1.0, -4.0], [2.0, 1.0], [3.0, 0.5], [-0.1, 2.0]], np.float32)
    sums = np.array([16.0, 1.0, 0.01, 100.0])  # norms 4, 1, 0.1, 10
    # column 0 scores 4, 2, 0.3, 1 -> drops rows 2 and 3; column 1 scores 16, 1, 0.05, 20 -> rows 2 and 1
    keep = wanda.keep_mask(kernel, sums, 0.5)
    np.testing.assert_array_equal(keep, [[True, True], [True, False], [False, False], [False, True]])


def test_bad_ratio_is_one_clear_error():
    for ratio in (-0.1, 1.0, "half", True):
        with pytest.raises(ConfigError, match="sparsity ratio must be a number in"):
            wanda.check_ratio(ratio)


class Two(nnx.Module):
    def __init__(self, rngs):
        self.first = ElasticLoRADense(6, 6, 2, rngs=rngs)
        self.second = ElasticLoRADense(6, 4, 2, rngs=rngs)

    def __call__(self, x):
        return self.second(jnp.tanh(self.first(x)))


def test_groups_are_pruned_in_order_each_seeing_the_pruned_groups_before_it():
    model = Two(nnx.Rngs(0))
    x = jnp.asarray(RNG.normal(size=(3, 5, 6)), jnp.float32)
    first, second = np.asarray(model.first.kernel[...]), np.asarray(model.second.kernel[...])
    wanda.sparsify(model, [[model.first], [model.second]], x, 0.5)

    flat = np.asarray(x).reshape(-1, 6)
    expected_first = np.where(wanda.keep_mask(first, (flat ** 2).sum(0), 0.5), first, 0)
    np.testing.assert_array_equal(model.first.kernel[...], expected_first)
    hidden = np.tanh(flat @ expected_first + np.asarray(model.first.bias[...]))  # the adapter adds zero (B = 0)
    expected_second = np.where(wanda.keep_mask(second, (hidden ** 2).sum(0), 0.5), second, 0)
    np.testing.assert_allclose(model.second.kernel[...], expected_second, atol=0)  # the same entries zeroed
    assert wanda.sparsity(model.first.kernel[...]) == wanda.sparsity(model.second.kernel[...]) == 0.5


def test_a_layer_the_calibration_never_runs_is_refused():
    model = Two(nnx.Rngs(0))
    with pytest.raises(ValueError, match="saw no calibration input"):
        wanda.sparsify(model, [[model.second]], jnp.ones((2, 6)), 0.5, call=lambda m, x: m.first(x))
