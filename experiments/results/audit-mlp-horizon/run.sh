#!/bin/bash
# nas audit --horizon 4 on the MLP supernet that ranks best in ../supernet-ranking-mlp/ (sandwich-no-smallest-kd-x6:
# 12000 steps, no smallest subnet, alpha-divergence KD; trained by that experiment's run.sh). 12 archs x 2 seeds at
# 2000 stand-alone steps, then each arch once more (seed 2) at 8000: ~91 CPU-minutes. Resumable; rerunning it
# trains nothing and rewrites audit.json / audit.png (copied here).
cd "$(dirname "$0")/../../.."
RUN=${RUN:-/root/weft-runs/sr-mlp-all/supernet-sandwich-no-smallest-kd-x6}
.venv/bin/nas audit --run $RUN --archs 12 --steps 2000 --horizon 4
cp $RUN/audit/audit.json $RUN/audit/audit.png experiments/results/audit-mlp-horizon/
