import numpy as np
import pytest

from nas.errors import ConfigError
from searchers.optuna_search import OptunaSearch

from .conftest import zdt_objectives


def test_seeds_are_enqueued_and_conditionals_respected(zdt):
    searcher = OptunaSearch(zdt, 2, seeds=[zdt.smallest(), zdt.largest()], seed=0)
    assert searcher.sampler_name == "nsga2"
    archs = searcher.ask(40)
    assert archs[:2] == [zdt.smallest(), zdt.largest()]
    assert all(("x5" in a) == (a["x0"] >= 1) for a in archs)
    searcher.tell(archs, np.array([zdt_objectives(a) for a in archs]))
    assert searcher.ask(5)  # NSGA-II's next generation


def test_tpe_for_one_objective_learns(zdt):
    searcher = OptunaSearch(zdt, 1, seed=0)
    assert searcher.sampler_name == "tpe"
    best = []
    for _ in range(8):
        archs = searcher.ask(8)
        values = np.array([[zdt_objectives(a).sum()] for a in archs])
        searcher.tell(archs, values)
        best.append(values.min())
    late = [sum(zdt_objectives(a)) for a in searcher.ask(16)]
    assert np.median(late) < 1.4  # uniform archs: median of f1 + f2 is about 1.7


def test_foreign_archs_and_state_round_trip(zdt):
    searcher = OptunaSearch(zdt, 2, seed=1, population_size=8)
    foreign = [zdt.sample(np.random.default_rng(i)) for i in range(20)]
    searcher.tell(foreign, np.array([zdt_objectives(a) for a in foreign]), violations=np.r_[np.zeros(19), 1.0])
    state = searcher.state()
    assert len(state["told"]) == 20 and state["told"][-1][2] == 1.0
    restored = OptunaSearch(zdt, 2, seed=1, population_size=8)
    restored.restore(state)
    assert restored.state()["told"] == state["told"]
    again = OptunaSearch(zdt, 2, seed=1, population_size=8)
    again.restore(state)
    assert restored.ask(8) == again.ask(8)  # a restore is deterministic: same history, same stream
    with pytest.raises(ConfigError, match="unknown Optuna sampler"):
        OptunaSearch(zdt, 2, sampler="cmaes")


def test_queued_seeds_survive_a_state_round_trip(zdt):
    searcher = OptunaSearch(zdt, 2, seeds=[zdt.smallest(), zdt.largest()], seed=0)
    state = searcher.state()
    assert state["queued"] == [zdt.smallest().to_string(), zdt.largest().to_string()]
    restored = OptunaSearch(zdt, 2, seed=0)
    restored.restore(state)
    assert restored.ask(2) == [zdt.smallest(), zdt.largest()]
