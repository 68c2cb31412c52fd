#!/bin/bash
# How experiments/results/gnn-controllers/ was made (2-core CPU machine shared with other jobs; nice 5), on the
# GNN space as committed (with the LayerNorm of ce73f85) and the experiment's defaults: 12 trials, 5 seeds,
# evolution's population a third of the trials (d5d4639). Two processes share one run directory (one per
# sharing rule; each re-reads runs.jsonl before a search, merges standalone.json on write); a last run with
# both rules finds every search done, trains the remaining picks alone and writes table.md, results.json and
# controllers.png. (An earlier run on the space before the LayerNorm died unfinished and is not reported.)
set -e
RUN=${RUN:-/root/weft-runs/gnn-controllers-v2}
NAS="nice -n 5 .venv/bin/nas experiment gnn_controllers --run $RUN"
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
