"""Archs spread over the whole cost range, for rankings that test every budget.

Uniform samples of a space pile up at middling cost (a sum of many per-layer choices), so a ranking
measured on them says little about the cheap and expensive ends where budgeted searches decide.
`stratified_archs` cuts the log-cost range between the smallest and the largest arch into equal-width
strata and draws the same number of distinct archs in each (from a large uniform pool), the smallest
and the largest always included.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nas.errors import ConfigError
from nas.space import Arch, Space


def stratified_archs(space: Space, cost: Callable[[np.ndarray], np.ndarray], count: int, *, strata: int = 8,
                     seed: int = 0, pool: int = 4096) -> list[Arch]:
    """`count` distinct archs, about count/strata per equal-width stratum of log cost, sorted by cost.

    `cost` maps int32 arch vectors [n, D] to one positive cost each (multiply-adds, parameters).
    A stratum that the pool leaves short (a gap in the cost range) passes its share on to the
    strata nearest it, so the count is always met while the space holds enough distinct archs.
    """
    if count < 2:
        raise ConfigError(f"stratified_archs: count must be >= 2 (the smallest and the largest), got {count}")
    if strata < 1:
        raise ConfigError(f"stratified_archs: strata must be >= 1, got {strata}")
    rng = np.random.default_rng(seed)
    ends = [space.smallest(), space.largest()]
    candidates = {a.to_string(): a for a in (space.sample(rng) for _ in range(pool))}
    for arch in ends:
        candidates.pop(arch.to_string(), None)
    candidates = list(candidates.values())
    if len(candidates) + 2 < count:
        raise ConfigError(f"{count} archs asked for, but the space gave only {len(candidates) + 2} distinct archs in a "
                         f"pool of {pool} draws; allowed: at most {len(candidates) + 2} archs")
    log_cost = np.log(np.maximum(np.asarray(cost(np.stack([a.to_vector() for a in candidates + ends])), float),
                             1e-12))
    low, high = log_cost[-2], log_cost[-1]
    edges = np.linspace(low, high, strata + 1)
    stratum = np.clip(np.searchsorted(edges, log_cost[:-2], side="right") - 1, 0, strata - 1)
    members = [list(rng.permutation(np.flatnonzero(stratum == s))) for s in range(strata)]
    # The smallest and largest fill one place of the first and last stratum.
    quota = np.full(strata, (count - 2) // strata)
    quota[:(count - 2) % strata] += 1
    chosen = []
    for s in _nearest_first(strata):
        take = min(quota[s], len(members[s]))
        chosen.extend(members[s][:take])
        members[s] = members[s][take:]
        shortfall = quota[s] - take
        for other in sorted(range(strata), key=lambda o: (abs(o - s), o)):
            if shortfall == 0:
                break
            extra = min(shortfall, len(members[other]))
            chosen.extend(members[other][:extra])
            members[other] = members[other][extra:]
            shortfall -= extra
    picked = [candidates[i] for i in chosen] + ends
    costs = np.concatenate([log_cost[chosen], log_cost[-2:]])
    return [picked[i] for i in np.argsort(costs, kind="stable")]


def _nearest_first(strata: int) -> list[int]:
    """Strata in the order their shares are filled: ends first, so a short middle borrows from both sides."""
    return sorted(range(strata), key=lambda s: min(s, strata - 1 - s))
