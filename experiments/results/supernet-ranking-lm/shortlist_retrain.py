"""Budgeted picks re-made on a shortlist trained from scratch for a shorter horizon: at each budget of a ranking
table, the `top` archs within the budget by a ranker's scores are judged by one seed of a shorter stand-alone
ground truth (each arch trained alone, from scratch, for fewer steps), and the pick is the best of them; its regret
is measured against the table's own (longer) ground truth. Trains nothing: both ground truths are committed
results, on the same archs. It asks whether the usual last step of a search, a short retrain of the finalists,
undoes what a supernet gets wrong, as a fine-tune from the shared weights (`shortlist_finetune.py`) did not.

    .venv/bin/python experiments/results/supernet-ranking-lm/shortlist_retrain.py \
        --ranking experiments/results/supernet-ranking-lm/gt4000-results.json \
        --long experiments/results/ground-truth-lm-4000/results.json \
        --short experiments/results/ground-truth-lm/results.json --out OUT.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.rank_metrics import budget_regret

QUANTILES = (0.25, 0.5, 0.75)


def retrained_regret(scores, short_seed, reference, cost, top: int) -> list[float]:
    """Regret at each budget quantile of the pick among the `top` archs within the budget by `scores`, the pick
    made by `short_seed` (all oriented: higher is better)."""
    scores, short_seed, cost = (np.asarray(a, float) for a in (scores, short_seed, cost))
    regrets = []
    for quantile in QUANTILES:
        budget = float(np.quantile(cost, quantile))
        feasible = np.flatnonzero(cost <= budget)
        shortlist = feasible[np.argsort(-scores[feasible], kind="stable")[:top]]
        chooser = np.full(scores.shape, -np.inf)
        chooser[shortlist] = short_seed[shortlist]
        regrets.append(budget_regret(chooser, reference, cost, budget)["regret"])
    return regrets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranking", required=True, help="a supernet_ranking results.json (variants' scores)")
    parser.add_argument("--long", required=True, help="the ranking's ground truth results.json (the reference)")
    parser.add_argument("--short", required=True, help="a shorter ground truth's results.json on the same archs")
    parser.add_argument("--tops", default="1,3,5,8")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    ranking, long, short = (json.loads(Path(p).read_text()) for p in (args.ranking, args.long, args.short))
    sign = 1.0 if long["higher_is_better"] else -1.0
    rows = long["archs"]
    by_arch = {row["arch"]: row for row in short["archs"]}
    missing = [row["arch"] for row in rows if row["arch"] not in by_arch]
    if missing:
        raise SystemExit(f"{args.short} lacks {len(missing)} of the ranking's archs, e.g. {missing[0]}")
    seeds = sorted(by_arch[rows[0]["arch"]]["test"], key=int)
    short_seeds = {s: sign * np.array([by_arch[row["arch"]]["test"][s] for row in rows]) for s in seeds}
    reference = sign * np.array([row["mean"] for row in rows])
    cost = np.array([row["macs"] for row in rows], float)
    rankers = {v["variant"]: np.asarray(v["inherited"], float) * sign for v in ranking["variants"]}
    rankers.update({f"size: {name}": np.array([row[name] for row in rows], float) for name in ("params", "macs")})
    tops = [int(t) for t in args.tops.split(",")]
    report = {"ranking": args.ranking, "long": args.long, "short": args.short, "short_steps": short["config"]["steps"],
              "long_steps": long["config"]["steps"], "quantiles": QUANTILES, "short_seeds": seeds, "rankers": {}}
    for name, scores in rankers.items():
        report["rankers"][name] = {}
        for top in tops:
            per_seed = {s: retrained_regret(scores, short_seeds[s], reference, cost, top) for s in seeds}
            report["rankers"][name][str(top)] = {
                "regret_per_seed": per_seed,
                "mean_regret": np.mean(list(per_seed.values()), axis=0).round(4).tolist(),
                "seeds_within_0.02_at_every_budget": sum(all(r <= 0.02 for r in v) for v in per_seed.values())}
    write_json_atomically(Path(args.out), report, indent=1)
    for name, by_top in report["rankers"].items():
        print(f"{name[:40]:40s}", " | ".join(f"top {t}: {'/'.join(f'{r:.3f}' for r in v['mean_regret'])} "
                                              f"({v['seeds_within_0.02_at_every_budget']}/{len(seeds)})"
                                              for t, v in by_top.items()))


if __name__ == "__main__":
    main()
