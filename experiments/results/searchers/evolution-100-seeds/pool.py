"""Evolution after - before at 300 queries over seeds 0..99: the first 20 seeds (../evolution-repeats and
../before) and seeds 20..99 (this directory), paired by seed; Wilcoxon signed-rank."""
import json
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

HERE = Path(__file__).parent


def qualities(*paths):
    out = {}
    for path in paths:
        for run in json.loads(Path(path).read_text())["runs"]:
            out[run["objective"], run["searcher"], run["seed"]] = run["quality"]["300"]
    return out


after = qualities(HERE.parent / "evolution-repeats/results.json", HERE / "results.json")
before = qualities(HERE.parent / "before/results.json", HERE / "before/results.json")
print("| objective | paired seeds | after - before at 300 (mean ± s.e.) | wins / losses | Wilcoxon p |")
print("|---|---|---|---|---|")
for objective in ("nk-mobilenetv3", "nk-nb201", "zdt1-mobilenetv3"):
    seeds = sorted(s for (o, name, s) in after if o == objective and name == "evolution" and
                   (o, name, s) in before)
    diff = np.array([after[objective, "evolution", s] - before[objective, "evolution", s] for s in seeds])
    print(f"| {objective} | {len(seeds)} | {diff.mean():+.4g} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.2g} | "
          f"{(diff > 0).sum()} / {(diff < 0).sum()} | {wilcoxon(diff).pvalue:.2g} |")
