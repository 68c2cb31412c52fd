"""table.md from coverage.json (python table.py, in this directory)."""
import json
from pathlib import Path

here = Path(__file__).parent
results = json.loads((here / "coverage.json").read_text())
lines = ["| statistic | archs | rankers | truth | coverage of the 95% interval | truth below / above it | "
         "low end > 0 | mean width |", "|---|---|---|---|---|---|---|---|"]
for name, label in (("kendall_tau", "tau"), ("margin_over_size", "tau over size, paired")):
    for key, row in results[name].items():
        archs, rankers = key.split(" ", 1)
        lines.append(f"| {label} | {archs[2:]} | {rankers} | {row['truth']:+.3f} | {row['coverage']:.3f} | "
                     f"{row['truth_below_interval']:.3f} / {row['truth_above_interval']:.3f} | "
                     f"{row['low_above_zero']:.3f} | {row['mean_width']:.3f} |")
(here / "table.md").write_text(f"{results['trials']} trials per row, {results['resamples']} bootstrap resamples, "
                               f"level {results['level']}.\n\n" + "\n".join(lines) + "\n")
