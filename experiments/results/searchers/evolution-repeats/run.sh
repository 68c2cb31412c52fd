#!/bin/bash
# Evolution after its repeats stopped re-joining the population while the original is still in it
# (searchers/regularized_evolution.py, this commit), against the same "before" run as ../run.sh and
# random on the same 20 paired seeds; about a minute on one core.
nice -n 1 .venv/bin/nas experiment searchers --run /tmp/runs/searchers-evolution \
    --option 'searchers=["random","evolution"]' \
    --option 'objectives=["nk-mobilenetv3","nk-nb201","zdt1-mobilenetv3"]' \
    --option before=experiments/results/searchers/before/results.json --quiet
