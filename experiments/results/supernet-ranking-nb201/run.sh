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
