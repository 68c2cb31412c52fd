#!/bin/bash
# Issue 24: the retest at the deployment resolution on a quiet machine (the background trainings paused with
# SIGSTOP for the duration), 1 thread: onnxruntime batch 1 and 8, XLA batch 1; predictors on onnxruntime.
cd /work/main
S=()
for b in xla onnxruntime; do for r in training deployment; do for n in 1 8; do for t in 1 2; do
  case "$b/$r/$n/$t" in onnxruntime/deployment/1/1|onnxruntime/deployment/8/1|xla/deployment/1/1) ;; *) S+=("\"$b/$r/$n/$t\"");; esac
done; done; done; done
SKIP="[$(IFS=,; echo "${S[*]}")]"
.venv/bin/nas experiment latency_retest --run ${RUN:-/tmp/runs/latency-retest-quiet} \
    --option n=16 --option fit_n=${FIT_N:-60} --option 'fit_backends=["onnxruntime"]' --option "skip=$SKIP"
