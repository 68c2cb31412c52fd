"""On the ZDT1 benchmark, every learning searcher beats random search at the same trial budget.

20 paired seeds (searcher seed s against random seed s), 100 trials each (10 batches of 10).
The slow variant uses 200 trials.
"""
import numpy as np
import pytest

from searchers.registry import make_searcher

from .conftest import run_searcher, zdt_space

# TuNAS targets spread over the cost objective (f1 in [0, 1]); one policy per target.
RL_OPTIONS = {"targets": [0.1, 0.3, 0.5, 0.7, 0.9], "beta": -1.0, "learning_rate": 1.0}
OPTIONS = {"evolution": {"population_size": 20, "sample_size": 5}, "nsga2": {"population_size": 20},
           "rl": RL_OPTIONS}


def mean_hypervolumes(names, seeds: int, budget: int) -> dict:
    space = zdt_space()
    return {name: np.array([run_searcher(make_searcher(name, space, 2, seed=seed, options=OPTIONS.get(name, {})),
                                         budget) for seed in range(seeds)]) for name in names}


def check_beats_random(results: dict) -> None:
    print({name: round(float(values.mean()), 4) for name, values in results.items()})
    for name, values in results.items():
        if name != "random":
            assert values.mean() > results["random"].mean(), (name, values.mean(), results["random"].mean())


def test_searchers_beat_random_search():
    check_beats_random(mean_hypervolumes(["random", "evolution", "nsga2", "rl"], seeds=20, budget=100))


@pytest.mark.slow
def test_searchers_beat_random_search_longer():
    check_beats_random(mean_hypervolumes(["random", "evolution", "nsga2", "rl"], seeds=20, budget=300))
