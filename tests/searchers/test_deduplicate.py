import numpy as np

from searchers.composed import composed
from searchers.deduplicate import Deduplicated
from searchers.registry import SEARCHERS, make_searcher
from searchers.rl_controller import RLController

from searchers.middle_heuristic import middle_arch

from .conftest import zdt_objectives


class Scripted:
    """Proposes archs from a fixed list, in order; records what it is told."""

    def __init__(self, space, archs):
        self.space, self._archs, self.told = space, list(archs), []

    def ask(self, n):
        archs, self._archs = self._archs[:n], self._archs[n:]
        return archs

    def tell(self, archs, objectives, violations=None):
        self.told += [(a, float(np.asarray(o)[0])) for a, o in zip(archs, objectives)]

    def state(self):
        return {"left": [a.to_string() for a in self._archs], "told": [[a.to_string(), v] for a, v in self.told]}

    def restore(self, state):
        self._archs = [self.space.from_string(a) for a in state["left"]]
        self.told = [(self.space.from_string(a), v) for a, v in state["told"]]


def archs_of(zdt, count):
    return [zdt.from_vector(np.array([i, 0, 0, 0, 0, 0], np.int32)) for i in range(count)]


def test_repeats_in_a_batch_are_held_and_answered_when_the_first_copy_is_told(zdt):
    a, b, c, d = archs_of(zdt, 4)
    inner = Scripted(zdt, [a, a, b, a, c, d])
    searcher = Deduplicated(inner)
    assert searcher.ask(3) == [a, b, c]  # the two repeats of a cost no slot
    assert searcher.duplicates == 2
    searcher.tell([a, b, c], np.array([[1.0], [2.0], [3.0]]))
    # the inner searcher hears a three times (its own three proposals), each with a's scores
    assert sorted(v for arch, v in inner.told if arch == a) == [1.0, 1.0, 1.0]


def test_an_arch_already_told_is_answered_from_the_history_and_redrawn(zdt):
    a, b, c = archs_of(zdt, 3)
    inner = Scripted(zdt, [a, b, a, a, c])
    searcher = Deduplicated(inner)
    assert searcher.ask(2) == [a, b]
    searcher.tell([a, b], np.array([[1.0], [2.0]]))
    assert searcher.ask(1) == [c]  # a, a answered at once, then c drawn
    assert searcher.duplicates == 2
    assert [v for arch, v in inner.told if arch == a] == [1.0, 1.0, 1.0]


def test_a_searcher_that_only_repeats_gets_uniform_fallbacks_and_a_small_space_runs_out(zdt):
    a = archs_of(zdt, 1)[0]
    searcher = Deduplicated(Scripted(zdt, [a] * 1000), seed=0)
    first = searcher.ask(4)
    assert first[0] == a and len(set(first)) == 4 and searcher.fallbacks == 3
    from nas.space import Choice, Space
    tiny = Space("tiny", [Choice("x", [0, 1, 2])])
    searcher = Deduplicated(make_searcher("random", tiny, 1, seed=0), seed=0)
    archs = searcher.ask(5)
    assert sorted(arch["x"] for arch in archs) == [0, 1, 2]  # every arch once, then nothing left
    searcher.tell(archs, np.zeros((3, 1)))
    assert searcher.ask(2) == []


def test_no_searcher_is_charged_for_a_repeat(zdt):
    for name in SEARCHERS:
        searcher = composed(make_searcher(name, zdt, 2, seed=0), seed=0)
        seen = []
        for _ in range(10):
            archs = searcher.ask(10)
            seen += archs
            searcher.tell(archs, np.array([zdt_objectives(a) for a in archs]))
        assert len(seen) == 100 and len(set(seen)) == 100, name


def test_rl_is_updated_for_every_proposal_including_repeats():
    from nas.space import Choice, Space
    space = Space("toy", [Choice("a", [0, 1])])
    searcher = Deduplicated(RLController(space, seed=0))
    archs = []
    while len(archs) < 2:  # two archs only: the space is soon exhausted
        archs += searcher.ask(2 - len(archs))
    searcher.tell(archs, np.array([[float(arch["a"])] for arch in archs]))
    assert searcher.ask(1) == [] and searcher.duplicates >= 10  # ten proposals, every one a repeat
    assert not any(searcher.searcher._pending.values())  # every proposal, repeats too, was told
    assert searcher.searcher.probabilities()[0][0] > 0.5  # and learnt from: a=0 is better (minimised)


def test_initial_archs_come_first_for_every_searcher_and_none_means_none(zdt):
    for name in SEARCHERS:
        searcher = composed(make_searcher(name, zdt, 2, seed=0), initial="endpoints")
        assert searcher.ask(3)[:2] == [zdt.smallest(), zdt.largest()], name
        searcher = composed(make_searcher(name, zdt, 2, seed=0), initial="largest")
        assert searcher.ask(1) == [zdt.largest()], name
        searcher = composed(make_searcher(name, zdt, 2, seed=0), initial="middle")
        assert searcher.ask(1) == [middle_arch(zdt)], name
    first = [composed(make_searcher("random", zdt, 2, seed=s), initial="none").ask(1)[0] for s in range(20)]
    assert zdt.smallest() not in first and zdt.largest() not in first


def test_state_round_trip_continues_identically(zdt):
    searcher = composed(make_searcher("evolution", zdt, 2, seed=3, options={"population_size": 6}), seed=3)
    for _ in range(4):
        archs = searcher.ask(5)
        searcher.tell(archs, np.array([zdt_objectives(a) for a in archs]))
    held = searcher.ask(5)  # out, not yet told
    saved = searcher.state()
    fresh = composed(make_searcher("evolution", zdt, 2, seed=9, options={"population_size": 6}), seed=9)
    fresh.restore(saved)
    assert fresh.ask(7) == searcher.ask(7)
    assert fresh.duplicates == searcher.duplicates and not set(held) & set(fresh.ask(20))
