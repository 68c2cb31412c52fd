#!/usr/bin/env bash
# The commands behind this folder (issue 26: Single-Path NAS beside TangleNAS, DARTS and GDAS), in the order
# they ran on the shared 2-core CPU machine; README.md says which sub-runs finished. MobileNetV3 at width 0.5,
# Fashion-MNIST, every method searched under the latency budget (budget_only), the experiment's default steps
# (100 search, 200 stand-alone). The experiment resumes and skips finished sub-runs, so processes for parts of
# it (a method, a seed) ran side by side into one run directory.
set -euo pipefail
RUN=${RUN:-/root/weft-runs/dsearch-budget}
P=${P:-/root/weft-runs/latency-mbv3-w05/fit/lut.json}
HERE=$(cd "$(dirname "$0")" && pwd)

# The latency predictor: per-layer lookup table of MobileNetV3 w0.5 at batch 1, one thread, 32 measured archs.
nice -n 10 nas latency collect --space mobilenetv3 --option width_mult=0.5 --threads 1 --n 32 \
    --run /root/weft-runs/latency-mbv3-w05 --quiet
nice -n 10 nas latency fit --run /root/weft-runs/latency-mbv3-w05 --target min

experiment() {  # one part of the experiment: nice'd, in the background
    nice -n 10 nas experiment differentiable_search --run "$RUN" --option 'spaces=["mobilenetv3"]' \
        --option latency_predictor="$P" --option budget_only=true --quiet "$@" &
}
# One process per method (seeds 0, 1, 2 each). Memory ran out at four (~4 GB each): gdas was stopped after its
# seed-0 search and restarted for seed 0 alone; darts was stopped while still compiling (58 minutes); tangle was
# stopped before seed 1 and restarted for seed 1 alone; the rest were stopped when the time was up.
for method in tangle darts gdas single-path; do experiment --option "methods=[\"$method\"]"; done
experiment --option 'methods=["gdas"]' --option 'seeds=[0]'
experiment --option 'methods=["tangle"]' --option 'seeds=[1]'

# Each method's compiled search step (memory as XLA plans it, median time), as the experiment measures it.
PYTHONPATH=. nice -n 10 python - "$RUN" "$P" single-path tangle gdas <<'EOF'
import sys
from pathlib import Path
from experiments import differentiable_search as e
config = e.Config(spaces=("mobilenetv3",), latency_predictor=sys.argv[2], budget_only=True)
budget = e.latency_setup(config)
for method in sys.argv[3:]:
    e.step_cost(config.search_config("mobilenetv3", method, 0, budget_ms=budget["budget_ms"]),
                Path(sys.argv[1]) / "latency" / f"{method}-step.json")
EOF

# The table from what finished (no sub-run started), every derived arch measured beside the smallest and
# largest as the predictor's collection measured.
PYTHONPATH=. python "$HERE/assemble.py" "$RUN" "$P" "$HERE"

# The resumed run that finished it (2026-12-05 afternoon, after 013c5a7): one method at a time, one core.
for method in tangle single-path gdas darts; do
    taskset -c 0 nice -n 10 nas experiment differentiable_search --run "$RUN" --option 'spaces=["mobilenetv3"]' \
        --option latency_predictor="$P" --option budget_only=true --quiet --option "methods=[\"$method\"]"
done
# The table re-measured whole (the cached measurements mixed two code versions).
mv "$RUN/latency/measured.json" "$RUN/latency/measured-mixed-code.json"
PYTHONPATH=. taskset -c 0 python "$HERE/assemble.py" "$RUN" "$P" "$HERE"
