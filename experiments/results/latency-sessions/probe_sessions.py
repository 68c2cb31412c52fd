"""Is an arch's onnxruntime latency a property of the arch, or of the session it is measured in?

    .venv/bin/python experiments/results/latency-sessions/probe_sessions.py COLLECTION ROUNDS OUT.npy

The first 12 archs of COLLECTION (a MobileNetV3 collection at 224x224x3, batch 1), each lowered and
opened in a fresh onnxruntime session ROUNDS times in this one process (groups of 4, 15 timed calls each
beside the collection's reference arch, pinned to core 1, as `nas latency collect` times them). Prints the
sd of log(anchor ratio) between one arch's sessions, and saves the [archs, rounds] log ratios; two such
runs (two processes) give the sd between processes of one session and of the mean of ROUNDS.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

from nas.definition import get_definition
from nas.hardware.collect import _subnet_program, read_jsonl
from nas.hardware.timing import measure_group

collection, rounds, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.sched_setaffinity(0, {1})
rows = read_jsonl(collection / "archs.jsonl")
samples = [r for r in rows if r["role"] == "sample"][:12]
reference = next(r for r in rows if r["role"] == "reference_start")
definition = get_definition("mobilenetv3")
space, supernet = definition.build(definition.resolve_options(None, (224, 224, 3)))


def program(text):
    return _subnet_program(supernet, space.from_string(text), 1, (224, 224, 3), "onnxruntime", 1)


anchor = program(reference["arch"]).compile()
anchor.warm_up(3, 0.0)
ratios = {}
for _ in range(rounds):
    for start in range(0, len(samples), 4):
        group = samples[start:start + 4]
        for row, result in zip(group, measure_group([program(r["arch"]) for r in group], anchor=anchor, repeats=15)):
            ratios.setdefault(row["arch"], []).append(result["anchor_ratio"])
logs = np.log(np.array(list(ratios.values())))
print(json.dumps({"between_sessions_sd": float(np.mean(logs.std(axis=1, ddof=1))), "between_archs_sd": float(logs.mean(axis=1).std())}))
np.save(out, logs)
