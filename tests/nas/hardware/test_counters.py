"""Counters: params equal the sliced models', jit/vmap equal the host count, relaxed = hard at one-hot."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas.definition import get_definition
from nas.hardware.counters import CostCounter
from nas.hardware.tables import one_hot_probs, softmax_probs
from nas.lowering import count_params, slice_subnet, split, standalone_apply

SMALL_MLP = {"max_layers": 3, "width_steps": 4, "max_width": 64, "in_features": 12}  # as conftest's


# Cross-check of the analytic counts against XLA's `cost_analysis()` of sliced compiled subnets. XLA
# counts a multiply-add as 2 flops and adds element-wise work (norms, activations, bias and residual
# adds, pooling), so its flops / (2 x analytic MACs) is a little above 1; it must be (nearly) the same
# for every arch.
def xla_flops(supernet, arch, image_shape: tuple[int, ...], batch: int = 1) -> float:
    """XLA's flops of the eval forward of the sliced subnet of `arch` (compiled ahead of time)."""
    graphdef, params, stats = split(slice_subnet(supernet, arch))
    forward = jax.jit(lambda p, s, x: standalone_apply(graphdef, p, s, x, train=False)[0])
    x = jax.ShapeDtypeStruct((batch, *image_shape), jnp.float32)
    analysis = forward.lower(params, stats, x).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis["flops"])


def cross_check(counter: CostCounter, supernet, archs, image_shape: tuple[int, ...],
                batch: int = 1) -> dict:
    """Per arch: analytic MACs, XLA flops and their ratio; with the ratios' spread."""
    rows = []
    for arch in archs:
        macs = counter.count(arch)["macs"] * batch
        flops = xla_flops(supernet, arch, image_shape, batch)
        rows.append({"arch": arch.to_string(), "macs": macs, "xla_flops": flops, "ratio": flops / (2 * macs)})
    ratios = np.array([r["ratio"] for r in rows])
    return {"rows": rows, "ratio_mean": float(ratios.mean()),
            "ratio_relative_spread": float((ratios.max() - ratios.min()) / ratios.mean())}


def _supernet(name, options, input_shape):
    definition = get_definition(name)
    return definition.build(definition.resolve_options(options, input_shape=input_shape))[1]


@pytest.mark.parametrize("name,options,input_shape,n", [("mlp", SMALL_MLP, (2, 2, 3), 8),
                                                        ("mobilenetv3", None, (28, 28, 1), 3)])
def test_params_match_sliced_models(name, options, input_shape, n, request, vectors_of):
    counter = request.getfixturevalue("mlp_counter" if name == "mlp" else "mbv3_counter")
    supernet = _supernet(name, options, input_shape)
    vectors = vectors_of(counter.space, n)
    counted = np.asarray(jax.jit(counter.params)(vectors))
    for vector, params in zip(vectors, counted):
        arch = counter.space.from_vector(vector)
        sliced = count_params(split(slice_subnet(supernet, arch))[1])
        assert counter.count(arch)["params"] == sliced == params


def test_mlp_macs_by_hand(mlp_counter):
    space = mlp_counter.space
    arch = space.validate({"depth": 2, "width_0": 32, "width_1": 48})
    assert mlp_counter.count(arch)["macs"] == 12 * 32 + 32 * 48 + 48 * 10
    assert int(mlp_counter.macs(arch.to_vector())) == 12 * 32 + 32 * 48 + 48 * 10


def test_jitted_vmapped_counts_equal_host_counts(mbv3_counter, vectors_of):
    vectors = vectors_of(mbv3_counter.space, 16, seed=1)
    macs = jax.jit(jax.vmap(mbv3_counter.macs))(vectors)
    assert macs.dtype == jnp.int32
    expected = [mbv3_counter.count(mbv3_counter.space.from_vector(v))["macs"] for v in vectors]
    np.testing.assert_array_equal(np.asarray(macs), expected)
    assert len(set(expected)) > 10  # archs differ, so the test can tell a constant from a count


@pytest.mark.parametrize("fixture", ["mlp_counter", "mbv3_counter"])
def test_relaxed_counts_equal_hard_counts_at_one_hot(fixture, request, vectors_of):
    counter = request.getfixturevalue(fixture)
    vectors = vectors_of(counter.space, 12, seed=2)
    probs = one_hot_probs(counter.space, vectors)
    np.testing.assert_allclose(counter.expected_macs(probs), counter.macs(vectors), rtol=1e-6)
    np.testing.assert_allclose(counter.expected_params(probs), counter.params(vectors), rtol=1e-6)


def test_relaxed_counts_are_expectations(mlp_counter):
    """Uniform weights: the expected MACs equal the mean over every arch of the (small) space."""
    space = mlp_counter.space
    logits = jnp.zeros((space.num_decisions, max(space.choice_counts)))
    probs = softmax_probs(space, logits)
    # Enumerate the product distribution: every full index vector, each with equal probability.
    grids = np.stack(np.meshgrid(*[np.arange(n) for n in space.choice_counts], indexing="ij"), -1)
    all_vectors = grids.reshape(-1, space.num_decisions)
    exact = np.mean(np.asarray(jax.jit(mlp_counter.macs)(all_vectors), np.float64))
    np.testing.assert_allclose(float(jax.jit(mlp_counter.expected_macs)(probs)), exact, rtol=1e-5)
    grad = jax.jit(jax.grad(lambda l: mlp_counter.expected_macs(softmax_probs(space, l))))(logits)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_xla_flops_ratio_is_constant_for_mlp(vectors_of):
    """Default MLP (784 inputs): XLA's flops are 2 per multiply-add plus a little element-wise work."""
    from nas.hardware.counters import load_counter

    counter = load_counter("mlp")
    supernet = _supernet("mlp", None, (28, 28, 1))
    archs = [counter.space.from_vector(v) for v in vectors_of(counter.space, 3, seed=3)]
    check = cross_check(counter, supernet, archs, (28, 28, 1))
    assert 1.0 <= check["ratio_mean"] < 1.05
    # Element-wise work per output unit (bias, LayerNorm, ReLU: ~10 flops) against in_features
    # multiply-adds per unit: the ratio moves by a few % between the narrowest and widest archs.
    assert check["ratio_relative_spread"] < 0.05


@pytest.mark.slow
def test_xla_flops_ratio_is_constant_for_mobilenetv3(vectors_of):
    from nas.hardware.counters import load_counter

    options = {"depthwise_implementation": "grouped"}
    counter = load_counter("mobilenetv3", options)
    supernet = _supernet("mobilenetv3", options, (28, 28, 1))
    archs = [counter.space.from_vector(v) for v in vectors_of(counter.space, 5, seed=4)]
    check = cross_check(counter, supernet, archs, (28, 28, 1))
    assert 1.0 <= check["ratio_mean"] < 1.1
    assert check["ratio_relative_spread"] < 0.03


def test_space_without_cost_model_fails_clearly():
    from nas.hardware.cost_model import CostModelError, resolve_cost_model
    from nas.definition import SearchSpaceDefinition

    definition = SearchSpaceDefinition("nothing", lambda **_: None, build_supernet=lambda *a: None)
    with pytest.raises(CostModelError, match="has no cost model"):
        resolve_cost_model(definition, {}, (28, 28, 1))


def test_cost_hook_on_the_definition_is_used(mlp_counter):
    from dataclasses import replace

    from nas.hardware.cost_model import CostModel, resolve_cost_model

    calls = []

    def hook(options, input_shape):
        calls.append(input_shape)
        return CostModel(mlp_counter.cost_model.layers, mlp_counter.cost_model.count, mlp_counter.cost_model.build)

    definition = replace(get_definition("mlp"), cost_model=hook)
    assert isinstance(resolve_cost_model(definition, {}, (4, 4, 1)), CostModel) and calls == [(4, 4, 1)]
    assert isinstance(CostCounter(mlp_counter.space, hook({}, (1, 1, 1))), CostCounter)
