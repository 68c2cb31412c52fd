"""Constrained weight sharing: the sharing rules, the per-group weight stores, `nas search --sharing`."""
import json

import jax
import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.errors import ConfigError
from nas.search import SearchConfig, SupernetEvaluator, run_search
from nas.search.shared_weights import Sharing, SharedWeights
from nas.search.sharing_rule import homogeneous_rule, resolve_rule
from nas.space import Choice, Space

LIMIT = 64


def gnn_like() -> Space:
    decisions = []
    for i in range(2):
        decisions += [Choice(f"l{i}.attention", ["gcn", "gat"]), Choice(f"l{i}.aggregation", ["sum", "max"]),
                      Choice(f"l{i}.activation", ["relu", "tanh"]), Choice(f"l{i}.hidden", [8, 16])]
    return Space("gnn-like", decisions)


def test_homogeneous_archs_differ_only_in_parameter_free_decisions():
    space = gnn_like()
    rule = resolve_rule("homogeneous", space)
    base = space.smallest()
    other = lambda **changes: space.validate({**dict(base), **changes})  # noqa: E731
    assert rule(other(**{"l0.aggregation": "max", "l1.aggregation": "max"})) == rule(base)
    for changed in ({"l0.attention": "gat"}, {"l1.activation": "tanh"}, {"l1.hidden": 16}):
        assert rule(other(**changed)) != rule(base), changed
    assert {resolve_rule("all", space)(space.sample(np.random.default_rng(i))) for i in range(5)} == {"all"}
    assert homogeneous_rule(space, parameter_free=())(other(**{"l0.aggregation": "max"})) != rule(base)
    custom = lambda arch: str(arch["l0.hidden"])  # noqa: E731
    assert resolve_rule(custom, space) is custom
    with pytest.raises(ConfigError, match="unknown sharing rule 'homogenous'; allowed: all, homogeneous or "
                                          "module:function"):
        resolve_rule("homogenous", space)
    with pytest.raises(ConfigError, match="must be given as package.module:attribute|cannot load sharing rule"):
        resolve_rule("no_such_module_here:rule", space)


@pytest.fixture(scope="module")
def plain(trained_run):
    return SupernetEvaluator(trained_run, limit=LIMIT)


def stores(plain, rule, steps=3, start="trained"):
    params, stats = (plain.state.params, plain.state.stats) if start == "trained" else (plain.session.params,
                                                                                        plain.session.stats)
    return SharedWeights(plain.session, params, stats, Sharing(rule, steps=steps, start=start))


def leaves(tree):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))


def test_a_child_inherits_only_from_its_own_group(plain):
    space = plain.space
    small, large = space.smallest(), space.largest()
    homogeneous, shared = stores(plain, "homogeneous"), stores(plain, "all")
    for weights in (homogeneous, shared):
        assert not weights.inherited(large)
        weights.train(large)
        assert weights.inherited(large)
    # Homogeneous: the smallest arch is another group, so it starts from the run's weights, not from what the
    # largest trained; under `all` it starts from the largest's trained weights.
    assert not homogeneous.inherited(small) and shared.inherited(small)
    from_start, _ = homogeneous.train(small, write_back=False)
    from_large, _ = shared.train(small, write_back=False)
    assert not same(from_start, from_large)
    assert homogeneous.children == {homogeneous.group(large): 1} and shared.children == {"all": 1}
    # Training the smallest into the shared store moves only the slices it uses.
    before = shared._stores["all"][0]
    after, _ = shared.train(small)
    moved = [np.any(x != y) for x, y in zip(leaves(before), leaves(after))]
    assert any(moved) and not all(moved)
    assert shared.children == {"all": 2}


def test_a_look_without_write_back_changes_nothing(plain):
    weights = stores(plain, "homogeneous")
    arch = plain.space.largest()
    first, _ = weights.train(arch)
    position = weights._stream.position()
    looked, _ = weights.train(arch, write_back=False)
    assert weights._stream.position() == position and same(weights._stores[weights.group(arch)][0], first)
    again, _ = weights.train(arch, write_back=False)
    assert same(looked, again)  # the same batches from the same weights
    assert not same(looked, first)  # trained on: starts from the stored child's weights


def test_initial_start_ignores_the_trained_supernet(plain):
    arch = plain.space.largest()
    initial = stores(plain, "all", start="initial").train(arch, write_back=False)[0]
    trained = stores(plain, "all", start="trained").train(arch, write_back=False)[0]
    assert not same(initial, trained)
    assert not same(initial, plain.state.params)


def test_stores_are_saved_and_restored(plain, tmp_path):
    weights = stores(plain, "homogeneous")
    archs = [plain.space.largest(), plain.space.smallest()]
    for arch in archs:
        weights.train(arch)
    weights.save(tmp_path)
    restored = stores(plain, "homogeneous")
    assert restored.load(tmp_path) == 2
    assert restored.children == weights.children
    for arch in archs:
        assert same(restored.train(arch, write_back=False), weights.train(arch, write_back=False))
    with pytest.raises(ConfigError, match=r"other sharing settings \(steps differ\)"):
        stores(plain, "homogeneous", steps=4).load(tmp_path)


def test_evaluator_trains_before_it_scores_and_a_search_runs(trained_run, plain, tmp_path):
    sharing = Sharing("homogeneous", steps=3)
    evaluator = SupernetEvaluator(trained_run, limit=LIMIT, sharing=sharing, sharing_dir=tmp_path / "stores")
    archs = [plain.space.largest(), plain.space.smallest()]
    looked = evaluator.scores(archs[:1], write_back=False)["accuracy"]
    assert not evaluator.shared.children  # a look trains nothing into the stores
    scored = [m["accuracy"] for m in evaluator.evaluate(archs)]
    assert scored[0] == pytest.approx(float(looked[0]))  # the same batches from the same weights
    assert sorted(evaluator.shared.children.values()) == [1, 1]
    assert json.loads((tmp_path / "stores" / "index.json").read_text())["sharing"]["rule"] == "homogeneous"
    result = run_search(evaluator, tmp_path / "search", SearchConfig(searcher="conservative-rl", trials=10, batch=5),
                        progress=False)
    assert len(result.records) == 10


def test_cli_search_with_sharing(trained_run):
    runner = CliRunner()
    out = runner.invoke(main, ["search", "--run", str(trained_run), "--study", "shared", "--searcher", "conservative-rl",
                               "--trials", "6", "--batch", "3", "--limit", str(LIMIT), "--sharing", "all",
                               "--sharing-steps", "2", "--quiet"])
    assert out.exit_code == 0, out.output
    index = json.loads((trained_run / "sharing-shared.main" / "index.json").read_text())
    assert index["groups"]["all"]["children"] == 6
    out = runner.invoke(main, ["search", "--run", str(trained_run), "--study", "bad", "--sharing", "homogenous",
                               "--trials", "2", "--quiet"])
    assert out.exit_code != 0 and "unknown sharing rule 'homogenous'" in out.output
