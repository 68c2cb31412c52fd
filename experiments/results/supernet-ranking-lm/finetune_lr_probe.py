"""Does the fine-tune's rate decide the 0.75 budget? Archs 20, 23, 22 and 18 (the budget's best four at 4000
stand-alone steps) fine-tuned 1000 steps from the distilled 4x supernet at the default rate (a third of the
run's, 1e-3) and at the run's own (3e-3), beside their stand-alone seed means; writes finetune-lr-probe.json.

    .venv/bin/python experiments/results/supernet-ranking-lm/finetune_lr_probe.py
"""
import json
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.definition import get_definition
from nas.finetuned_scores import finetuned_scores

HERE = Path(__file__).parent
SUPERNET = Path("/root/weft-runs/sr-lm-ft/supernet-cost-stratified-no-smallest-kd-x4")
ARCHS = [20, 23, 22, 18]

long = json.loads((HERE.parent / "ground-truth-lm-4000" / "results.json").read_text())
short = json.loads((HERE.parent / "ground-truth-lm" / "results.json").read_text())
space = get_definition("transformer_lm").make_space(**long["space_options"])
vectors = np.stack([space.from_string(long["archs"][i]["arch"]).to_vector() for i in ARCHS])
rates = {rate: finetuned_scores(SUPERNET, vectors, steps=1000, learning_rate=rate, split="test",
                                metric="bits_per_char")["scores"].tolist() for rate in (1e-3, 3e-3)}
write_json_atomically(HERE / "finetune-lr-probe.json", {
    "supernet": str(SUPERNET), "steps": 1000, "archs": [
        {"index": i, "arch": long["archs"][i]["arch"], "standalone_4000_mean": long["archs"][i]["mean"],
         "standalone_1000_mean": short["archs"][i]["mean"],
         **{f"finetuned_lr{rate:g}": scores[k] for rate, scores in rates.items()}}
        for k, i in enumerate(ARCHS)]}, indent=1)
