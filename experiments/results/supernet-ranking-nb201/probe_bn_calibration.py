"""BN recalibration size vs ranking: re-score a trained NB201 supernet's 32 ground-truth archs with N calibration images.

    python experiments/results/supernet-ranking-nb201/probe_bn_calibration.py SUPERNET_RUN N [N ...]

bn-calibration.jsonl: SUPERNET_RUN = /root/weft-runs/sr-nb201-x4/supernet-sandwich-no-smallest-x4, N = 2000 500 8000
(switched scoring; at N = 2000, the run's own setting, it reproduces the cached masked scores exactly).
"""
import json, sys, time
from pathlib import Path
import numpy as np, jax
from experiments.supernet_ranking import load_ground_truth
from nas.definition import get_definition
from nas.evaluate import fixed_batches, make_batched_scorer
from nas.rank_metrics import ranking_report
from nas.run_dir import RunDir
from nas.train.loop import restore_trained

run = Path(sys.argv[1]); truth = load_ground_truth(Path("/root/weft-runs/gt-nb201"))
definition = get_definition(truth["config"]["space"])
space = definition.make_space(**definition.resolve_options(truth["space_options"]))
vectors = np.stack([space.from_string(r["arch"]).to_vector() for r in truth["archs"]]).astype(np.int32)
reference = np.array([r["mean"] for r in truth["archs"]])
params, macs = [r["params"] for r in truth["archs"]], [r["macs"] for r in truth["archs"]]
session, state = restore_trained(RunDir.open(run))
scorer = make_batched_scorer(session.graphdef, session.space, execution="switch")
data = session.dataset.test
batches = fixed_batches(data.inputs, data.labels, session.config.eval_batch_size)
cached = json.loads((run / "scores-test.json").read_text())
for n in [int(a) for a in sys.argv[2:]]:
    calibration = session.dataset.train.inputs[:n]
    started = time.monotonic(); scores = []
    for i in range(0, len(vectors), 8):
        chunk = vectors[i:i + 8]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], 8 - len(chunk), 0)]) if len(chunk) < 8 else chunk
        scores.extend(np.asarray(jax.device_get(scorer(state.params, state.stats, calibration, batches, padded)))[:len(chunk)])
    scores = np.array(scores, float)
    report = ranking_report(scores, reference, higher_is_better=True, params=params, macs=macs)["ranker"]
    same = [abs(cached[",".join(map(str, v))] - s) for v, s in zip(vectors, scores)] if n == session.config.calibration_images else None
    print(json.dumps({"calibration_images": n, "tau": round(report["kendall_tau"], 3), "interval": [round(x, 3) for x in report["kendall_tau_interval"]],
                      "band_tau": round(report["band_tau"]["mean"], 3), "top5": report["top_5_recall"],
                      "seconds": round(time.monotonic() - started, 1), "max_diff_vs_cached": max(same) if same else None}), flush=True)
