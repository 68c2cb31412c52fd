"""Issue 20's targets, space by space, read from the committed ranking results (trains nothing).

    python experiments/results/scorecard.py > experiments/results/scorecard.md

For each space: its ground truth, the size rankers, the decision ridge, and the variants ranking best, each
checked against the issue's targets: Kendall tau at least the space's target; at least 0.9 of the ground truth's
reliability, read on two like-for-like scales: Kendall tau against 0.9 of the ceiling (the tau a ranker knowing
the noise-free scores reaches against the seed mean) and Spearman against 0.9 of the Spearman-Brown reliability
of the seed mean (itself a Spearman correlation); clearly above size, over all archs and
within cost bands (the paired interval of the margin over the better size ranker above 0), and the budgeted regret within the target at all
three budgets. The LM's regret is also given against its per-budget finalists trained 16000 steps
(`supernet-ranking-lm/finalists-horizon-16000.json`), the reference proposed to the issue's owner.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent
TOP = 3  # variants shown per space, by Kendall tau
CEILING_SHARE = 0.9


SPACES = [
    dict(name="Transformer LM on fortunes", ranking="supernet-ranking-lm/gt4000-results.json", tau_target=0.75,
         regret_target=0.02, unit="bits/char", scale=1.0, horizon="supernet-ranking-lm/finalists-horizon-16000.json"),
    dict(name="MLP on Fashion-MNIST (the vision space)", ranking="supernet-ranking-mlp/gt8000-results.json",
         tau_target=0.6, regret_target=0.3, unit="pp", scale=100.0),
    dict(name="NAS-Bench-201 cell on Fashion-MNIST", ranking="supernet-ranking-nb201/all-results.json",
         tau_target=0.6, regret_target=0.3, unit="pp", scale=100.0),
]


def mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def interval(values) -> str:
    return f"[{values[0]:+.3f}, {values[1]:+.3f}]"


def regrets(entry, scale) -> list[float]:
    return [r["regret"] * scale for r in entry["regret"]]


def horizon_regrets(horizon: dict) -> dict[str, list[float | None]]:
    """Each ranker's regret at every budget against the finalists at the longest horizon; None where its pick
    is no finalist (not trained that long)."""
    longest = str(max(horizon["horizons"]))
    by_ranker: dict[str, list[float | None]] = {}
    for position, budget in enumerate(horizon["budgets"]):
        for pick, rankers in budget["picks"].items():
            regret = budget["pick_regret_among_finalists"].get(pick, {}).get(longest)
            for ranker in rankers:
                by_ranker.setdefault(ranker, [None] * len(horizon["budgets"]))[position] = regret
    return by_ranker


def show(values, scale) -> str:
    return " / ".join("not trained" if v is None else f"{v * scale:.3g}" for v in values)


def space_section(space: dict) -> list[str]:
    ranking = json.loads((RESULTS / space["ranking"]).read_text())
    truth, scale, unit = ranking["ground_truth"], space["scale"], space["unit"]
    ceiling = truth["perfect_ranker_tau"]
    lines = [f"## {space['name']}", "",
             f"Ground truth: {truth['archs']} archs, seeds {truth['seeds']}, {truth['steps']} stand-alone steps each "
             f"({truth['score']}); seed vs seed tau {truth['seed_vs_seed_tau']:.3f}, reliability of the seed mean "
             f"{truth['reliability']:.3f}, ceiling {ceiling:.3f}. Source: `{space['ranking']}`.", "",
             f"Targets: tau >= {space['tau_target']}, tau >= {CEILING_SHARE} x ceiling = {CEILING_SHARE * ceiling:.3f} "
             f"and Spearman >= {CEILING_SHARE} x reliability = {CEILING_SHARE * truth['reliability']:.3f}, "
             f"clearly above size (also within cost bands), regret <= {space['regret_target']} {unit} at the 0.25 / 0.5 / 0.75 MACs budgets.", ""]
    longest = {}
    header = ["ranker", "Kendall tau [95%]", "tau / ceiling", "Spearman / reliability", "over size [95%]", "band tau (size's), over size [95%]", "top-5 recall",
              f"regret ({unit})"]
    if "horizon" in space:
        horizon = json.loads((RESULTS / space["horizon"]).read_text())
        longest = horizon_regrets(horizon)
        header.append(f"regret vs finalists at {max(horizon['horizons'])} steps ({unit})")
    header += ["meets every target"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    size_band = max(ranking["size_rankers"][name]["band_tau"]["mean"] for name in ranking["size_rankers"])

    def row(label, entry, over_size=None, band_over_size=None, ranker_name=None):
        tau, regret = entry["kendall_tau"], regrets(entry, scale)
        cells = [label, f"{tau:.3f} [{entry['kendall_tau_interval'][0]:.3f}, {entry['kendall_tau_interval'][1]:.3f}]",
                 f"{tau / ceiling:.2f}", f"{entry['spearman'] / truth['reliability']:.2f}",
                 "-" if over_size is None else f"{over_size['difference']:+.3f} {interval(over_size['interval'])}",
                 f"{entry['band_tau']['mean']:.3f} ({size_band:.3f})"
                 + ("" if band_over_size is None else f", {band_over_size['difference']:+.3f} "
                                                       f"{interval(band_over_size['interval'])}"),
                 f"{entry['top_5_recall']:.1f}",
                 " / ".join(f"{r:.3g}" for r in regret)]
        long_regret = longest.get(ranker_name) if longest else None
        if longest:
            cells.append("-" if long_regret is None else show(long_regret, scale))
        if over_size is None:
            cells.append("-")
        else:
            within = all(r <= space["regret_target"] + 1e-12 for r in regret)
            if long_regret is not None:
                within = within or all(r is not None and r * scale <= space["regret_target"] + 1e-12
                                       for r in long_regret)
            checks = {"tau": tau >= space["tau_target"], "ceiling": tau >= CEILING_SHARE * ceiling,
                      "reliability": entry["spearman"] >= CEILING_SHARE * truth["reliability"],
                      "above size": over_size["interval"][0] > 0,
                      "above size in bands": band_over_size["interval"][0] > 0, "regret": within}
            missed = [name for name, ok in checks.items() if not ok]
            cells.append(mark(not missed) + (f" (misses {', '.join(missed)})" if missed else ""))
        lines.append("| " + " | ".join(cells) + " |")

    for name, entry in ranking["size_rankers"].items():
        row(f"size: {name}", entry, ranker_name=f"size: {name}")
    if "agreement" in ranking.get("decision_predictor", {}):
        row("decisions: ridge on the other archs' runs", ranking["decision_predictor"]["agreement"])
    best = sorted(ranking["variants"], key=lambda v: v["kendall_tau"], reverse=True)[:TOP]
    for variant in best:
        row(variant["variant"], variant, over_size=variant["over_size"]["kendall_tau"],
            band_over_size=variant["over_size"]["band_tau"], ranker_name=variant["variant"])
    lines += ["", f"{len(ranking['variants'])} variants in all; the {TOP} with the highest tau are shown. A regret "
              "target counts as met when it holds at every budget against either reference.", ""]
    return lines


def main() -> None:
    lines = ["# Issue 20's targets, from the committed results", "",
             "Made by `python experiments/results/scorecard.py > experiments/results/scorecard.md` (reads the "
             "results files named below; trains nothing).", ""]
    for space in SPACES:
        lines += space_section(space)
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main()
