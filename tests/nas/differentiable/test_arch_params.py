"""Architecture parameters: init, softmax, argmax to a canonical arch, Gumbel straight-through, optimiser, files."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nas.definition import get_definition
from nas.differentiable import arch_params
from nas.space import AtLeast, Choice, IntRange, Sorted, Space, SpaceError, Tie


def conditional_space():
    return Space("toy", [IntRange("depth", 1, 3), Sorted("width_0", widths=(8, 16, 32)),
                         Sorted("width_2", widths=(8, 16), when=AtLeast("depth", 3)),
                         Choice("act", ("relu", "gelu")), Tie("act_out", source="act")])


def test_init_gives_one_logit_vector_per_free_decision_zero_or_seeded_noise():
    space = conditional_space()
    zeros = arch_params.init(space)
    assert {name: v.shape for name, v in zeros.items()} == {"depth": (3,), "width_0": (3,), "width_2": (2,), "act": (2,)}
    assert all(float(jnp.max(jnp.abs(v))) == 0 for v in zeros.values())
    noisy = arch_params.init(space, jax.random.key(1), scale=1e-3)
    again = arch_params.init(space, jax.random.key(1), scale=1e-3)
    assert all(np.array_equal(noisy[n], again[n]) for n in noisy)
    assert 0 < max(float(jnp.max(jnp.abs(v))) for v in noisy.values()) < 1e-2


def test_probabilities_are_a_softmax_per_decision_sharpened_by_temperature():
    alpha = {"a": jnp.array([0.0, 1.0, 2.0])}
    probs = arch_params.probabilities(alpha)
    np.testing.assert_allclose(probs["a"], np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum(), rtol=1e-6)
    assert float(arch_params.probabilities(alpha, temperature=0.1)["a"][2]) > 0.99


def one_hot_ish_logits(space, arch, rng):
    """Noise below 1, plus 5 on each decision's chosen index; inactive decisions favour a random non-zero index."""
    vector = arch.to_vector()
    alpha = {}
    for position, decision in enumerate(space.free):
        logits = rng.uniform(-1, 1, len(decision))
        favoured = vector[position] if decision.name in arch else rng.integers(len(decision))
        logits[favoured] += 5.0
        alpha[decision.name] = jnp.asarray(logits, jnp.float32)
    return alpha


@pytest.mark.parametrize("space_name", ["mobilenetv3", "nb201", "mlp"])
def test_argmax_of_one_hot_ish_logits_is_that_arch_in_canonical_form(space_name):
    definition = get_definition(space_name)
    space = definition.make_space(**definition.default_options)
    rng = np.random.default_rng(0)
    argmax_vector = jax.jit(lambda a: arch_params.argmax_vector(space, a))
    for arch in [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(20)]:
        alpha = one_hot_ish_logits(space, arch, rng)
        assert arch_params.argmax_arch(space, alpha) == arch
        np.testing.assert_array_equal(argmax_vector(alpha), arch.to_vector())


def test_argmax_drops_decisions_whose_condition_fails_and_ties_follow_their_source():
    space = conditional_space()
    alpha = {"depth": jnp.array([0.0, 3.0, 0.0]), "width_0": jnp.array([0.0, 0.0, 2.0]),
             "width_2": jnp.array([0.0, 9.0]), "act": jnp.array([0.0, 1.0])}
    arch = arch_params.argmax_arch(space, alpha)
    assert arch.to_dict() == {"depth": 2, "width_0": 32, "act": "gelu", "act_out": "gelu"}
    assert arch.to_vector().tolist() == [1, 2, 0, 1]


def test_one_hot_puts_all_mass_on_the_arch():
    space = conditional_space()
    arch = space.validate({"depth": 3, "width_0": 16, "width_2": 16, "act": "relu", "act_out": "relu"})
    probs = arch_params.one_hot(space, arch)
    assert {n: v.tolist() for n, v in probs.items()} == {
        "depth": [0, 0, 1], "width_0": [0, 1, 0], "width_2": [0, 1], "act": [1, 0]}
    assert arch_params.argmax_arch(space, probs) == arch


def test_gumbel_straight_through_is_exactly_one_hot_forward_with_soft_gradients():
    alpha = {"a": jnp.array([0.3, -0.2, 0.1, 0.0]), "b": jnp.array([1.0, 0.5])}
    counts = np.zeros(4)
    sampler = jax.jit(lambda key: arch_params.gumbel_straight_through(alpha, key, temperature=1.0))
    for seed in range(200):
        sample = sampler(jax.random.key(seed))
        for values in sample.values():
            assert sorted(np.asarray(values).tolist()) == [0.0] * (len(values) - 1) + [1.0]
        counts[int(jnp.argmax(sample["a"]))] += 1
    assert np.all(counts > 0)  # every choice is sampled at some point
    weights = {"a": jnp.array([1.0, 2.0, 3.0, 4.0]), "b": jnp.array([1.0, -1.0])}

    def objective(alpha):
        sample = arch_params.gumbel_straight_through(alpha, jax.random.key(3), temperature=0.5)
        return sum(jnp.sum(sample[n] * weights[n]) for n in sample)

    gradients = jax.grad(objective)(alpha)
    assert all(float(jnp.max(jnp.abs(g))) > 0 and bool(jnp.all(jnp.isfinite(g))) for g in gradients.values())
    # Straight-through: the gradient of the soft sample, whose entries sum to one, so gradients sum to zero.
    assert all(abs(float(jnp.sum(g))) < 1e-5 for g in gradients.values())


def test_gumbel_samples_concentrate_on_the_largest_logit_at_low_temperature_and_large_gaps():
    alpha = {"a": jnp.array([0.0, 4.0, 0.0])}
    sampler = jax.jit(lambda key: arch_params.gumbel_straight_through(alpha, key, temperature=0.1))
    picks = [int(jnp.argmax(sampler(jax.random.key(s))["a"])) for s in range(100)]
    assert picks.count(1) > 80


def test_the_optimizer_moves_alpha_and_its_state_is_separate_from_the_weights():
    space = conditional_space()
    alpha = arch_params.init(space)
    optimizer = arch_params.make_optimizer(learning_rate=0.1)
    state = optimizer.init(alpha)
    gradients = {n: jnp.ones_like(v) * jnp.arange(len(v)) for n, v in alpha.items()}
    updates, state = optimizer.update(gradients, state, alpha)
    moved = optax.apply_updates(alpha, updates)
    assert float(moved["depth"][2]) < float(moved["depth"][0])  # descends the gradient
    assert set(moved) == set(alpha)


def test_save_and_load_round_trip_exactly(tmp_path):
    space = conditional_space()
    alpha = arch_params.init(space, jax.random.key(5), scale=3.0)
    path = tmp_path / "alpha.json"
    arch_params.save(path, space, alpha)
    restored = arch_params.load(path, space)
    assert set(restored) == set(alpha)
    for name in alpha:
        assert restored[name].dtype == jnp.float32
        np.testing.assert_array_equal(restored[name], alpha[name])
    assert [p.name for p in tmp_path.iterdir()] == ["alpha.json"]  # no temporary file left beside it


def test_load_refuses_another_space_and_damaged_files(tmp_path):
    space = conditional_space()
    other = Space("toy", [IntRange("depth", 1, 4)])
    text = arch_params.to_json(space, arch_params.init(space))
    with pytest.raises(SpaceError, match="fingerprint"):
        arch_params.from_json(other, text)
    with pytest.raises(SpaceError, match="not JSON"):
        arch_params.from_json(space, text[:-3])
    damaged = text.replace('"width_2": [0.0, 0.0]', '"width_2": [0.0]')
    assert damaged != text
    with pytest.raises(SpaceError, match="width_2"):
        arch_params.from_json(space, damaged)

