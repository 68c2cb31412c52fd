"""Tournament selection: the best of `sample_size` members drawn without replacement."""
from __future__ import annotations

import numpy as np


def tournament(ranks, sample_size: int, rng: np.random.Generator) -> int:
    """Index of the winner: the lowest rank among a random sample, ties broken at random."""
    ranks = np.asarray(ranks, float)
    sample = rng.choice(len(ranks), size=min(sample_size, len(ranks)), replace=False)
    best = sample[ranks[sample] == ranks[sample].min()]
    return int(rng.choice(best))
