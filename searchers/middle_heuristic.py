"""The heuristic sub-adapter of Shears: every decision at its middle value, no search at all.

Shears lists each group's ranks largest first ([32, 24, 16]) and takes index (n - 1) // 2: the middle
of an odd list, the larger of the two middles of an even one (24 of [32, 24, 16, 8]). Here values are
ordered by size where they are numbers, else in the order the space declares them. `value_order`
is that order (indices into a decision's values, smallest first); hill climbing steps along it.
"""
from __future__ import annotations

import numpy as np

from nas.space import Arch, Space


def value_order(decision) -> list[int]:
    """Indices of `decision`'s values, smallest value first (declared order for non-numbers)."""
    values = list(decision.values)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return sorted(range(len(values)), key=values.__getitem__) if numeric else list(range(len(values)))


def middle_index(count: int) -> int:
    """Position in smallest-first order of Shears' heuristic value: (n - 1) // 2 counted from the largest."""
    return count - 1 - (count - 1) // 2


def middle_arch(space: Space) -> Arch:
    """Every free decision at its middle value (inactive ones as the canonical vector holds them)."""
    vector = [value_order(d)[middle_index(len(d.values))] for d in space.free]
    return space.from_vector(np.asarray(vector, np.int32))
