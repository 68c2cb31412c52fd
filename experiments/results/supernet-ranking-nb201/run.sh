#!/bin/bash
# Issue 20: supernet variants on NB201 (channels 8, 1 cell per stage) against gt-nb201, equal budget (1000 steps).
cd /work/main
VARIANTS='["sandwich","sandwich-no-smallest","uniform","cost-stratified-no-smallest",{"name":"few-shot-5-own-largest","supernet":"few-shot","split_decision":"node1.from0","experts":5,"own_endpoints":true,"sandwich_smallest":false}]'
.venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-nb201 --option ground_truth=/root/weft-runs/gt-nb201 \
    --option "variants=$VARIANTS" "$@"
# The run above trained the variants in order (its first pass with `--option partial=true`, before the ground
# truth's last runs finished); this table scored the finished `sandwich` supernet on all 32 archs:
#   mkdir RUN_FINAL && ln -s /root/weft-runs/sr-nb201/supernet-sandwich RUN_FINAL/
#   nas experiment supernet_ranking --run RUN_FINAL --option ground_truth=/root/weft-runs/gt-nb201 --option 'variants=["sandwich"]'
# Further variants (uniform, cost-stratified-no-smallest) in a second run directory, one core each:
#   nas experiment supernet_ranking --run /root/weft-runs/sr-nb201-b --option ground_truth=/root/weft-runs/gt-nb201 \
#       --option 'variants=["uniform","cost-stratified-no-smallest"]'
# results.json / table.md / scatter.png: sandwich and sandwich-no-smallest scored on all 32 archs:
#   ln -s /root/weft-runs/sr-nb201/supernet-sandwich-no-smallest RUN_FINAL/
#   nas experiment supernet_ranking --run RUN_FINAL --option ground_truth=/root/weft-runs/gt-nb201 \
#       --option 'variants=["sandwich","sandwich-no-smallest"]'
# Stop 24 started (one core each, nice 19, resumable; not finished at its end):
#   nas experiment supernet_ranking --run /root/weft-runs/sr-nb201-x4 --option ground_truth=/root/weft-runs/gt-nb201 \
#       --option 'variants=[{"name":"sandwich-no-smallest-x4","sandwich_smallest":false,"steps_factor":4}]'
#   nas experiment supernet_ranking --run /root/weft-runs/sr-nb201-c --option ground_truth=/root/weft-runs/gt-nb201 \
#       --option 'variants=[{"name":"sandwich-no-smallest-r3","sandwich_smallest":false,"num_random":3},"cost-stratified-no-smallest",{"name":"few-shot-5-own-largest","supernet":"few-shot","split_decision":"node1.from0","experts":5,"own_endpoints":true,"sandwich_smallest":false}]'
# c-results.json / c-table.md / c-scatter.png: the second run above after its first two variants finished
# (sandwich-no-smallest-r3: largest + 3 random archs per step, 4000 subnet passes in 1000 steps;
# cost-stratified-no-smallest); few-shot-5-own-largest was still training.
# x4-results.json / x4-table.md / x4-scatter.png: the first run above (sandwich-no-smallest-x4, 4000 steps).
# Stop 26: cost-stratified-no-smallest at 4x steps added to the second run's chain (before few-shot-5-own-largest):
#   ... --run /root/weft-runs/sr-nb201-c ... 'variants=[..., "cost-stratified-no-smallest",
#       {"name":"cost-stratified-no-smallest-x4","sampling":"cost-stratified","sandwich_smallest":false,"steps_factor":4},
#       {"name":"few-shot-5-own-largest", ...}]'
# cx4-results.json / cx4-table.md / cx4-scatter.png: its three finished variants scored together (links to them):
#   mkdir RUN_CX4; for v in sandwich-no-smallest-r3 cost-stratified-no-smallest cost-stratified-no-smallest-x4; do
#       ln -s /root/weft-runs/sr-nb201-c/supernet-$v RUN_CX4/; done
#   nas experiment supernet_ranking --run RUN_CX4 --option ground_truth=/root/weft-runs/gt-nb201 \
#       --option 'variants=[{"name":"sandwich-no-smallest-r3","sandwich_smallest":false,"num_random":3},"cost-stratified-no-smallest",{"name":"cost-stratified-no-smallest-x4","sampling":"cost-stratified","sandwich_smallest":false,"steps_factor":4}]'
# c-results.json / c-table.md / c-scatter.png (stop 26): the whole chain of the second run finished (r3,
# cost-stratified-no-smallest, its x4, few-shot-5-own-largest: each of 5 supernets owning one op of edge
# node1.from0 trains its own largest arch).

# all-results.json / all-table.md / all-scatter.png: every variant above in one table, re-scored from the saved
# inherited scores (trains nothing) against the ground truth rebuilt from its saved scores, with the perfect
# ranker's tau and regret (the ceiling and the floor the seed noise sets):
#   .venv/bin/nas experiment ground_truth --run /root/weft-runs/gt-nb201 --option space=nb201 --option steps=1000 \
#       --option import_from=experiments/results/ground-truth-nb201/results.json
#   R=experiments/results/supernet-ranking-nb201
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-nb201-all --option ground_truth=/root/weft-runs/gt-nb201 \
#       --option 'variants=[]' --option "rescore_from=[\"$R/results.json\",\"$R/uniform-results.json\",\"$R/c-results.json\",\"$R/x4-results.json\",\"$R/cx4-results.json\"]"

# outlier-probe.json (stop 38): the variants beside a ridge regression on the archs' decisions, log MACs and log
# params fit to the other archs' stand-alone scores (leave-one-out; two folds of 16); trains nothing:
#   .venv/bin/python experiments/results/supernet-ranking-lm/outlier_probe.py \
#       --ranking experiments/results/supernet-ranking-nb201/all-results.json \
#       --truth experiments/results/ground-truth-nb201/results.json --target 0.003 \
#       --out experiments/results/supernet-ranking-nb201/outlier-probe.json

# Stop 40: all-* re-made by its re-score command above (trains nothing; the rebuilt /root/weft-runs/gt-nb201 also
# computes the band ceiling, which ../ground-truth-nb201/results.json predates) to add the decision predictor's row
# and each variant's tau over it (`nas.decision_predictor`), and the columns added since it was first made (margins
# over size, leans, the band ceiling); the taus, band taus, recalls and regrets are unchanged. The five results
# files it re-scores gained `ground_truth.arch_strings` (the ground truth's archs in its order, copied from
# ../ground-truth-nb201/results.json; they named their archs only by that directory), so re-scoring them no longer
# needs /root/weft-runs/gt-nb201 to hold the same plan; the same for results.json, att- and att4-results.json of
# ../supernet-ranking-lm (from ../ground-truth-lm/results.json).
