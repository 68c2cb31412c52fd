"""Is the 0.75 budget's best arch a supernet blind spot, or a surprise to anything that ranks by the decisions?

Every ranker of `gt4000-table.md` misses arch 20 under the 0.75 MACs budget. This fits a ridge regression of the
4000-step stand-alone score on the archs' decision features and log size (`nas.decision_predictor`: on the
LM depth, embed_dim, mean heads, mean FFN width, log params, log MACs), with or without a supernet's inherited
score as one more feature, and scores each arch with a model that never saw it:
- leave-one-out (31 archs known: nearly the whole ground truth), and
- two folds of 16 (one arch of each MACs-sorted pair per fold, 40 random pairings: about what `nas audit
  --archs 16` trains), each arch predicted by the model fit on the other fold.
It reports each predictor's Kendall tau against the seed means and its regret at the three MACs budgets (over
every ranker variant, as the median tau, mean regret and share of regrets within `--target`; and the best
variant's own tau and regrets), and each arch's
leave-one-out residual under the features-only model (the score minus its prediction).
Trains nothing.

    .venv/bin/python experiments/results/supernet-ranking-lm/outlier_probe.py \
        --ranking experiments/results/supernet-ranking-lm/gt4000-results.json \
        --truth experiments/results/ground-truth-lm-4000/results.json \
        --out experiments/results/supernet-ranking-lm/outlier-probe.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.decision_predictor import RIDGE, cross_fitted, design_matrix
from nas.rank_metrics import budget_pick, kendall_tau

QUANTILES = (0.25, 0.5, 0.75)
REPEATS = 40


def parse_arch(text: str) -> dict:
    return {key: (int(value) if value.lstrip("-").isdigit() else value)
            for key, value in (item.split("=") for item in text.split(";"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranking", required=True, help="a supernet_ranking results.json (the variants' scores)")
    parser.add_argument("--truth", required=True, help="the ground truth results.json it was ranked against")
    parser.add_argument("--target", type=float, default=0.02,
                        help="the regret counted as a hit, in the score's unit (the issue's: 0.02 bits per char on the "
                             "LM, 0.003 accuracy on vision)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    ranking = json.loads(Path(args.ranking).read_text())
    truth_file = json.loads(Path(args.truth).read_text())
    rows = truth_file["archs"]
    # Predictions are in the score's own orientation; `better` turns them into higher-is-better for the metrics.
    better = 1.0 if truth_file["higher_is_better"] else -1.0
    truth = np.array([row["mean"] for row in rows], float)
    macs = np.array([row["macs"] for row in rows], float)
    params = np.array([row["params"] for row in rows], float)
    design, columns = design_matrix([parse_arch(row["arch"]) for row in rows], params=params, macs=macs)
    budgets = [float(np.quantile(macs, q)) for q in QUANTILES]

    def regrets(prediction: np.ndarray) -> list[float]:
        """The pick's stand-alone shortfall from the best arch within each budget, in the score's unit."""
        return [float(max(better * truth[macs <= budget]) - better * truth[budget_pick(better * prediction, macs, budget)])
                for budget in budgets]

    loo = [np.array([i]) for i in range(len(rows))]
    rng = np.random.default_rng(0)
    pairs = np.argsort(macs, kind="stable").reshape(-1, 2)
    two_folds = []
    for _ in range(REPEATS):
        flips = rng.integers(0, 2, len(pairs))
        first = pairs[np.arange(len(pairs)), flips]
        two_folds.append([first, np.setdiff1d(np.arange(len(rows)), first)])

    variants = {v["variant"]: np.asarray(v["inherited"], float) for v in ranking["variants"]}
    # The inherited score is a loss (lower is better) in the same orientation as the truth's bits per char.
    models = {
        "supernet alone": lambda s: None,
        "features only": lambda s: design,
        "supernet + features": lambda s: np.column_stack([s, design]),
        "supernet + log MACs": lambda s: np.column_stack([s, np.log(macs)]),
    }
    report = {"ranking": args.ranking, "truth": args.truth, "features": columns,
              "ridge": RIDGE, "target": args.target, "budgets_macs": budgets, "schemes": {}}
    for scheme, fold_sets in (("leave-one-out (31 known)", [loo]), ("two folds of 16, 40 pairings", two_folds)):
        table = {}
        for model, make in models.items():
            taus, regret_rows = [], []
            for scores in variants.values():
                design_or_none = make(scores)
                for folds in (fold_sets if design_or_none is not None else [None]):
                    prediction = scores if folds is None else cross_fitted(design_or_none, truth, folds)
                    taus.append(kendall_tau(better * prediction, better * truth))
                    regret_rows.append(regrets(prediction))
            regret_rows = np.array(regret_rows)
            table[model] = {"median_tau": round(float(np.median(taus)), 3),
                            "mean_regret": [round(float(x), 4) for x in regret_rows.mean(0)],
                            "share_within_target": [round(float(x), 2) for x in (regret_rows <= args.target).mean(0)],
                            "predictions": len(taus)}
        report["schemes"][scheme] = table
    best_name = max(variants, key=lambda name: kendall_tau(better * variants[name], better * truth))
    report["best_supernet_variant"] = {"variant": best_name, "tau": round(float(kendall_tau(
        better * variants[best_name], better * truth)), 3), "regret": [round(x, 4) for x in regrets(variants[best_name])]}
    residual = truth - cross_fitted(design, truth, loo)
    report["features_only_loo_residual_sd"] = round(float(residual.std()), 4)
    report["most_surprising_archs"] = [
        {"index": int(i), "arch": rows[i]["arch"], "macs": int(macs[i]), "truth": round(float(truth[i]), 4),
         "predicted": round(float(truth[i] - residual[i]), 4), "residual": round(float(residual[i]), 4)}
        for i in np.argsort(-better * residual)[:5]]
    write_json_atomically(Path(args.out), report, indent=1)
    for scheme, table in report["schemes"].items():
        print(scheme)
        for model, row in table.items():
            print(f"  {model:22s} tau {row['median_tau']:.3f}  mean regret {row['mean_regret']}  "
                  f"<={args.target} {row['share_within_target']}")
    best = report["best_supernet_variant"]
    print(f"best supernet variant: {best['variant']} tau {best['tau']:.3f} regret {best['regret']}")
    print("features-only LOO residual sd", report["features_only_loo_residual_sd"])
    for row in report["most_surprising_archs"]:
        print(f"  arch {row['index']}: {row['truth']:.3f} vs predicted {row['predicted']:.3f} ({row['residual']:+.3f})")


if __name__ == "__main__":
    main()
