"""Conservative RL controller: small steps from the best arch, one class at a time, learnt by REINFORCE."""
import json

import numpy as np
import pytest

from nas.errors import ConfigError
from nas.space import AtLeast, Choice, IntRange, Space
from searchers.composed import composed
from searchers.conservative_rl import ConservativeRL
from searchers.decision_classes import by_suffix, decision_classes
from searchers.registry import make_searcher

WIDTHS, ATTENTION, AGGREGATION, ACTIVATION = (8, 16, 32, 64), ("gcn", "gat", "cos"), ("sum", "mean", "max"), (
    "relu", "tanh", "elu")


def gnn_like(layers: int = 2) -> Space:
    decisions = []
    for i in range(layers):
        decisions += [Choice(f"l{i}.attention", list(ATTENTION)), Choice(f"l{i}.aggregation", list(AGGREGATION)),
                      Choice(f"l{i}.activation", list(ACTIVATION)), Choice(f"l{i}.hidden", list(WIDTHS))]
    return Space("gnn-like", decisions)


def score(arch) -> float:
    """A made-up accuracy: best with gat attention, max aggregation, width 32 everywhere (activation matters little)."""
    total = 0.0
    for i in range(2):
        total += (arch[f"l{i}.attention"] == "gat") + 0.5 * (arch[f"l{i}.aggregation"] == "max")
        total -= abs(WIDTHS.index(arch[f"l{i}.hidden"]) - 2) * 0.4 + 0.05 * ACTIVATION.index(arch[f"l{i}.activation"])
    return total


def drive(searcher, rounds: int, batch: int = 4, objective=score):
    for _ in range(rounds):
        archs = searcher.ask(batch)
        searcher.tell(archs, np.array([[-objective(a)] for a in archs]))


def test_classes_come_from_decision_names_and_fall_back_to_one_per_decision():
    space = gnn_like()
    assert decision_classes(space) == {"attention": [0, 4], "aggregation": [1, 5], "activation": [2, 6],
                                       "width": [3, 7]}
    assert [by_suffix(n) for n in ("width_3", "s1.b0.kernel", "l2.heads", "l0.ffn_width", "embed_dim", "depth",
                                   "node1.from0")] == ["width", "kernel", "heads", "width", "width", "depth",
                                                       "node1.from0"]
    assert decision_classes(space, "decision") == {d.name: [i] for i, d in enumerate(space.free)}
    assert decision_classes(space, lambda name: name.split(".")[0]) == {"l0": [0, 1, 2, 3], "l1": [4, 5, 6, 7]}
    with pytest.raises(ConfigError, match="unknown decision classes 'names'; allowed: suffix, decision"):
        decision_classes(space, "names")


def test_every_child_is_the_best_arch_with_exactly_one_class_changed():
    space = gnn_like()
    searcher = ConservativeRL(space, seed=0)
    start = space.validate({"l0.attention": "gcn", "l0.aggregation": "sum", "l0.activation": "relu", "l0.hidden": 8,
                            "l1.attention": "gcn", "l1.aggregation": "sum", "l1.activation": "relu", "l1.hidden": 8})
    searcher.tell([start], [[-score(start)]])
    children = searcher.ask(40)
    classes = decision_classes(space)
    for child, klass in zip(children, searcher.steps):
        changed = {d.name for d in space.free if child[d.name] != start[d.name]}
        assert changed  # never the best itself
        assert changed <= {space.free[p].name for p in classes[klass]}, (klass, changed)
    assert len(set(searcher.steps)) == 4  # every class gets tried while the guider is still uniform


def test_it_climbs_to_the_optimum_and_learns_which_classes_pay():
    space = gnn_like()
    searcher = composed(ConservativeRL(space, seed=1), initial="smallest", seed=1)
    drive(searcher, 60)
    best = searcher.searcher.searcher.best
    assert score(best) == pytest.approx(3.0)  # gat, max, width 32, relu in both layers: the optimum
    # Random search with the same 240 trials rarely finds it (1 in 324 archs per layer pair of choices).
    random = composed(make_searcher("random", space, 1, seed=1), initial="smallest", seed=1)
    found = []
    for _ in range(60):
        archs = random.ask(4)
        random.tell(archs, np.array([[-score(a)] for a in archs]))
        found += [score(a) for a in archs]
    assert max(found) < 3.0


def test_a_class_without_anything_to_change_is_never_picked_and_inactive_decisions_stay():
    space = Space("cond", [IntRange("depth", 1, 2), Choice("width_0", [8, 16]), Choice("width_1", [8, 16],
                                                                                     when=AtLeast("depth", 2)),
                           Choice("act", ["relu"])])
    assert decision_classes(space) == {"depth": [0], "width": [1, 2], "activation": [3]}
    searcher = ConservativeRL(space, seed=0)
    start = space.validate({"depth": 1, "width_0": 8, "act": "relu"})
    searcher.tell([start], [[0.0]])
    children = searcher.ask(30)
    assert "activation" not in searcher.steps  # one value: nothing to change
    for child, klass in zip(children, searcher.steps):
        if klass == "width":
            assert dict(child) == {"depth": 1, "width_0": 16, "act": "relu"}  # width_1 is inactive at depth 1


def test_rewards_teach_the_guider_which_class_of_step_loses_least():
    space = gnn_like()
    smallest = space.smallest()
    # No step improves on the smallest arch; a width step costs 1, any other 0.1 per decision changed.
    objective = lambda a: -sum((1.0 if n == "hidden" else 0.1) * (a[f"l{i}.{n}"] != smallest[f"l{i}.{n}"])  # noqa: E731
                               for i in range(2) for n in ("attention", "aggregation", "activation", "hidden"))
    searcher = ConservativeRL(space, seed=2, learning_rate=0.3)
    searcher.tell([smallest], [[-objective(smallest)]])
    drive(searcher, 40, objective=objective)
    probabilities = searcher.probabilities()
    assert min(probabilities, key=probabilities.get) == "width" and probabilities["width"] < 0.1, probabilities
    assert searcher.best == smallest
    assert searcher.steps[-40:].count("width") < 8  # 10 of 40 under the uniform guider


def test_unproposed_archs_become_the_best_without_training_a_policy():
    space = gnn_like()
    searcher = ConservativeRL(space, seed=0)
    archs = [space.smallest(), space.largest()]
    searcher.tell(archs, [[-1.0], [-2.0]])
    assert searcher.best == space.largest()
    assert np.all(searcher._guider == 0) and all(np.all(m == 0) for m in searcher._modifiers)


def test_seeded_runs_repeat_and_state_round_trips_through_json():
    space = gnn_like()
    first, second = ConservativeRL(space, seed=4), ConservativeRL(space, seed=4)
    drive(first, 6)
    drive(second, 6)
    assert first.state() == second.state()
    pending = first.ask(3)  # asked, not yet told: must survive the round trip
    saved = json.loads(json.dumps(first.state()))
    resumed = ConservativeRL(space, seed=99)
    resumed.restore(saved)
    scores = np.array([[-score(a)] for a in pending])
    first.tell(pending, scores)
    resumed.tell(pending, scores)
    assert resumed.ask(5) == first.ask(5)
    assert resumed.state() == first.state()


def test_registered_with_checked_options(zdt):
    searcher = make_searcher("conservative-rl", gnn_like(), 1, seed=0, options={"learning_rate": 0.1})
    assert isinstance(searcher, ConservativeRL) and searcher.learning_rate == 0.1
    with pytest.raises(ConfigError, match="unknown option.*lr.*allowed:.*learning_rate"):
        make_searcher("conservative-rl", zdt, 2, options={"lr": 0.1})
    with pytest.raises(ConfigError, match="learning_rate must be > 0"):
        ConservativeRL(zdt, learning_rate=0)
