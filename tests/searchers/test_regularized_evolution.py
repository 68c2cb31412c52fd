import numpy as np

from searchers.regularized_evolution import RegularizedEvolution

from .conftest import zdt_objectives


def run(searcher, zdt, rounds):
    for _ in range(rounds):
        archs = searcher.ask(5)
        searcher.tell(archs, np.array([zdt_objectives(a) for a in archs]))


def test_aging_keeps_the_last_population_size_archs(zdt):
    searcher = RegularizedEvolution(zdt, population_size=10, seed=0)
    told = []
    for _ in range(5):
        archs = searcher.ask(4)
        searcher.tell(archs, np.array([zdt_objectives(a) for a in archs]))
        told.extend(archs)
    assert [member[0] for member in searcher.population] == told[-10:]


def test_children_come_from_good_parents(zdt):
    searcher = RegularizedEvolution(zdt, population_size=20, sample_size=20, crossover_prob=0.0, seed=1)
    run(searcher, zdt, 4)
    ranks_before = np.mean([zdt_objectives(a)[1] for a, _, _ in searcher.population])
    run(searcher, zdt, 40)
    # With the whole population in each tournament, mutation of front members: g falls toward 1.
    assert np.mean([zdt_objectives(a)[1] for a, _, _ in searcher.population]) < ranks_before


def test_constraint_resampling_and_penalty(zdt):
    feasible = lambda arch: arch["x0"] <= 4
    searcher = RegularizedEvolution(zdt, population_size=10, seed=2, is_feasible=feasible)
    children = searcher.ask(30)
    assert sum(map(feasible, children)) >= 29  # resampled: almost never an infeasible child
    # Penalised: an infeasible member never wins a tournament against a feasible one.
    searcher = RegularizedEvolution(zdt, population_size=4, sample_size=4, crossover_prob=0.0, seed=3)
    archs = searcher.ask(4)
    objectives = np.array([[0.0, 0.0], [5, 5], [6, 6], [7, 7]])
    searcher.tell(archs, objectives, violations=[1.0, 0, 0, 0])
    parents_of = {a.to_string() for a in archs[1:2]}
    for child in searcher.ask(20):  # every child is one mutation of archs[1]
        vector, parent = child.to_vector(), archs[1].to_vector()
        assert 1 <= np.sum(vector != parent) <= 3, parents_of


def test_state_round_trip_continues_identically(zdt):
    searcher = RegularizedEvolution(zdt, population_size=8, seed=4)
    run(searcher, zdt, 3)
    saved = searcher.state()
    expected = searcher.ask(10)
    fresh = RegularizedEvolution(zdt, population_size=8, seed=99)
    fresh.restore(saved)
    assert fresh.ask(10) == expected


def test_a_repeat_of_a_living_member_does_not_join_again_but_one_aged_out_does(zdt):
    searcher = RegularizedEvolution(zdt, population_size=3, seed=0)
    archs = [zdt.sample(np.random.default_rng(i)) for i in range(4)]
    assert len({a.to_string() for a in archs}) == 4
    searcher.tell(archs[:3], np.array([zdt_objectives(a) for a in archs[:3]]))
    searcher.tell([archs[1]], np.array([zdt_objectives(archs[1])]))  # answered from the history
    assert [member[0] for member in searcher.population] == archs[:3]
    searcher.tell([archs[3], archs[0]], np.array([zdt_objectives(a) for a in (archs[3], archs[0])]))
    assert [member[0] for member in searcher.population] == [archs[2], archs[3], archs[0]]
