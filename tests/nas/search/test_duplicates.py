"""A search never spends a trial on an arch it has already evaluated, and starts where it is told."""
import pytest

from nas.errors import ConfigError
from nas.search import BlackBoxEvaluator, SearchConfig, run_search
from nas.space import Choice, Space

SMALL = Space("small", [Choice("a", [0, 1, 2, 3]), Choice("b", [0, 1, 2]), Choice("c", [0, 1, 2])])  # 36 archs


def counting_evaluator(space):
    calls = []

    def objective(arch):
        calls.append(arch.to_string())
        return {"accuracy": (arch["a"] * 3 + arch["b"] + arch.get("c", 0)) / 15, "params": float(sum(arch.values()))}

    return BlackBoxEvaluator(space, objective, outputs=("accuracy", "params")), calls


@pytest.mark.parametrize("searcher", ["evolution", "tpe", "rl"])
def test_repeats_are_answered_without_a_trial(tmp_path, searcher):
    evaluator, calls = counting_evaluator(SMALL)
    result = run_search(evaluator, tmp_path / "s", SearchConfig(searcher=searcher, trials=30, batch=8,
                                                                objectives=("accuracy:max",)), progress=False)
    archs = [r.arch for r in result.records]
    assert len(archs) == 30 and len(set(archs)) == 30 and sorted(calls) == sorted(archs)
    assert result.duplicates > 0  # 30 of 36 archs: every one of these searchers repeated itself


def test_a_space_smaller_than_the_budget_stops_when_exhausted(tmp_path, capsys):
    space = Space("six", [Choice("a", [0, 1, 2]), Choice("b", [0, 1])])
    evaluator, calls = counting_evaluator(space)
    result = run_search(evaluator, tmp_path / "s", SearchConfig(searcher="random", trials=20, batch=4,
                                                                objectives=("accuracy:max",)), progress=False)
    assert len(result.records) == 6 and len(calls) == 6
    assert "every arch the searcher proposes has been evaluated; stopping at 6 trials" in capsys.readouterr().err


@pytest.mark.parametrize("initial, first", [("endpoints", ["smallest", "largest"]), ("largest", ["largest"]),
                                            ("none", [])])
def test_initial_archs(tmp_path, initial, first):
    evaluator, calls = counting_evaluator(SMALL)
    result = run_search(evaluator, tmp_path / "s", SearchConfig(searcher="rl", trials=6, batch=3, seed=1,
                                                                initial_archs=initial, objectives=("accuracy:max",)),
                        progress=False)
    named = {"smallest": SMALL.smallest().to_string(), "largest": SMALL.largest().to_string()}
    assert [r.arch for r in result.records[:len(first)]] == [named[f] for f in first]
    if not first:
        assert not set(named.values()) & {r.arch for r in result.records[:2]}
    with pytest.raises(ConfigError, match="initial_archs must be one of endpoints, smallest, largest, middle, none, got 'centre'"):
        run_search(evaluator, tmp_path / "t", SearchConfig(initial_archs="centre"), progress=False)
