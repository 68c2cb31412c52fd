"""Budgeted picks re-made on a fine-tuned shortlist: at each budget of a ranking table, the `top` archs within the
budget by one variant's scores are fine-tuned `steps` steps each from a supernet's weights
(`nas.finetuned_scores`, cached in the supernet's directory), and the pick is the best of them; its regret is
measured against the ground truth as the table's is. This is what `nas search --finetune-top K` does after a
search, measured on the ground truth's archs.

    .venv/bin/python experiments/results/supernet-ranking-lm/shortlist_finetune.py --supernet DIR \
        --ranking RESULTS.json --variant NAME --top 4 --steps 1000 --out OUT.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.definition import get_definition
from nas.finetuned_scores import finetuned_scores
from nas.rank_metrics import budget_regret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", required=True, help="trained supernet run directory")
    parser.add_argument("--ranking", required=True, help="a supernet_ranking results.json (archs, budgets, scores)")
    parser.add_argument("--variant", required=True, help="the variant whose scores make the shortlists")
    parser.add_argument("--top", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    ranking = json.loads(Path(args.ranking).read_text())
    truth = ranking["ground_truth"]
    variant = next(v for v in ranking["variants"] if v["variant"] == args.variant)
    gt = json.loads((Path(truth["path"]) / "results.json").read_text())
    rows = gt["archs"]
    sign = 1.0 if gt["higher_is_better"] else -1.0
    reference = sign * np.array([r["mean"] for r in rows])
    shortlist_scores = sign * np.array(variant["inherited"])
    cost = np.array([r["macs"] for r in rows], float)
    space = get_definition(truth["space"]).make_space(**truth["space_options"])
    budgets = [entry["budget"] for entry in variant["regret"]]
    shortlists = []
    for budget in budgets:
        feasible = np.flatnonzero(cost <= budget)
        shortlists.append([int(i) for i in feasible[np.argsort(-shortlist_scores[feasible], kind="stable")][:args.top]])
    union = sorted({i for shortlist in shortlists for i in shortlist})
    vectors = np.stack([space.from_string(rows[i]["arch"]).to_vector() for i in union])
    metric = "bits_per_char" if gt["score"].endswith("bits_per_char") else "accuracy"
    tuned = finetuned_scores(Path(args.supernet), vectors, steps=args.steps, split="test", metric=metric, progress=True)
    tuned_by_index = dict(zip(union, sign * tuned["scores"]))
    budgets_out = []
    for budget, shortlist, before in zip(budgets, shortlists, variant["regret"]):
        predicted = np.full(len(rows), -np.inf)
        predicted[shortlist] = [tuned_by_index[i] for i in shortlist]
        after = budget_regret(predicted, reference, cost, budget)
        budgets_out.append({"budget": budget, "shortlist": shortlist,
                            "finetuned": [float(sign * tuned_by_index[i]) for i in shortlist],
                            "pick": after["index"], "regret": after["regret"],
                            "pick_before": before["index"], "regret_before": before["regret"]})
    write_json_atomically(Path(args.out), {
        "supernet": args.supernet, "ranking": args.ranking, "variant": args.variant, "top": args.top,
        "steps": args.steps, "learning_rate": tuned["learning_rate"], "finetune_seconds": tuned["seconds"],
        "archs_finetuned": len(union), "subnet_passes": len(union) * args.steps, "budgets": budgets_out}, indent=1)
    print(json.dumps({"regret_before": [b["regret_before"] for b in budgets_out],
                      "regret_after": [b["regret"] for b in budgets_out], "archs_finetuned": len(union)}))


if __name__ == "__main__":
    main()
