#!/bin/bash
# Issue 25 part 4: Shears' elastic-rank super-adapter vs dense LoRA, over a dense and a 50%-sparse (Wanda) base.
# Ran on 2 shared CPU cores (load average ~15 from other jobs) in about an hour; re-running resumes, and
# re-running a finished directory trains and searches nothing (it rewrites the same results).
cd /work/main
nice -n 10 .venv/bin/nas experiment adapters --run /root/weft-runs/adapters --option steps=500 --option base_steps=2000
cp /root/weft-runs/adapters/{results.json,table.md,pareto.png} experiments/results/adapters/
