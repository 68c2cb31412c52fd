"""Learned assignment: K supernets, each arch served by the one a learned, balanced router picks."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from nas.checkpoint import Checkpointer
from nas.definition import get_definition
from nas.errors import ConfigError
from nas.lowering import auxiliary_loss, masked_apply, param_usage, slice_subnet, split, standalone_apply
from nas.train.step import init_train_state, make_train_step
from supernets.learned_assignment import RoutedSupernets, balance_loss, fit_loss
from supernets.param_paths import named_leaves

IMAGES = np.random.default_rng(0).standard_normal((6, 4, 4, 1), np.float32)
LABELS = np.arange(6, dtype=np.int32) % 3


def tiny_mlp(seed=0):
    definition = get_definition("mlp")
    return definition.build(definition.resolve_options(
        {"max_width": 8, "width_steps": 2, "max_layers": 3}, (4, 4, 1)), seed=seed)


def routed(num_supernets=2, spread=0.3, router_seed=0, balance_weight=1.0):
    """A learned assignment around a tiny MLP, every copy perturbed differently so they compute different things."""
    space, supernet = tiny_mlp()
    model = RoutedSupernets(supernet, space, num_supernets=num_supernets, balance_weight=balance_weight,
                            router_hidden=16, rngs=nnx.Rngs(router_seed))
    for index, copy in enumerate(model.supernets):
        perturb(copy, spread, seed=index)
    return space, model


def perturb(supernet, spread, seed):
    rng = np.random.default_rng(seed)
    params = nnx.state(supernet, nnx.Param)
    nnx.update(supernet, jax.tree.map(lambda leaf: leaf + spread * rng.standard_normal(leaf.shape, np.float32), params))


def pin_router(model, owner, margin=5.0):
    """Router weights that put every arch on `owner` (the logits are its output bias alone)."""
    out = model.router.out
    out.kernel[...] = jnp.zeros_like(out.kernel[...])
    out.bias[...] = jnp.where(jnp.arange(model.num_supernets) == owner, margin, 0.0)


def grads_of(graphdef, params, stats, space, vector):
    loss = lambda params: jnp.sum(masked_apply(graphdef, params, stats, space, IMAGES, vector, train=True)[0] ** 2)
    return jax.jit(jax.grad(loss))(params)


def moved(tree) -> bool:
    return any(np.any(np.asarray(leaf) != 0) for leaf in jax.tree.leaves(tree))


def both_owners(space, model):
    """An arch owned by each supernet (the router seed is chosen so that both own some)."""
    by_owner = {}
    for arch in space.enumerate():
        by_owner.setdefault(model.supernet_of(arch), arch)
    assert sorted(by_owner) == list(range(model.num_supernets))
    return by_owner


def test_a_router_pinned_on_supernet_0_computes_the_plain_supernet_and_its_gradients():
    space, model = routed(spread=0.0)
    pin_router(model, 0)
    graphdef, params, stats = split(model)
    plain_graphdef, plain_params, plain_stats = split(tiny_mlp()[1])
    for arch in (space.smallest(), space.largest(), space.sample(np.random.default_rng(3))):
        vector = arch.to_vector()
        np.testing.assert_array_equal(
            masked_apply(graphdef, params, stats, space, IMAGES, vector, train=True)[0],
            masked_apply(plain_graphdef, plain_params, plain_stats, space, IMAGES, vector, train=True)[0])
        grads, plain = grads_of(graphdef, params, stats, space, vector), grads_of(
            plain_graphdef, plain_params, plain_stats, space, vector)
        owner = model.supernet_of(arch)  # supernet 0, but the smallest arch is pinned on the last supernet
        assert owner == (1 if arch == space.smallest() else 0)
        for a, b in zip(jax.tree.leaves(grads["supernets"][owner]), jax.tree.leaves(plain)):
            np.testing.assert_array_equal(a, b)
        assert moved(grads["supernets"][owner]) and not moved(grads["supernets"][1 - owner])
        assert not moved(grads["router"])


def test_each_arch_is_served_by_exactly_one_supernet_which_alone_gets_gradients():
    space, model = routed(num_supernets=3)
    by_owner = both_owners(space, model)
    graphdef, params, stats = split(model)
    traced = jax.jit(lambda vector: nnx.merge(graphdef, params, stats).supernet_of(space.values(vector)))
    for owner, arch in by_owner.items():
        assert int(traced(arch.to_vector())) == owner
        grads = grads_of(graphdef, params, stats, space, arch.to_vector())
        for index in range(3):
            assert moved(grads["supernets"][index]) == (index == owner), (arch.to_string(), index)
        assert not moved(grads["router"])  # the owner is an argmax: the task loss never reaches the router


@pytest.mark.parametrize("static", [False, True])
def test_a_training_step_moves_the_owner_and_only_a_sampled_arch_moves_the_router(static):
    space, model = routed(num_supernets=3)
    arch = both_owners(space, model)[2]
    graphdef, params, stats = split(model)
    before = jax.tree.map(np.array, params)
    optimizer = optax.sgd(0.1)
    step = make_train_step(graphdef, space, optimizer, static_first=arch if static else None, donate=False)
    archs = np.zeros((0, space.num_decisions), np.int32) if static else arch.to_vector()[None]
    state, metrics = step(init_train_state(params, stats, optimizer), IMAGES, LABELS, archs)
    assert bool(np.all(metrics["finite"]))
    for index in range(3):
        assert moved(jax.tree.map(np.subtract, state.params["supernets"][index], before["supernets"][index])) == (
            index == 2)
    # The router learns from the sampled archs; a static arch (the sandwich's largest, smallest) adds no term.
    assert moved(jax.tree.map(np.subtract, state.params["router"], before["router"])) == (not static)


def test_the_routing_loss_takes_the_owners_loss_from_the_step_and_runs_the_others():
    space, model = routed(num_supernets=3)
    loss_of = lambda logits: jnp.mean(logits ** 2)
    for arch in both_owners(space, model).values():
        losses = [loss_of(copy(IMAGES, train=True, arch=dict(arch))) for copy in model.supernets]
        owner = model.supernet_of(arch)
        expected = fit_loss(model.router_logits(arch.to_vector()), jnp.stack(losses), model.temperature) + (
            model.balance_weight * balance_loss(model.router_logits(model.balance_batch())))
        got = model.auxiliary_loss(IMAGES, arch=dict(arch), loss=losses[owner], loss_of=loss_of)
        np.testing.assert_allclose(got, expected, rtol=1e-5)
        # The owner's loss is the one given, not run again: a different given loss changes the term.
        other = model.auxiliary_loss(IMAGES, arch=dict(arch), loss=losses[owner] + 1.0, loss_of=loss_of)
        assert abs(float(other) - float(got)) > 1e-4


def test_the_routing_loss_gives_the_supernets_no_gradient_and_the_plain_supernet_has_none():
    space, model = routed()
    graphdef, params, stats = split(model)
    loss_of = lambda logits: jnp.mean(logits ** 2)
    for arch in (space.largest(), space.smallest()):  # as the step's static archs and as its traced ones
        for arch_of in (lambda: dict(arch), lambda: space.values(arch.to_vector())):
            def term(params):
                model = nnx.merge(graphdef, params, stats)
                loss = loss_of(model(IMAGES, train=True, arch=arch_of()))
                return auxiliary_loss(graphdef, params, stats)(IMAGES, arch=arch_of(), loss=loss, loss_of=loss_of)
            grads = jax.jit(jax.grad(term))(params)
            assert moved(grads["router"]) and not moved(grads["supernets"])
    assert auxiliary_loss(*split(tiny_mlp()[1])) is None  # no hook: the step traces what it always did


def router_steps(model, loss, steps=200, learning_rate=0.05):
    """`steps` Adam steps on the router's weights alone, minimising `loss(model)`."""
    graphdef, router, rest = nnx.split(model, nnx.PathContains("router"), ...)
    optimizer = optax.adam(learning_rate)

    @jax.jit
    def step(router, opt_state):
        grads = jax.grad(lambda router: loss(nnx.merge(graphdef, router, rest)))(router)
        updates, opt_state = optimizer.update(grads, opt_state, router)
        return optax.apply_updates(router, updates), opt_state

    opt_state = optimizer.init(router)
    for _ in range(steps):
        router, opt_state = step(router, opt_state)
    return nnx.merge(graphdef, router, rest)


def test_the_balance_term_spreads_a_router_that_puts_every_arch_on_supernet_0():
    space, model = routed(num_supernets=2)
    pin_router(model, 0, margin=2.0)
    model.router.out.kernel[...] = 0.1 * jax.random.normal(jax.random.key(0), model.router.out.kernel.shape)
    unseen = space.sample_vectors(jax.random.key(123), 256)  # not the balance term's own batch
    routed_by_router = lambda m: np.argmax(np.asarray(m.router_logits(unseen)), -1)  # the endpoints aside
    assert np.all(routed_by_router(model) == 0)
    balanced = router_steps(model, lambda m: m.balance_weight * balance_loss(m.router_logits(m.balance_batch())))
    shares = np.bincount(routed_by_router(balanced), minlength=2) / 256
    assert shares.max() < 0.75, shares
    assert float(balance_loss(balanced.router_logits(balanced.balance_batch()))) < 0.01


def test_the_balance_term_is_zero_at_equal_argmax_shares_and_lowers_the_overloaded_supernet():
    balanced = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    assert float(balance_loss(balanced)) == pytest.approx(0.0, abs=1e-6)
    # Soft probabilities near uniform but every argmax on supernet 0: the mean-softmax KL would be ~0, this is not.
    skewed = jnp.tile(jnp.array([[0.05, 0.0]]), (8, 1))
    assert float(balance_loss(skewed)) > 0.02
    grad = jax.grad(balance_loss)(skewed)
    assert np.all(grad[:, 0] > 0) and np.all(grad[:, 1] < 0)  # a step against it moves mass to supernet 1


def test_the_fit_term_moves_the_router_to_the_lower_loss_supernet():
    space, model = routed(num_supernets=2, spread=0.0, balance_weight=0.0)
    rng = np.random.default_rng(5)  # archs the router decides (the endpoints are pinned)
    candidates = [a for a in (space.sample(rng) for _ in range(30)) if a not in (space.largest(), space.smallest())]
    # Labels are supernet 0's own predictions; supernet 1 is supernet 0 with noise, so it mostly does worse on them.
    labels = {a.to_string(): jnp.argmax(model.supernets[0](IMAGES, train=True, arch=dict(a)), -1) for a in candidates}
    perturb(model.supernets[1], 1.0, seed=1)

    def task_loss(logits, a):
        return optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels[a.to_string()]).mean()
    gap = lambda a: float(task_loss(model.supernets[1](IMAGES, train=True, arch=dict(a)), a) - task_loss(
        model.supernets[0](IMAGES, train=True, arch=dict(a)), a))
    archs = [a for a in candidates if gap(a) > 0.1][:3]  # where supernet 0 is clearly the lower-loss one
    assert len(archs) == 3
    pin_router(model, 1, margin=2.0)
    assert all(model.supernet_of(a) == 1 for a in archs)

    def loss(m):
        return sum(m.auxiliary_loss(IMAGES, arch=dict(a), loss=task_loss(m(IMAGES, train=True, arch=dict(a)), a),
                                    loss_of=lambda logits, a=a: task_loss(logits, a)) for a in archs)
    trained = router_steps(model, loss, steps=60)
    assert [trained.supernet_of(a) for a in archs] == [0, 0, 0]


@pytest.mark.parametrize("traced", [False, True])
def test_the_endpoints_are_pinned_whatever_the_router_says(traced):
    space, model = routed(num_supernets=3)
    pin_router(model, 1)
    largest, smallest, other = space.largest(), space.smallest(), space.sample(np.random.default_rng(1))
    vectors = np.stack([largest.to_vector(), smallest.to_vector(), other.to_vector()])
    assert np.asarray(model.assignment(vectors)).tolist() == [0, 2, 1]
    if traced:
        graphdef, params, stats = split(model)
        owner = jax.jit(lambda vector: nnx.merge(graphdef, params, stats).supernet_of(space.values(vector)))
        assert [int(owner(v)) for v in vectors] == [0, 2, 1]
    else:
        assert [model.supernet_of(a) for a in (largest, smallest, other)] == [0, 2, 1]


def test_a_static_endpoint_has_a_known_owner_while_the_router_is_traced():
    space, model = routed(num_supernets=2)
    graphdef, params, stats = split(model)
    seen = []
    jax.jit(lambda params: seen.extend(nnx.merge(graphdef, params, stats).supernet_of(a)
                                       for a in (space.largest(), space.smallest())))(params)
    assert seen == [0, 1] and all(isinstance(owner, int) for owner in seen)


def test_fit_loss_targets_the_lower_loss_softly():
    logits = jnp.zeros(2)
    grad = jax.grad(fit_loss)(logits, jnp.array([1.0, 0.5]), 0.1)
    assert grad[1] < 0 < grad[0]  # a step against the gradient raises supernet 1's logit
    assert float(fit_loss(logits, jnp.array([0.7, 0.7]), 0.1)) == pytest.approx(0.0, abs=1e-7)  # a tie: uniform


def test_export_slices_the_owner_and_matches_the_mixture():
    space, model = routed(num_supernets=3)
    graphdef, params, stats = split(model)
    logits = jax.jit(lambda vector: masked_apply(graphdef, params, stats, space, IMAGES, vector, train=False)[0])
    names = [name for name, _ in named_leaves(params)]
    for owner, arch in both_owners(space, model).items():
        standalone = slice_subnet(nnx.merge(graphdef, params, stats), arch)
        routed_logits = logits(arch.to_vector())
        np.testing.assert_allclose(standalone_apply(*split(standalone), IMAGES, train=False)[0], routed_logits,
                                   atol=2e-6)
        np.testing.assert_allclose(model.supernets[owner](IMAGES, arch=dict(arch)), routed_logits, atol=2e-6)
        usage = dict(zip(names, param_usage(graphdef, params, stats, arch)))
        assert all(u.all() for name, u in usage.items() if name.startswith("router/"))
        assert any(u.any() for name, u in usage.items() if name.startswith(f"supernets/{owner}/"))
        assert not any(u.any() for name, u in usage.items()
                       if name.startswith("supernets/") and not name.startswith(f"supernets/{owner}/"))


def test_the_assignment_survives_a_checkpoint(tmp_path):
    space, model = routed(num_supernets=3)
    vectors = space.sample_vectors(jax.random.key(7), 256)
    owners = np.asarray(model.assignment(vectors))
    graphdef, params, stats = split(model)
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(1, {"params": params}, {"step": 1})
    checkpointer.close()
    fresh = routed(num_supernets=3, router_seed=1)[1]  # another router: another assignment until restored
    assert not np.array_equal(np.asarray(fresh.assignment(vectors)), owners)
    trees, _ = Checkpointer(tmp_path).restore({"params": split(fresh)[1]})
    restored = nnx.merge(graphdef, trees["params"], stats)
    np.testing.assert_array_equal(np.asarray(restored.assignment(vectors)), owners)


@pytest.mark.parametrize("overrides, message", [
    ({"num_supernets": 1}, r"needs 2\.\.16 supernets, got 1"),
    ({"num_supernets": 17}, r"needs 2\.\.16 supernets, got 17"),
    ({"balance_weight": -1.0}, r"balance_weight must be a finite number >= 0, got -1.0"),
    ({"temperature": 0.0}, r"temperature must be a finite number > 0, got 0.0"),
])
def test_bad_settings_are_one_clear_error(overrides, message):
    space, supernet = tiny_mlp()
    with pytest.raises(ConfigError, match=message):
        RoutedSupernets(supernet, space, **{"num_supernets": 2, **overrides}, rngs=nnx.Rngs(0))
