#!/bin/bash
# The tutorial's commands at their documented sizes (docs/tutorial-custom-space.md), timed.
set -e
cd /root/weft-runs/tutorial
NAS=/work/main/.venv/bin/nas
for cmd in "train --space my_cnn:TINY_CNN --steps 1500 --run runs/cnn --quiet" \
           "search --run runs/cnn --searcher evolution --trials 100 --constraint flops<=400000 --quiet" \
           "export --run runs/cnn --budget flops<=400000 --out runs/cnn/best" \
           "eval-export runs/cnn/best" \
           "plot --run runs/cnn"; do
  start=$(date +%s.%N)
  $NAS $cmd
  echo "TIME $cmd: $(echo "$(date +%s.%N) - $start" | bc) s"
done
