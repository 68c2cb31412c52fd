import numpy as np

from searchers.random_search import RandomSearch

from .conftest import zdt_objectives


def test_seeds_first_then_uniform_and_state_round_trip(zdt):
    searcher = RandomSearch(zdt, seed=3, seeds=[zdt.smallest(), zdt.largest()])
    first = searcher.ask(3)
    assert first[:2] == [zdt.smallest(), zdt.largest()]
    searcher.tell(first, np.array([zdt_objectives(a) for a in first]))
    saved = searcher.state()
    expected = searcher.ask(50)
    searcher.restore(saved)
    assert searcher.ask(50) == expected
    counts = np.bincount([a["x1"] for a in RandomSearch(zdt, seed=0).ask(4000)], minlength=8)
    assert counts.min() > 400 and counts.max() < 600  # 500 expected per value
