#!/bin/bash
# Issue 20: MLP supernet variants on Fashion-MNIST against the 32-arch, 2-seed MLP ground truth
# (experiments/results/ground-truth-mlp). results.json / table.md / scatter.png here. Resumable: trained
# variants are reused from the run directory; the first twelve were trained by an earlier stop and are
# re-scored from their saved inherited scores (rescore_from), the others train (~1-4 CPU-minutes each).
cd "$(dirname "$0")/../../.."
GT=${GT:-/root/weft-runs/gt-mlp}
RUN=${RUN:-/root/weft-runs/sr-mlp-all}
# The ground truth's directory, rebuilt from its saved scores (trains nothing):
.venv/bin/nas experiment ground_truth --run $GT --option space=mlp --option steps=2000 \
    --option import_from=experiments/results/ground-truth-mlp/results.json
KD='"sandwich_smallest":false,"distillation":"alpha","grad_clip":1.0'
.venv/bin/nas experiment supernet_ranking --run $RUN --option ground_truth=$GT \
    --option 'rescore_from=["experiments/results/supernet-ranking-mlp/results.json"]' \
    --option "variants=[{\"name\":\"sandwich-no-smallest-kd\",$KD},{\"name\":\"sandwich-no-smallest-kd-r3\",$KD,\"num_random\":3},
{\"name\":\"sandwich-no-smallest-kd-x3\",$KD,\"steps_factor\":3},{\"name\":\"sandwich-no-smallest-kd-x3-seed1\",$KD,\"steps_factor\":3,\"seed\":1},
{\"name\":\"sandwich-no-smallest-kd-x6\",$KD,\"steps_factor\":6},{\"name\":\"sandwich-no-smallest-kd-x6-seed1\",$KD,\"steps_factor\":6,\"seed\":1},
{\"name\":\"sandwich-no-smallest-kd-x12\",$KD,\"steps_factor\":12},
{\"name\":\"sandwich-no-smallest-x6\",\"sandwich_smallest\":false,\"steps_factor\":6}]"

# gt8000-results.json / gt8000-table.md / gt8000-scatter.png: every variant above re-scored from its saved inherited
# scores (trains nothing) against the same 32 archs trained alone for 8000 steps instead of 2000
# (../ground-truth-mlp-8000/, its directory rebuilt from the committed scores, trains nothing either):
GT8=${GT8:-/root/weft-runs/gt-mlp-8000}
.venv/bin/nas experiment ground_truth --run $GT8 --option space=mlp --option steps=8000 \
    --option import_from=experiments/results/ground-truth-mlp-8000/results.json
.venv/bin/nas experiment supernet_ranking --run ${RUN8:-/root/weft-runs/sr-mlp-8000} --option ground_truth=$GT8 \
    --option 'variants=[]' --option 'rescore_from=["experiments/results/supernet-ranking-mlp/results.json"]'
for f in results.json table.md scatter.png; do cp ${RUN8:-/root/weft-runs/sr-mlp-8000}/$f experiments/results/supernet-ranking-mlp/gt8000-$f; done

# outlier-probe.json (stop 38): the variants beside a ridge regression on the archs' decisions, log MACs and log
# params fit to the other archs' stand-alone scores (leave-one-out; two folds of 16); trains nothing:
#   .venv/bin/python experiments/results/supernet-ranking-lm/outlier_probe.py \
#       --ranking experiments/results/supernet-ranking-mlp/gt8000-results.json \
#       --truth experiments/results/ground-truth-mlp-8000/results.json --target 0.003 \
#       --out experiments/results/supernet-ranking-mlp/outlier-probe.json

# Stop 40: gt8000-* re-made by the re-score command above (trains nothing) to add the decision predictor's row and
# each variant's tau over it (`nas.decision_predictor`); every other figure unchanged.
