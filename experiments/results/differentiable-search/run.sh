#!/usr/bin/env bash
# The run recorded in this folder (issue 26: Single-Path NAS beside TangleNAS, DARTS and GDAS), on the shared
# 2-core CPU machine. MobileNetV3 at width 0.5, Fashion-MNIST, every method searched under the latency budget
# (budget_only), seeds 0, 1, 2; the experiment's default steps (100 search, 200 stand-alone) unless noted in
# README.md. The four methods ran side by side (one process each, the experiment resumes and skips what is
# done), then one run assembled the results and measured every derived arch in one child process.
set -euo pipefail
RUN=${RUN:-/root/weft-runs/dsearch-budget}
P=${P:-/root/weft-runs/latency-mbv3-w05/fit/lut.json}

# The latency predictor: a per-layer lookup table of MobileNetV3 w0.5 at batch 1, one thread.
nas latency collect --space mobilenetv3 --option width_mult=0.5 --threads 1 --n 32 \
    --run /root/weft-runs/latency-mbv3-w05 --quiet
nas latency fit --run /root/weft-runs/latency-mbv3-w05 --target min

OPTIONS=(--option 'spaces=["mobilenetv3"]' --option latency_predictor=$P --option budget_only=true)
for method in tangle darts gdas single-path; do
    nice -n 10 nas experiment differentiable_search --run "$RUN" "${OPTIONS[@]}" \
        --option "methods=[\"$method\"]" --quiet &
done
wait
rm -f "$RUN/latency/measured.json"   # measure every derived arch beside the smallest and largest, once
nas experiment differentiable_search --run "$RUN" "${OPTIONS[@]}" --quiet
