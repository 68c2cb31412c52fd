#!/bin/bash
# Evolution before (b6e3fca, every proposal a trial) and after (this tree) on 80 more paired seeds (20..99),
# random beside; pooled with the first 20 seeds (../evolution-repeats, ../before) by pool.py.
# About 3 minutes per side on one shared core.
set -e
git worktree add --detach /tmp/weft-before b6e3fca
mkdir -p /tmp/shim && ln -sfn /tmp/weft-before/searchers /tmp/shim/searchers
O='--option searchers=["random","evolution"] --option objectives=["nk-mobilenetv3","nk-nb201","zdt1-mobilenetv3"] --option seeds=80 --option first_seed=20'
(cd /tmp && PYTHONPATH=/tmp/shim:$OLDPWD nice -n 5 $OLDPWD/.venv/bin/nas experiment searchers --run /tmp/runs/evo-before $O --option mode=before --quiet)
nice -n 5 .venv/bin/nas experiment searchers --run /tmp/runs/evo-after $O --option before=/tmp/runs/evo-before/results.json --quiet
cp /tmp/runs/evo-after/{results.json,table.md} experiments/results/searchers/evolution-100-seeds/
cp /tmp/runs/evo-before/{results.json,table.md} experiments/results/searchers/evolution-100-seeds/before/
.venv/bin/python experiments/results/searchers/evolution-100-seeds/pool.py > experiments/results/searchers/evolution-100-seeds/pooled.md
