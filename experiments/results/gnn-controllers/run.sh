#!/bin/bash
# How experiments/results/gnn-controllers/ was made (2-core CPU machine shared with other jobs; nice 10).
# Two processes share one run directory: the first trains the supernet and the stand-alone ground truth,
# then searches with sharing "all"; once the ground truth is in standalone.json, the second searches with
# sharing "homogeneous". A last run with both rules finds every search done (runs.jsonl), trains the
# remaining picks alone and writes table.md, results.json and controllers.png.
#
# As recorded here: the GNN space changed in the working tree while the first process ran (65b3f64, then
# ce73f85 added a LayerNorm per layer, which no longer fits the supernet checkpoint). The first process ran on
# 65b3f64's search_spaces/gnn.py; the second process and the last run ran from a worktree of this commit with
# that file checked out (git worktree add --detach /tmp/weft-gnn-early HEAD; git -C /tmp/weft-gnn-early
# checkout 65b3f64 -- search_spaces/gnn.py; python -m nas.cli from there). To measure the current space, run
# this script on a fresh RUN.
set -e
RUN=${RUN:-/root/weft-runs/gnn-controllers}
NAS="nice -n 10 .venv/bin/nas experiment gnn_controllers --run $RUN"
$NAS --option 'sharings=["all"]' > $RUN-A.log 2>&1 &
first=$!
until [ -f $RUN/standalone.json ] && [ "$(python3 -c "import json; print(len(json.load(open('$RUN/standalone.json'))))")" -ge 32 ]; do
    sleep 30
done
$NAS --option 'sharings=["homogeneous"]' > $RUN-B.log 2>&1 &
second=$!
wait $first $second
$NAS > $RUN-final.log 2>&1
cp $RUN/table.md $RUN/results.json $RUN/controllers.png experiments/results/gnn-controllers/
