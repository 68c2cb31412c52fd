"""Mixture-of-Supernets: E = 1 is the plain supernet, the export of a routed arch needs no router,
experts move only where a subnet read them."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nas.definition import get_definition
from nas.lowering import masked_apply, param_usage, slice_subnet, split, standalone_apply, static_apply
from search_spaces.mlp import MLP
from supernets.mixture_of_supernets import MixtureOfSupernets, mix
from supernets.param_paths import named_leaves


def tiny_mlp():
    definition = get_definition("mlp")
    return definition.build(definition.resolve_options({"max_width": 8, "width_steps": 2, "max_layers": 2},
                                                       (4, 4, 1)))


def mixture(experts, granularity, spread=0.0):
    """A MoS around a fresh tiny MLP; `spread` > 0 perturbs every parameter so experts and router differ."""
    space, supernet = tiny_mlp()
    model = MixtureOfSupernets(supernet, space, experts=experts, granularity=granularity, rngs=nnx.Rngs(1))
    graphdef, params, stats = split(model)
    if spread:
        rng = np.random.default_rng(7)
        params = jax.tree.map(lambda leaf: leaf + spread * rng.standard_normal(leaf.shape, np.float32), params)
    return space, graphdef, params, stats


def archs(space, n=3):
    rng = np.random.default_rng(0)
    return [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(n - 2))]


IMAGES = np.asarray(jax.random.normal(jax.random.key(0), (5, 4, 4, 1)))


def masked_logits(graphdef, space):
    return jax.jit(lambda params, stats, vector: masked_apply(graphdef, params, stats, space, IMAGES, vector,
                                                              train=True)[0])


@pytest.mark.parametrize("granularity", ["layer", pytest.param("neuron", marks=pytest.mark.slow)])
def test_one_expert_is_exactly_the_plain_supernet(granularity):
    space, graphdef, params, stats = mixture(1, granularity)
    plain_graphdef, plain_params, plain_stats = split(tiny_mlp()[1])

    def outputs(graphdef, stats):
        def loss(params, vector):
            return jnp.sum(masked_apply(graphdef, params, stats, space, IMAGES, vector, train=True)[0] ** 2)
        return jax.jit(jax.value_and_grad(loss))
    routed, reference = outputs(graphdef, stats), outputs(plain_graphdef, plain_stats)
    for arch in archs(space):
        (value, grads), (plain_value, plain_grads) = routed(params, arch.to_vector()), reference(
            plain_params, arch.to_vector())
        assert value == plain_value
        for (name, got), (_, expected) in zip(named_leaves(grads["supernet"]), named_leaves(plain_grads)):
            np.testing.assert_array_equal(got, expected, err_msg=name)
        assert all(not np.any(leaf) for leaf in jax.tree.leaves(grads["router"]))  # one expert: nothing to route
    arch = space.smallest()  # a fixed arch (sliced inside jit: the sandwich rule's static archs)
    np.testing.assert_array_equal(static_apply(graphdef, params, stats, IMAGES, arch, train=True)[0],
                                  static_apply(plain_graphdef, plain_params, plain_stats, IMAGES, arch, train=True)[0])


@pytest.mark.parametrize("granularity", [pytest.param("layer", marks=pytest.mark.slow), "neuron"])
def test_export_of_a_routed_arch_matches_the_mixture_without_a_router(granularity):
    space, graphdef, params, stats = mixture(3, granularity, spread=0.3)
    plain_graphdef, _, plain_stats = split(tiny_mlp()[1])
    logits, plain = masked_logits(graphdef, space), masked_logits(plain_graphdef, space)
    for arch in archs(space):
        standalone = slice_subnet(nnx.merge(graphdef, params, stats), arch)
        sliced_plain = slice_subnet(tiny_mlp()[1], arch)
        assert type(standalone) is MLP and (jax.tree.map(jnp.shape, nnx.state(standalone))
                                            == jax.tree.map(jnp.shape, nnx.state(sliced_plain)))
        exported = standalone_apply(*split(standalone), IMAGES, train=False)[0]
        routed = logits(params, stats, arch.to_vector())
        np.testing.assert_allclose(exported, routed, atol=2e-6)
        # The routing matters: the supernet's own kernels (expert 0 alone) compute something else.
        assert float(jnp.max(jnp.abs(plain(params["supernet"], plain_stats, arch.to_vector()) - routed))) > 1e-3


def test_router_gives_each_arch_its_own_weights_that_sum_to_one():
    space, graphdef, params, stats = mixture(3, "neuron", spread=0.3)
    model = nnx.merge(graphdef, params, stats)
    largest, smallest = (model.routing_weights(a.to_vector()) for a in (space.largest(), space.smallest()))
    assert [w.shape for w in largest] == [(10, 3), (8, 3), (8, 3)]  # head, hidden 0, hidden 1: [out, E]
    for weights in largest:
        np.testing.assert_allclose(np.sum(weights, axis=-1), 1.0, rtol=1e-6)
    assert any(float(jnp.max(jnp.abs(a - b))) > 1e-3 for a, b in zip(largest, smallest))
    layer = nnx.merge(*mixture(3, "layer")[1:]).routing_weights(space.largest().to_vector())
    assert all(w.shape == (1, 3) for w in layer)


def test_mix_weights_experts_per_output_neuron():
    kernel, extras = jnp.ones((2, 3)), jnp.stack([2 * jnp.ones((2, 3))])
    weights = jnp.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])  # [out, E]
    np.testing.assert_array_equal(mix(kernel, extras, weights), [[1.0, 1.5, 2.0]] * 2)
    np.testing.assert_array_equal(mix(kernel, extras, jnp.array([[0.25, 0.75]])), jnp.full((2, 3), 1.75))


def test_experts_get_no_gradient_where_no_subnet_reads_the_kernel():
    """So freeze_unused keeps unused slices of every expert still, as it does for the plain supernet."""
    space, graphdef, params, stats = mixture(2, "neuron", spread=0.3)
    logits = masked_logits(graphdef, space)
    arch = space.smallest()
    grads = jax.grad(lambda p: jnp.sum(logits(p, stats, arch.to_vector()) ** 2))(params)
    used = dict(zip([name for name, _ in named_leaves(params)], param_usage(graphdef, params, stats, arch)))
    for name, grad in named_leaves(grads):
        if name.startswith("experts/") or name.startswith("supernet/"):
            assert not np.any(np.asarray(grad)[~used[name]]), name
            assert np.any(np.asarray(grad)[used[name]]) == used[name].any(), name
        else:
            assert used[name].all(), name  # the router: read by every arch
    experts = [name for name in used if name.startswith("experts/")]
    assert len(experts) == 3 and all(used[n].shape[0] == 1 for n in experts)
