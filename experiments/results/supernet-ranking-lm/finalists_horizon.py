"""Is a budget's pick wrong, or early? The finalists of a budget trained alone at several horizons, and each
ranker's pick judged at every horizon.

A ground truth of `steps` steps ranks how far each arch gets in that time; a supernet trained with weight sharing
may rank archs as they would end after longer training (deep, narrow archs learn slowly). This reads ground truths
of the same plan (same archs) at several horizons, the longest trained only for a shortlist of finalists
(`nas experiment ground_truth --option 'only=[...]'`), and at each budget whose finalists the longest horizon
covers reports the finalists' seed scores at every horizon and, for every ranker whose pick is a finalist, that
pick's regret among the finalists at each horizon (in the score's unit, 0: the pick is the best finalist there).
Trains nothing.

    .venv/bin/python experiments/results/supernet-ranking-lm/finalists_horizon.py \
        --ranking experiments/results/supernet-ranking-lm/gt4000-results.json \
        --truth experiments/results/ground-truth-lm/results.json \
        --truth experiments/results/ground-truth-lm-4000/results.json \
        --truth experiments/results/ground-truth-lm-16000-finalists/results.json --out OUT.json [--plot OUT.png]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.rank_metrics import budget_pick

QUANTILES = (0.25, 0.5, 0.75)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranking", required=True, help="a supernet_ranking results.json (the variants' scores)")
    parser.add_argument("--truth", action="append", required=True,
                        help="a ground truth results.json of the ranking's archs; repeat, shortest horizon first")
    parser.add_argument("--out", required=True)
    parser.add_argument("--plot", help="also draw each budget's finalists against the horizon to this PNG")
    args = parser.parse_args()
    ranking = json.loads(Path(args.ranking).read_text())
    truths = [json.loads(Path(p).read_text()) for p in args.truth]
    archs = [row["arch"] for row in truths[0]["archs"]]
    for path, truth in zip(args.truth, truths):
        if [row["arch"] for row in truth["archs"]] != archs:
            raise SystemExit(f"{path} holds other archs than {args.truth[0]}: the ground truths must share one plan")
    sign = 1.0 if truths[0]["higher_is_better"] else -1.0
    cost = np.array([row["macs"] for row in truths[0]["archs"]], float)
    rankers = {v["variant"]: sign * np.asarray(v["inherited"], float) for v in ranking["variants"]}
    rankers.update({f"size: {name}": np.array([row[name] for row in truths[0]["archs"]], float)
                    for name in ("params", "macs")})
    longest = truths[-1]
    trained = [row["index"] for row in longest["archs"] if len(row["test"]) == len(longest["config"]["seeds"])]
    horizons = [truth["config"]["steps"] for truth in truths]
    report = {"ranking": args.ranking, "truths": args.truth, "horizons": horizons, "budgets": []}
    for quantile in QUANTILES:
        budget = float(np.quantile(cost, quantile))
        feasible = set(np.flatnonzero(cost <= budget).tolist())
        finalists = [i for i in trained if i in feasible]
        if len(finalists) < 2:
            continue
        scores = {str(h): {str(i): {"seeds": truth["archs"][i]["test"], "mean": truth["archs"][i]["mean"]}
                           for i in finalists} for h, truth in zip(horizons, truths)}
        best_overall = {str(h): int(min(feasible, key=lambda i: -sign * truth["archs"][i]["mean"]
                                        if truth["archs"][i]["mean"] is not None else np.inf))
                        for h, truth in zip(horizons[:-1], truths[:-1])}
        picks = {}
        for name, ranker_scores in rankers.items():
            pick = budget_pick(ranker_scores, cost, budget)  # its regret is judged among the finalists below
            picks.setdefault(str(pick), []).append(name)
        regrets = {}
        for pick in (int(p) for p in picks):
            if pick not in finalists:
                continue
            regrets[str(pick)] = {str(h): float(max(sign * truth["archs"][i]["mean"] for i in finalists)
                                                - sign * truth["archs"][pick]["mean"])
                                  for h, truth in zip(horizons, truths)}
        report["budgets"].append({"quantile": quantile, "budget_macs": budget, "finalists": finalists,
                                  "best_in_budget_at_shorter_horizons": best_overall, "scores": scores,
                                  "picks": picks, "pick_regret_among_finalists": regrets})
    write_json_atomically(Path(args.out), report, indent=1)
    if args.plot:
        plot(report, Path(args.plot), truths[0]["score"] + (" (higher is better)" if truths[0]["higher_is_better"]
                                                            else " (lower is better)"))
    for entry in report["budgets"]:
        print(f"budget q{entry['quantile']} ({entry['budget_macs']:,.0f} MACs), finalists {entry['finalists']}")
        for h in map(str, horizons):
            print(f"  {h:>6} steps: " + ", ".join(
                f"arch {i} {v['mean']:.3f} (" + "/".join(f"{s:.3f}" for s in v["seeds"].values()) + ")"
                for i, v in entry["scores"][h].items()))
        for pick, names in entry["picks"].items():
            regret = entry["pick_regret_among_finalists"].get(pick)
            where = ("regret among finalists " + " / ".join(f"{r:+.3f}" for r in regret.values())
                     if regret else "not a finalist")
            print(f"  pick arch {pick}: {len(names)} rankers ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
                  f"; {where}")


def plot(report: dict, path: Path, score: str) -> None:
    """One panel per budget: each finalist's seed mean (and its seeds) against the horizon, the picks labelled
    with how many rankers chose them; lines that cross are decisions the horizon changes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = report["budgets"]
    figure, axes = plt.subplots(1, len(budgets), figsize=(5 * len(budgets), 4), squeeze=False)
    for axis, entry in zip(axes[0], budgets):
        horizons = [int(h) for h in entry["scores"]]
        for arch in map(str, entry["finalists"]):
            means = [entry["scores"][str(h)][arch]["mean"] for h in horizons]
            rankers = len(entry["picks"].get(arch, []))
            label = f"arch {arch}" + (f" (pick of {rankers})" if rankers else "")
            line, = axis.plot(horizons, means, marker="o", label=label, linestyle="-" if rankers else "--")
            for h in horizons:
                seeds = list(entry["scores"][str(h)][arch]["seeds"].values())
                axis.scatter([h] * len(seeds), seeds, s=8, color=line.get_color(), alpha=0.5)
        axis.set_xscale("log")
        axis.set_xticks(horizons, [str(h) for h in horizons])
        axis.set_xlabel("stand-alone training steps")
        axis.set_ylabel(score)
        axis.set_title(f"budget q{entry['quantile']} ({entry['budget_macs'] / 1e6:.1f}M MACs)")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
