import pytest

from nas.errors import ConfigError
from searchers.base import Searcher
from searchers.registry import SEARCHERS, make_searcher


def test_every_searcher_follows_the_protocol(zdt):
    for name in SEARCHERS:
        searcher = make_searcher(name, zdt, 2, seed=0)
        assert isinstance(searcher, Searcher)
        assert len(searcher.ask(3)) == 3


def test_unknown_searcher_or_option_is_a_clear_error(zdt):
    with pytest.raises(ConfigError, match="unknown searcher 'bayes'; allowed: random, evolution"):
        make_searcher("bayes", zdt, 2)
    with pytest.raises(ConfigError, match="unknown option.*populaton_size.*allowed:.*population_size"):
        make_searcher("evolution", zdt, 2, options={"populaton_size": 3})


@pytest.mark.parametrize("name, options, message", [
    ("rl", {"learning_rate": "abc"}, "option learning_rate must be a number, got 'abc'"),
    ("evolution", {"population_size": -1}, r"option population_size=-1 is out of range; allowed: >= 1"),
    # Each of these raised a raw error mid-search (an empty population's minimum, an unbound arch, NaN
    # probabilities, an objective index past the end) or ran silently with a probability above 1.
    ("evolution", {"population_size": 0}, r"option population_size=0 is out of range; allowed: >= 1"),
    ("evolution", {"sample_size": 0}, r"option sample_size=0 is out of range; allowed: >= 1"),
    ("evolution", {"max_resample": 0}, r"option max_resample=0 is out of range; allowed: >= 1"),
    ("evolution", {"crossover_prob": 1.5}, r"option crossover_prob=1.5 is out of range; allowed: in \[0, 1\]"),
    ("rl", {"baseline_momentum": 1.0}, r"option baseline_momentum=1 is out of range; allowed: in \[0, 1\)"),
    ("rl", {"learning_rate": float("nan")}, "option learning_rate must be a finite number, got nan"),
    ("conservative-rl", {"violation_penalty": float("inf")}, "option violation_penalty must be a finite number"),
    ("rl", {"quality_index": 2}, "option quality_index=2 names no objective; the search has 2, so allowed: -2 to 1"),
    ("rl", {"beta": 0.5}, r"option beta=0.5 is out of range; allowed: < 0"),
    ("nsga2", {"population_size": 1}, r"option population_size=1 is out of range; allowed: >= 2"),
    ("evolution", {"population_size": "abc"}, "option population_size must be a whole number, got 'abc'"),
    ("optuna", {"n_startup_trials": "abc"}, "option n_startup_trials must be a whole number"),
    ("evolution", {"mutation_rate": "high"}, "option mutation_rate must be a number, got 'high'"),
    ("rl", {"normalise_rewards": 1}, "option normalise_rewards must be true or false, got 1"),
])
def test_an_option_of_the_wrong_type_or_sign_is_refused_before_the_search(zdt, name, options, message):
    with pytest.raises(ConfigError, match=f"searcher '{name}': {message}"):
        make_searcher(name, zdt, 2, options=options)


def test_options_of_the_right_type_and_a_negative_default_are_kept(zdt):
    make_searcher("evolution", zdt, 2, options={"mutation_rate": None, "crossover_prob": 1, "population_size": 8})
    make_searcher("rl", zdt, 2, options={"beta": -0.9, "targets": [1.0], "learning_rate": 0.1, "cost_index": -1})
    assert make_searcher("evolution", zdt, 2, options={"population_size": 1e2}).population_size == 100
