#!/bin/bash
# How experiments/results/searchers/ was made (2-core CPU machine, one core busy elsewhere; nice 10).
# "before": the searchers package as it was before issue 23 item 5 (b6e3fca, the parent of 600a55e),
# driven as the old search loop drove it (the endpoints as the searcher's seeds, every proposal a trial):
# the old package is put first on the path; nas, experiments and the objectives come from this tree.
set -e
git worktree add --detach /tmp/weft-before b6e3fca
mkdir -p /tmp/shim && ln -sfn /tmp/weft-before/searchers /tmp/shim/searchers
(cd /tmp && PYTHONPATH=/tmp/shim:$OLDPWD nice -n 10 $OLDPWD/.venv/bin/nas experiment searchers \
    --run /tmp/runs/searchers-before --option mode=before --quiet)                    # 807 s
# "after": this tree, composed as nas search runs it (initial endpoints, repeats answered without a trial).
nice -n 10 .venv/bin/nas experiment searchers --run /tmp/runs/searchers \
    --option before=/tmp/runs/searchers-before/results.json --quiet                   # 1098 s
