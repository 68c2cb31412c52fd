"""Shears' middle heuristic and SQFT's hill climbing: start, neighbours, moves, budgets, restarts, resume."""
import json

import pytest

from nas.errors import ConfigError
from nas.space import AtLeast, Choice, IntRange, Sorted, Space
from searchers.hill_climbing import HillClimbing, neighbours
from searchers.middle_heuristic import middle_arch

RANKS = (16, 24, 32)


def rank_space(layers=3) -> Space:
    return Space("ranks", [Sorted(f"l{i}.rank", widths=RANKS) for i in range(layers)])


def test_middle_is_shears_heuristic_for_odd_and_even_choices():
    assert dict(middle_arch(rank_space(2))) == {"l0.rank": 24, "l1.rank": 24}
    space = Space("mixed", [Sorted("r", widths=(8, 16, 24, 32)), Choice("act", ["relu", "gelu", "tanh"]),
                            Choice("k", [7, 3, 5]), IntRange("d", 1, 2), Choice("x", [1, 2], when=AtLeast("d", 2))])
    assert dict(middle_arch(space)) == {"r": 24, "act": "gelu", "k": 5, "d": 2, "x": 2}  # by size: k of 3, 5, 7


def test_neighbours_move_one_decision_one_sorted_step():
    space = rank_space(2)
    found = {tuple(dict(a).values()) for a in neighbours(space, space.validate({"l0.rank": 16, "l1.rank": 24}))}
    assert found == {(24, 24), (16, 16), (16, 32)}


def climb(searcher, objective, trials, batch=4, violation=lambda arch: 0.0):
    for _ in range(trials // batch):
        archs = searcher.ask(batch)
        searcher.tell(archs, [[objective(a)] for a in archs], [violation(a) for a in archs])


def distance(target):
    return lambda arch: float(sum(abs(arch[f"l{i}.rank"] - t) for i, t in enumerate(target)))


def test_the_climb_starts_at_the_middle_and_moves_to_the_best_neighbour_each_turn():
    space = rank_space()
    searcher = HillClimbing(space, seed=0)
    first = searcher.ask(1)
    assert dict(first[0]) == {"l0.rank": 24, "l1.rank": 24, "l2.rank": 24}
    searcher.tell(first, [[distance((32, 16, 24))(first[0])]])
    climb(searcher, distance((32, 16, 24)), 40)
    moves = [dict(space.from_string(m)) for m in searcher.moves[:3]]
    assert moves[0] == {"l0.rank": 24, "l1.rank": 24, "l2.rank": 24}
    assert sorted(moves[1].values()) != [24, 24, 24] and distance((32, 16, 24))(moves[1]) == 8  # one better step
    assert dict(searcher.best) == {"l0.rank": 32, "l1.rank": 16, "l2.rank": 24}


def test_a_budget_is_met_before_the_objective_is_chased():
    space = rank_space()
    total = lambda arch: sum(arch.values())  # noqa: E731
    searcher = HillClimbing(space, seed=1, seeds=[space.largest()])
    climb(searcher, lambda a: -total(a), 60, violation=lambda a: max(0.0, total(a) - 64) / 64)
    assert total(searcher.best) == 64  # the largest total within the budget


def test_turns_bound_a_climb_then_it_restarts_and_bad_options_are_refused():
    space = rank_space()
    searcher = HillClimbing(space, seed=0, turns=1, seeds=[space.smallest()])
    climb(searcher, distance((32, 32, 32)), 40)
    assert searcher.moves[0] == space.smallest().to_string()
    assert searcher.moves.count(space.smallest().to_string()) == 1 and len(searcher.moves) >= 3  # restarted
    with pytest.raises(ConfigError, match="turns must be an int >= 1"):
        HillClimbing(space, turns=0)


def test_restore_continues_exactly():
    space = rank_space()
    objective = distance((16, 32, 24))
    first = HillClimbing(space, seed=3)
    climb(first, objective, 12)
    saved = json.loads(json.dumps(first.state()))
    second = HillClimbing(space, seed=99)
    second.restore(saved)
    for _ in range(5):
        a, b = first.ask(3), second.ask(3)
        assert a == b
        scores = [[objective(x)] for x in a]
        first.tell(a, scores)
        second.tell(b, scores)
    assert first.state() == second.state()
