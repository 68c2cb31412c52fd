"""Does the MLP ground truth's ranking hold at 4x the stand-alone steps? Trains the archs within the cheapest
budget (MACs quantile 0.25: archs 0-7 of the plan) alone for STEPS steps, seeds 0 and 1, same split and
settings otherwise (cosine over the run's steps); resumable. From the repository root:

    RUN=/root/weft-runs/horizon-mlp/mlp-8000 .venv/bin/python experiments/results/ground-truth-mlp-8000/pilot.py
    RUN=/root/weft-runs/horizon-mlp/mlp-8000 .venv/bin/python experiments/results/ground-truth-mlp-8000/analyse.py
"""
import json
import os
from pathlib import Path

from experiments import ground_truth
from nas.definition import get_definition
from nas.standalone_truth import train_items

STEPS = 8000
ARCHS = list(range(8))
run_dir = Path(os.environ.get("RUN", "/root/weft-runs/horizon-mlp/mlp-8000"))
plan = json.loads(Path("experiments/results/ground-truth-mlp/plan.json").read_text())
config = ground_truth.Config(**{**plan["config"], "steps": STEPS, "seeds": (0, 1), "isolate": False})
definition = get_definition(config.space)
archs = plan["archs"]
run_dir.mkdir(parents=True, exist_ok=True)
train_items(run_dir, [(i, s) for i in ARCHS for s in (0, 1)],
            lambda i, s: ground_truth.training_config(config, definition, plan["space_options"], archs[i], s),
            isolate=False, describe=lambda i, s: f"horizon pilot: arch {i} seed {s} ({STEPS} steps)")
