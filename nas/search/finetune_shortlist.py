"""A search's shortlist re-ranked by fine-tuned scores: the decision `nas search` ends in, made on more than
the shared weights.

The supernet's inherited scores rank archs by how well one set of weights serves each of them; the archs a
search ends up choosing between are few, so each can afford a short stand-alone fine-tune from those weights
before the pick (`nas.finetuned_scores`). The shortlist is the `top` feasible trials by the first objective;
each is fine-tuned `steps` steps and scored on the examples the search scored (its split, cut by `--limit`),
and the pick is the best of them by the same objective.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nas.errors import ConfigError
from nas.search.objectives import minimised

FINETUNED_METRICS = ("accuracy", "bits_per_char")


def check_shortlist(top: int, steps: int, *, objective: str, family: str) -> None:
    """Refuse, before any search runs, a shortlist that cannot be fine-tuned (one clear line each)."""
    if top < 1 or steps < 1:
        raise ConfigError(f"--finetune-top and --finetune-steps must be >= 1, got {top} and {steps}")
    if objective not in FINETUNED_METRICS:
        raise ConfigError(f"--finetune-top re-ranks by the first objective, which must be a scored metric "
                          f"({', '.join(FINETUNED_METRICS)}); it is {objective!r}")
    if family != "single":
        raise ConfigError(f"--finetune-top fine-tunes a plain supernet's weights; this run scores with its {family} "
                          "network: use --supernet single, or leave --finetune-top out")


def finetune_shortlist(run_path: str | Path, result, space, *, top: int, steps: int, split: str,
                       learning_rate: float | None = None, limit: int | None = None,
                       progress: bool = False) -> dict | None:
    """The `top` feasible trials of `result` (`nas.search.loop.SearchResult`) by its first objective, each
    with its inherited and fine-tuned score, and the pick by the fine-tuned one; None when nothing is
    feasible."""
    from nas.finetuned_scores import finetuned_scores

    objective = result.objectives[0]
    feasible = result.feasible
    if not feasible:
        return None
    order = np.argsort(minimised(result.objectives[:1], [r.metrics for r in feasible])[:, 0], kind="stable")
    shortlist = [feasible[i] for i in order[:top]]
    vectors = np.stack([space.from_string(r.arch).to_vector() for r in shortlist])
    tuned = finetuned_scores(Path(run_path), vectors, steps=steps, learning_rate=learning_rate, split=split,
                             metric=objective.metric, limit=limit, progress=progress)
    scores = [float(s) for s in tuned["scores"]]
    sign = -1.0 if objective.direction == "max" else 1.0
    pick = int(np.argmin([sign * s for s in scores]))
    return {"metric": objective.metric, "direction": objective.direction, "split": split, "limit": limit,
            "steps": steps, "learning_rate": tuned["learning_rate"], "seconds": tuned["seconds"],
            "shortlist": [{"arch": r.arch, "inherited": float(r.metrics[objective.metric]), "finetuned": s,
                           **{k: v for k, v in r.metrics.items() if k != objective.metric}}
                          for r, s in zip(shortlist, scores)],
            "best": {"arch": shortlist[pick].arch, f"finetuned_{objective.metric}": scores[pick],
                     **shortlist[pick].metrics},
            "changed_pick": pick != 0}
