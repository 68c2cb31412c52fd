"""Scores the second-newest kept checkpoint (75% of the steps) of every finished stand-alone run of a
ground-truth job beside its final score, to see whether the last quarter of one run predicts what a longer
horizon changes. Resumable (finished runs are skipped); ~6 s per LM run.

    .venv/bin/python experiments/results/ground-truth-lm-4000/probe_last_quarter.py \\
        /root/weft-runs/gt-lm experiments/results/ground-truth-lm-4000/last-quarter-1000.json 2,3
    .venv/bin/python experiments/results/ground-truth-lm-4000/probe_last_quarter.py \\
        /root/weft-runs/horizon/lm-4000 experiments/results/ground-truth-lm-4000/last-quarter-4000.json 0,1

(Only seeds 2 and 3 of the 1000-step ground truth kept their checkpoints.)
"""
import json
import sys
import time
from pathlib import Path

from nas.evaluate import evaluate_endpoints
from nas.run_dir import RunDir
from nas.train.loop import enable_compilation_cache, restore_trained

enable_compilation_cache()
job, out, seeds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
done = json.loads(out.read_text()) if out.exists() else {}
for item in sorted(job.glob("arch-*")):
    if not any(item.name.endswith("seed" + s) for s in seeds) or item.name in done:
        continue
    if not (item / "summary.json").exists() or not (item / "checkpoints").is_dir():
        continue
    steps = sorted(int(p.name) for p in (item / "checkpoints").iterdir() if p.name.isdigit())
    if len(steps) < 2:
        continue
    started = time.time()
    session, state = restore_trained(RunDir.open(item), steps[-2])
    early = evaluate_endpoints(session, state.params, state.stats, progress=False)["arch"]
    final = json.loads((item / "summary.json").read_text())["arch"]
    done[item.name] = {"step": steps[-2], "final_step": steps[-1],
                       "early": {k: v for k, v in early.items() if k != "arch"},
                       "final": {k: v for k, v in final.items() if k != "arch"}}
    out.write_text(json.dumps(done, indent=1))
    print(item.name, steps[-2], round(early["test_bits_per_char"], 4), round(final["test_bits_per_char"], 4),
          f"{time.time() - started:.1f}s", flush=True)
