"""The MLP horizon pilot against the 2000-step ground truth: archs 0-7 (the cheapest budget's), seeds 0-1."""
import json
import os
from pathlib import Path
import numpy as np
from scipy.stats import kendalltau
gt = json.loads(Path("experiments/results/ground-truth-mlp/results.json").read_text())
rows = gt["archs"]
RUN = Path(os.environ.get("RUN", "/root/weft-runs/horizon-mlp/mlp-8000"))
out = {"steps": 8000, "ground_truth_steps": 2000, "archs": []}
for i in range(8):
    long = {}
    for s in (0, 1):
        f = RUN / f"arch-{i:02d}-seed{s}" / "summary.json"
        if f.exists():
            long[str(s)] = json.loads(f.read_text())["arch"]["test_accuracy"]
    out["archs"].append({"index": i, "arch": rows[i]["arch"], "macs": rows[i]["macs"], "test_2000": rows[i]["test"],
                         "mean_2000": rows[i]["mean"], "test_8000": long,
                         "mean_8000": float(np.mean(list(long.values()))) if long else None})
done = [a for a in out["archs"] if len(a["test_8000"]) == 2]
for a in out["archs"]:
    print(a["index"], a["arch"], a["mean_2000"], a["test_8000"], a["mean_8000"])
if len(done) >= 3:
    out["kendall_tau_2000_vs_8000"] = float(kendalltau([a["mean_2000"] for a in done], [a["mean_8000"] for a in done])[0])
    out["kendall_tau_seeds_8000"] = float(kendalltau([a["test_8000"]["0"] for a in done], [a["test_8000"]["1"] for a in done])[0])
    print("tau 2000 vs 8000", out["kendall_tau_2000_vs_8000"], "seeds at 8000", out["kendall_tau_seeds_8000"])
    best = max(done, key=lambda a: a["mean_8000"])
    print("best at 8000:", best["index"], best["mean_8000"])
    # Every saved MLP variant's pick at the cheapest budget (MACs quantile 0.25: archs 0-7), scored at 8000 steps.
    variants = json.loads(Path("experiments/results/supernet-ranking-mlp/results.json").read_text())["variants"]
    out["cheapest_budget_picks"] = []
    for variant in variants:
        pick = variant["regret"][0]["index"]
        entry = {"variant": variant["variant"], "pick": pick, "regret_2000": variant["regret"][0]["regret"],
                 "regret_8000": best["mean_8000"] - out["archs"][pick]["mean_8000"]}
        out["cheapest_budget_picks"].append(entry)
        print(f"{entry['variant']:40s} pick {pick}: regret {entry['regret_2000']:.4f} at 2000 steps, "
              f"{entry['regret_8000']:.4f} at 8000")
Path("experiments/results/ground-truth-mlp-8000/horizon-pilot.json").write_text(json.dumps(out, indent=1))
