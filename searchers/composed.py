"""The searcher a search runs: any strategy, with its starting points and its repeats handled around it.

    searcher = composed(make_searcher("tpe", space, 1, seed=0), initial="endpoints", seed=0)

is `Deduplicated(InitialArchs(tpe, [smallest, largest]))`: the initial archs are asked first
(`searchers.initial_archs`), and no proposal repeats an arch told or still out
(`searchers.deduplicate`). `nas.search.run_search` and `experiments/searchers.py` both build it here,
so that what is measured is what runs.
"""
from __future__ import annotations

from searchers.deduplicate import Deduplicated
from searchers.initial_archs import InitialArchs, initial_archs


def composed(searcher, *, initial: str = "endpoints", deduplicate: bool = True, seed: int = 0):
    wrapped = InitialArchs(searcher, initial_archs(searcher.space, initial))
    return Deduplicated(wrapped, seed=seed) if deduplicate else wrapped
