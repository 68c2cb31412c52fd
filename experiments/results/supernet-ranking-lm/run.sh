#!/bin/bash
# Issue 20: the LM supernet variants against the 32-arch, 2-seed LM ground truth (results.json, table.md,
# scatter.png here). Resumable: variants already trained are reused from the run directory. Each variant
# trains in a child process; ~12-60 CPU-minutes per variant on one core (the x4 variant 4000 steps).
cd "$(dirname "$0")/../../.."
GT=${GT:-/root/weft-runs/gt-lm}   # experiments/results/ground-truth-lm holds its per-arch results
.venv/bin/nas experiment supernet_ranking --run ${RUN:-/root/weft-runs/sr-lm-full} --option ground_truth=$GT \
    --option 'variants=["sandwich","sandwich-no-smallest","few-shot-4-own-ends","cost-stratified-no-smallest",{"name":"cost-stratified-no-smallest-x4","sampling":"cost-stratified","sandwich_smallest":false,"steps_factor":4},{"name":"cost-stratified-no-smallest-x8","sampling":"cost-stratified","sandwich_smallest":false,"steps_factor":8}]'

# att-results.json / att-table.md / att-scatter.png: AttentiveNAS WorstUp sampling without the static smallest
# (1000 steps), in its own run directory:
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-att --option ground_truth=$GT \
#       --option 'variants=[{"name":"attentive-worst-no-smallest","sampling":"attentive-worst","sandwich_smallest":false}]'

# att4-results.json / att4-table.md: AttentiveNAS WorstUp without the static smallest at 4x steps (4000), in its own
# run directory (~60 CPU-minutes):
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-att4 --option ground_truth=$GT \
#       --option 'variants=[{"name":"attentive-worst-no-smallest-x4","sampling":"attentive-worst","sandwich_smallest":false,"steps_factor":4}]'

# kd-results.json / kd-table.md / kd-scatter.png: the MLP's best recipe on the LM: cost-stratified, no static
# smallest, in-place alpha-divergence distillation (grad clip 1), at 1000 and 4000 steps (~25 + ~65 CPU-minutes):
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-kd --option ground_truth=$GT \
#       --option 'variants=[{"name":"cost-stratified-no-smallest-kd","sampling":"cost-stratified","sandwich_smallest":false,"distillation":"alpha","grad_clip":1.0},{"name":"cost-stratified-no-smallest-kd-x4","sampling":"cost-stratified","sandwich_smallest":false,"distillation":"alpha","grad_clip":1.0,"steps_factor":4}]'

# uniform-results.json / uniform-table.md / uniform-scatter.png: no static endpoint at all, 2 uniform subnets per
# step at 4x steps (the subnet passes of cost-stratified-no-smallest-x4; ~50 CPU-minutes), in its own run directory:
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-uniform --option ground_truth=$GT \
#       --option 'variants=[{"name":"uniform-r2-x4","sampling":"uniform","num_archs":2,"steps_factor":4}]'

# all-results.json / all-table.md / all-scatter.png: every variant above in one table, re-scored from the saved
# inherited scores (trains nothing) against the ground truth with four seeds (seed 2 added at stop 28, seed 3 at
# stop 29: 32 more trainings each, two workers sharing the directory), with the perfect ranker's tau (the
# ceiling) and expected regret:
#   .venv/bin/nas experiment ground_truth --run /root/weft-runs/gt-lm --option space=transformer_lm \
#       --option 'seeds=[0,1,2,3]' --option import_from=experiments/results/ground-truth-lm/results.json
#   R=experiments/results/supernet-ranking-lm
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-4seeds --option ground_truth=/root/weft-runs/gt-lm \
#       --option 'variants=[]' --option "rescore_from=[\"$R/results.json\",\"$R/att-results.json\",\"$R/att4-results.json\",\"$R/kd-results.json\",\"$R/uniform-results.json\",\"$R/ft-results.json\",\"$R/att4ft-results.json\"]"
# (the two fine-tuned rankings, ft- and att4ft-, added at stop 33; the leans column at stop 34, other figures unchanged)

# ft-results.json / ft-table.md / ft-scatter.png: the distilled 4x supernet (cost-stratified-no-smallest-kd-x4 above,
# its directory copied from /root/weft-runs/sr-lm-kd, so it is not trained again) scored two ways: inherited, and
# after 200 steps of stand-alone fine-tuning of each arch from the shared weights (nas/finetuned_scores.py; AdamW
# at 1e-3, a third of the supernet's rate; 32 archs x 200 = 6400 more subnet passes, ~35 CPU-minutes):
#   mkdir -p /root/weft-runs/sr-lm-ft && cp -r /root/weft-runs/sr-lm-kd/supernet-cost-stratified-no-smallest-kd-x4 /root/weft-runs/sr-lm-ft/
#   KD='"sampling":"cost-stratified","sandwich_smallest":false,"distillation":"alpha","grad_clip":1.0'
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-ft --option ground_truth=$GT \
#       --option "variants=[{\"name\":\"cost-stratified-no-smallest-kd-x4\",$KD,\"steps_factor\":4},{\"name\":\"cost-stratified-no-smallest-kd-x4-ft200\",\"supernet_of\":\"cost-stratified-no-smallest-kd-x4\",\"finetune_steps\":200}]"

# att4ft-results.json / att4ft-table.md / att4ft-scatter.png: the same fine-tune (200 steps per arch) from the AttentiveNAS
# 4x supernet (attentive-worst-no-smallest-x4 above, its directory copied from /root/weft-runs/sr-lm-att4; ~40 minutes
# on one core shared with two others):
#   mkdir -p /root/weft-runs/sr-lm-att4-ft && cp -r /root/weft-runs/sr-lm-att4/supernet-attentive-worst-no-smallest-x4 /root/weft-runs/sr-lm-att4-ft/
#   ATT='"sampling":"attentive-worst","sandwich_smallest":false'
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-att4-ft --option ground_truth=$GT \
#       --option "variants=[{\"name\":\"attentive-worst-no-smallest-x4\",$ATT,\"steps_factor\":4},{\"name\":\"attentive-worst-no-smallest-x4-ft200\",\"supernet_of\":\"attentive-worst-no-smallest-x4\",\"finetune_steps\":200}]"

# gt4000-results.json / gt4000-table.md / gt4000-scatter.png: every variant above re-scored from its saved scores
# (trains nothing) against the same 32 archs trained alone for 4000 steps, 2 seeds (../ground-truth-lm-4000/, its
# directory rebuilt from the committed scores, trains nothing either):
#   GT4=/root/weft-runs/gt-lm-4000
#   .venv/bin/nas experiment ground_truth --run $GT4 --option space=transformer_lm --option steps=4000 \
#       --option import_from=experiments/results/ground-truth-lm-4000/results.json
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-4000 --option ground_truth=$GT4 \
#       --option 'variants=[]' --option "rescore_from=[\"$R/results.json\",\"$R/att-results.json\",\"$R/att4-results.json\",\"$R/kd-results.json\",\"$R/uniform-results.json\",\"$R/ft-results.json\",\"$R/att4ft-results.json\",\"$R/fewshot-embed-results.json\",\"$R/delayed-results.json\",\"$R/delayed-seed1-results.json\",\"$R/delayed-ft-results.json\",\"$R/switchable-scale-results.json\",\"$R/delayed-switchable-scale-results.json\",\"$R/delayed-seed2-results.json\",\"$R/delayed-resort-results.json\",\"$R/delayed-x8-results.json\"]"
# (stop 34: the few-shot embed split, DεpS (two seeds, and fine-tuned) and switchable scaling added, and the leans
# column, `nas.rank_bias`; every other figure unchanged. Stop 35: DεpS seed 2 and DεpS with --resort added, every
# other row unchanged. The oldest results files name their ground truth by directory: rebuild /root/weft-runs/gt-lm
# first, as for all-results.json above.)
#   for f in results.json table.md scatter.png; do cp /root/weft-runs/sr-lm-4000/$f $R/gt4000-$f; done

# shortlist-top4-ft1000.json, shortlist-top8-ft1000.json: the budgeted picks re-made on a fine-tuned shortlist (what
# `nas search --finetune-top K --finetune-steps 1000` does after a search): at each of the 3 budgets, the K archs
# within it best by the kd-x4-ft200 scores are fine-tuned 1000 steps each from the distilled 4x supernet, and the
# best of them is the pick (K=4: 12 archs, 23 min; K=8: 23 archs, the first 12 cached):
#   for TOP in 4 8; do .venv/bin/python $R/shortlist_finetune.py --supernet /root/weft-runs/sr-lm-ft/supernet-cost-stratified-no-smallest-kd-x4 \
#       --ranking $R/gt4000-results.json --variant cost-stratified-no-smallest-kd-x4-ft200 --top $TOP --steps 1000 \
#       --out $R/shortlist-top$TOP-ft1000.json; done

# finetune-lr-probe.json: the 0.75 budget's best four archs fine-tuned 1000 steps from the distilled 4x supernet at
# the default rate (1e-3, cached by the shortlist runs) and at the run's own (3e-3, ~8 CPU-minutes):
#   .venv/bin/python $R/finetune_lr_probe.py

# fewshot-embed-results.json / -table.md / -scatter.png: few-shot split on embed_dim (4 supernets, each its own
# largest, no static smallest, cost-stratified), 1000 steps, scored directly against the 4000-step ground truth
# (~22 minutes on one core):
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-fewshot-embed --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option 'variants=[{"name":"few-shot-embed-4-own-largest","supernet":"few-shot","split_decision":"embed_dim","experts":4,"own_endpoints":true,"sandwich_smallest":false,"sampling":"cost-stratified"}]'

# delayed-results.json / -table.md / -scatter.png (stop 34): DεpS delayed shrinking (the largest alone for the first
# quarter, then the largest and one uniform subnet, the subnets' loss weight ramped over 100 steps, a learning-rate
# restart at the shrink), 4x steps (4000; 7000 subnet passes), scored directly against the 4000-step ground truth
# (28 minutes on one core):
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-delayed --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option 'variants=[{"name":"delayed-x4","sampling":"delayed","steps_factor":4}]'

# switchable-scale-results.json / -table.md / -scatter.png (stop 34): cost-stratified-no-smallest (1000 steps) with
# NASViT's switchable scaling (`--option switchable_scale=true`, supernets/switchable_scale.py), against the 4000-step
# ground truth (8 minutes). Made after 61e78dd exempted the scale tables from weight decay (a first run with decay
# on them, /root/weft-runs/sr-lm-scaled, gave tau 0.722, band 0.484):
#   OPT='"space_options":{"embed_dims":[32,64,96,128],"depths":[1,2,3,4],"heads":[1,2,4],"ffn_widths":[64,128,256,512],"switchable_scale":true}'
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-scaled-v2 --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option "variants=[{\"name\":\"cost-stratified-no-smallest-switchable-scale\",\"sampling\":\"cost-stratified\",\"sandwich_smallest\":false,$OPT}]"

# delayed-seed1-results.json / -table.md / -scatter.png (stop 34): delayed-x4 again with supernet seed 1 (initialisation,
# batch order, sampled subnets; the data split held), 26 minutes on one core:
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-delayed-seed1 --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option 'variants=[{"name":"delayed-x4-seed1","sampling":"delayed","steps_factor":4,"seed":1}]'

# delayed-switchable-scale-results.json / -table.md / -scatter.png (stop 34): delayed-x4 with switchable scaling (OPT as
# above; scale tables without weight decay; a first run with decay gave tau 0.843, band 0.613), 26 minutes:
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-delayed-scaled-v2 --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option "variants=[{\"name\":\"delayed-x4-switchable-scale\",\"sampling\":\"delayed\",\"steps_factor\":4,$OPT}]"

# delayed-ft-results.json / -table.md / -scatter.png (stop 34): the DεpS 4x supernet (its directory copied from
# /root/weft-runs/sr-lm-delayed, not trained again) scored after 200 stand-alone fine-tune steps per arch (18 minutes):
#   mkdir -p /root/weft-runs/sr-lm-delayed-ft && cp -r /root/weft-runs/sr-lm-delayed/supernet-delayed-x4 /root/weft-runs/sr-lm-delayed-ft/
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-delayed-ft --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option 'variants=[{"name":"delayed-x4","sampling":"delayed","steps_factor":4},{"name":"delayed-x4-ft200","supernet_of":"delayed-x4","finetune_steps":200}]'

# shortlist-retrain-1000.json (stop 35): the budgeted picks re-made by a short stand-alone retrain of each ranker's
# shortlist (the top K within each budget judged by one seed of the 1000-step ground truth, trained from scratch),
# regret against the 4000-step ground truth; trains nothing (both ground truths are committed, same 32 archs):
#   .venv/bin/python $R/shortlist_retrain.py --ranking $R/gt4000-results.json \
#       --long experiments/results/ground-truth-lm-4000/results.json \
#       --short experiments/results/ground-truth-lm/results.json --out $R/shortlist-retrain-1000.json

# delayed-seed2-results.json / -table.md / -scatter.png (stop 35): delayed-x4 with supernet seed 2 (the third seed;
# the data split held), 62 minutes on one core shared with make test and another run:
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-delayed-seed2 --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option 'variants=[{"name":"delayed-x4-seed2","sampling":"delayed","steps_factor":4,"seed":2}]'

# delayed-resort-results.json / -table.md / -scatter.png (stop 35): delayed-x4 with `--resort` (each layer's heads and FFN
# units re-sorted by importance when the shrinking starts, after the largest trained alone; 55a400b), 52 minutes on
# one core shared with make test and another run:
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-delayed-resort --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option 'variants=[{"name":"delayed-x4-resort","sampling":"delayed","steps_factor":4,"resort":true}]'

# delayed-x8-results.json / -table.md / -scatter.png (stop 35): DεpS at 8x steps (8000; 14000 subnet passes), 84 minutes
# on one core beside make test:
#   .venv/bin/nas experiment supernet_ranking --run /root/weft-runs/sr-lm-delayed-x8 --option ground_truth=/root/weft-runs/gt-lm-4000 \
#       --option steps=1000 --option 'variants=[{"name":"delayed-x8","sampling":"delayed","steps_factor":8}]'

# finalists-horizon-16000.json (stops 36-40): each budget's finalists (at 0.75: arch 20, the best at 4000 steps, arch 23,
# most rankers' pick, and arch 22, the x8 and resort picks; at 0.25: archs 5, 6, 7; at 0.5: archs 10 and 15, with
# arch 12 still running at stop 40) trained alone at 16000 steps
# (../ground-truth-lm-16000-finalists/, its README has the commands),
# and every ranker's pick judged among them at 1000 / 4000 / 16000 steps; trains nothing:
#   .venv/bin/python $R/finalists_horizon.py --ranking $R/gt4000-results.json \
#       --truth experiments/results/ground-truth-lm/results.json --truth experiments/results/ground-truth-lm-4000/results.json \
#       --truth experiments/results/ground-truth-lm-16000-finalists/results.json --out $R/finalists-horizon-16000.json \
#       --plot $R/finalists-horizon-16000.png

# outlier-probe.json (stop 38): is the 0.75 budget's best (arch 20) a supernet blind spot or a surprise to any
# ranker that goes by the decisions? A ridge regression of the 4000-step score on depth, embed_dim, mean heads,
# mean FFN width, log MACs and log params (with or without a supernet's score), each arch predicted by a model that
# never saw it (leave-one-out; two folds of 16); trains nothing:
#   .venv/bin/python $R/outlier_probe.py --ranking $R/gt4000-results.json \
#       --truth experiments/results/ground-truth-lm-4000/results.json --out $R/outlier-probe.json

# Stop 40: all-* and gt4000-* re-made by their re-score commands above (trains nothing) to add the decision
# predictor's row and each variant's tau over it (`nas.decision_predictor`); every other figure unchanged.
