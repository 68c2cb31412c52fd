#!/bin/bash
# Issue 24: MobileNetV3 at 224x224x3 on onnxruntime, batch 1, 1 thread; two collections of the same 160 archs.
#   SESSIONS=3 RUN=/root/weft-runs/lat160s3 bash run.sh            # this folder's results.json / table.md / retest.png
#   N=16 SESSIONS=1 RUN=/root/weft-runs/lat160 bash run.sh         # the one-session pair: its collection a,
#   N=16 SESSIONS=1 REPEATS=30 RUN=/root/weft-runs/lat160r30 bash run.sh   # and this one's a (30 calls)
# then compare.py on the pairs (README.md).
cd "$(dirname "$0")/../../.."
S=()
for b in xla onnxruntime; do for r in training deployment; do for n in 1 8; do for t in 1 2; do
  case "$b/$r/$n/$t" in onnxruntime/deployment/1/1) ;; *) S+=("\"$b/$r/$n/$t\"");; esac
done; done; done; done
SKIP="[$(IFS=,; echo "${S[*]}")]"
.venv/bin/nas experiment latency_retest --run ${RUN:-/tmp/runs/latency-sessions} \
    --option n=${N:-160} --option sessions=${SESSIONS:-3} --option repeats=${REPEATS:-15} --option fit_n=160 \
    --option "fit_seeds=[$(seq -s, 0 19)]" --option 'fit_backends=["onnxruntime"]' --option "skip=$SKIP"
