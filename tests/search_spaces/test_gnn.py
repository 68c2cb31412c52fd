"""The GNN space on the k-NN graph of Fashion-MNIST: data splits, decisions, masked / static / sliced agreement,
analytic cost against the sliced subnets, and (slow) train -> search -> export -> reload through the CLI."""
import json

import jax.numpy as jnp
import numpy as np
import pytest

from nas.data import DEFAULT_ROOT, DataError
from nas.definition import get_definition
from nas.errors import ConfigError
from nas.export import load_export, load_stablehlo
from nas.hardware.counters import load_counter
from nas.lowering import count_params, slice_subnet, split
from tests.search_spaces import checks

pytestmark = pytest.mark.early  # a minute or more in all: handed to a test worker first (tests/conftest.py)

graph_data = pytest.importorskip("nas.graph_data")
try:
    GRAPH = graph_data.fashion_mnist_knn_graph()
except DataError:
    pytest.skip(f"Fashion-MNIST not installed in {DEFAULT_ROOT} (apt-get install dataset-fashion-mnist)",
                allow_module_level=True)

SMALL = {"widths": [4, 8], "heads": [1, 2], "max_layers": 2}
NODE_SHAPE = (1, 1, 1)


def build(options=None):
    definition = get_definition("gnn")
    return definition.build(definition.resolve_options(options or {}, NODE_SHAPE))


def nodes(*indices):
    return jnp.asarray(graph_data.node_inputs(np.array(indices)))


def test_graph_is_symmetric_with_self_loops_and_the_splits_are_disjoint_and_seeded():
    structure = GRAPH.structure
    assert structure.num_nodes == graph_data.NODES and GRAPH.features.shape == (graph_data.NODES, graph_data.FEATURES)
    edges = set(zip(structure.src.tolist(), structure.dst.tolist()))
    assert all((d, s) in edges for s, d in edges) and all((i, i) in edges for i in range(structure.num_nodes))
    assert structure.in_degree.min() >= graph_data.NEIGHBOURS + 1  # its own k neighbours and itself
    data = graph_data.load_fashion_mnist_knn(split_seed=0)
    ids = {name: np.asarray(getattr(data, name).inputs).ravel().astype(int) for name in ("train", "validation", "test")}
    assert [len(v) for v in ids.values()] == [200, graph_data.VALIDATION, graph_data.TEST]
    assert not set(ids["train"]) & set(ids["validation"]) and not set(ids["test"]) & (set(ids["train"]) | set(ids["validation"]))
    np.testing.assert_array_equal(np.bincount(data.train.labels), [graph_data.LABELS_PER_CLASS] * 10)
    np.testing.assert_array_equal(data.test.labels, GRAPH.labels[ids["test"]])
    again, other = graph_data.load_fashion_mnist_knn(split_seed=0), graph_data.load_fashion_mnist_knn(split_seed=1)
    np.testing.assert_array_equal(again.train.inputs, data.train.inputs)
    assert not np.array_equal(other.train.inputs, data.train.inputs)
    assert len(graph_data.load_fashion_mnist_knn(limit_train=30).train) == 30


def test_decisions_are_named_per_layer_and_conditioned_on_depth():
    space, _ = build(SMALL)
    assert [d.name for d in space.decisions] == ["depth"] + [
        f"layer{i}.{what}" for i in range(2) for what in ("width", "heads", "attention", "aggregation", "activation")]
    assert space["layer0.width"].when is None and space["layer1.attention"].when is not None
    assert space["layer0.attention"].values == ("const", "gcn", "linear", "gat", "cos")
    assert space.size() == 300 + 300 * 300  # per layer 2 widths x 2 heads x 5 x 3 x 5 = 300, at depth 1 or 2


def test_images_and_bad_options_are_refused_with_what_to_use():
    definition = get_definition("gnn")
    with pytest.raises(ConfigError, match="reads node indices.*not images of 28x28x1.*--data fashion-mnist-knn"):
        definition.resolve_options({}, (28, 28, 1))
    with pytest.raises(ConfigError, match="option attentions holds \\['dot'\\]; allowed: a non-empty list of const"):
        build({"attentions": ["gat", "dot"]})
    with pytest.raises(ConfigError, match="min_layers=3, max_layers=2"):
        build({"min_layers": 3, "max_layers": 2})
    _, supernet = build(SMALL)
    with pytest.raises(ConfigError, match="reads node indices.*got inputs of shape \\(2, 28, 28, 1\\)"):
        supernet(jnp.zeros((2, 28, 28, 1)))


def test_lowerings_agree_on_smallest_largest_and_a_random_arch():
    space, graphdef, params, stats = checks.perturbed_supernet("gnn", SMALL, input_shape=NODE_SHAPE)
    batch = nodes(0, 7, 311, 1024, 1999, 5)
    worst = checks.check_agreement(space, graphdef, params, stats, checks.archs_to_check(space, 1), batch)
    assert worst <= checks.TOLERANCE


def test_analytic_cost_counts_the_sliced_subnets_params_and_the_graphs_multiply_adds():
    counter = load_counter("gnn", SMALL, input_shape=NODE_SHAPE)
    space, supernet = build(SMALL)
    rng = np.random.default_rng(0)
    for arch in [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(4)]:
        assert counter.count(arch)["params"] == count_params(split(slice_subnet(supernet, arch))[1]), arch
    nodes_, edges = GRAPH.num_nodes, GRAPH.structure.num_edges
    arch = space.validate({"depth": 2, "layer0.width": 8, "layer0.heads": 2, "layer0.attention": "gat",
                           "layer0.aggregation": "max", "layer0.activation": "relu", "layer1.width": 4,
                           "layer1.heads": 1, "layer1.attention": "const", "layer1.aggregation": "sum",
                           "layer1.activation": "tanh"})
    # layer 0: projection 64x2x8 per node, GAT's two dot products and the head mean per node, one weighted
    # message per edge; layer 1: projection 8x1x4 and the head mean per node, no weighting (const); head 4x10.
    layer0 = nodes_ * 64 * 16 + 2 * nodes_ * 16 + edges * 16 + nodes_ * 16
    layer1 = nodes_ * 8 * 4 + nodes_ * 4
    assert counter.count(arch)["macs"] == layer0 + layer1 + 4 * 10
    # Params: projection, bias, attention vectors (GAT: two per head), LayerNorm scale and bias; the classifier.
    assert counter.count(arch)["params"] == (64 * 16 + 8 + 2 * 16 + 2 * 8) + (8 * 4 + 4 + 2 * 4) + (4 * 10 + 10)


@pytest.mark.slow
def test_cli_trains_searches_and_the_export_reloads_and_matches(tmp_path):
    """`nas train` a few steps on the graph, `nas search` a few trials, `nas export` one arch: the reloaded
    export and its StableHLO compute the supernet's logits on the test nodes."""
    run, out = tmp_path / "run", tmp_path / "export"
    option_args = [a for key, value in SMALL.items() for a in ("--option", f"{key}={json.dumps(value)}")]
    checks.cli("train", "--space", "gnn", *option_args, "--data", "fashion-mnist-knn", "--batch-size", 100,
               "--warmup-steps", 1, "--steps", 3, "--quiet", "--run", run)
    checks.cli("search", "--run", run, "--searcher", "evolution", "--trials", 4, "--batch", 2)
    arch = {"depth": 2, "layer0.width": 4, "layer0.heads": 2, "layer0.attention": "cos", "layer0.aggregation": "max",
            "layer0.activation": "elu", "layer1.width": 8, "layer1.heads": 1, "layer1.attention": "gcn",
            "layer1.aggregation": "mean", "layer1.activation": "tanh"}
    checks.cli("export", "--run", run, "--arch", json.dumps(arch), "--out", out)
    exported = load_export(out)
    from nas.evaluate import make_masked_logits
    from nas.run_dir import RunDir
    from nas.train.loop import restore_trained

    session, state = restore_trained(RunDir.open(run))
    inputs = session.dataset.test.inputs
    vector = session.space.validate(arch).to_vector()
    supernet = make_masked_logits(session.graphdef, session.space)(state.params, state.stats, inputs, vector)
    assert float(jnp.max(jnp.abs(exported.logits(inputs) - supernet))) <= 1e-4
    np.testing.assert_allclose(load_stablehlo(out)(np.asarray(inputs)), exported.logits(inputs), atol=1e-5)


def test_switched_execution_runs_the_static_subnet_in_logits_and_gradients():
    # `nas train --execution switch`: each layer runs at its chosen width and heads with its chosen ops only.
    import jax

    from nas.lowering import switched_apply

    # Compiling every op of both layers under conditionals takes ~25 s. The numbers are compared on
    # three attentions and two aggregations and activations (the ones with weights, a max and a
    # non-linearity). The program with every op is traced below, which already refuses a branch whose
    # output shape or dtype differs from its siblings'.
    ops = {"attentions": ["gcn", "gat", "cos"], "aggregations": ["max", "sum"], "activations": ["tanh", "elu"]}
    space, graphdef, params, stats = checks.perturbed_supernet("gnn", {**SMALL, **ops}, input_shape=NODE_SHAPE)
    batch = nodes(0, 7, 311, 1024)
    rng = np.random.default_rng(4)
    archs = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(3)]
    shallow = next(a for a in (space.sample(rng) for _ in range(100)) if a["depth"] == 1)
    checks.check_switched_matches_static(space, graphdef, params, stats, archs + [shallow], batch)
    # ... and it does switch: per layer one conditional for its sizes, one per op choice inside each of the
    # (width, heads) branches, and one for the layer that depth may skip.
    space, graphdef, params, stats = checks.perturbed_supernet("gnn", SMALL, input_shape=NODE_SHAPE)
    program = str(jax.make_jaxpr(lambda v: switched_apply(graphdef, params, stats, space, batch, v, train=True))(
        space.sample(rng).to_vector()))
    assert program.count("cond[") >= 2 * (1 + 4 * 3) + 1, program.count("cond[")
