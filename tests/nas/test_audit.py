"""`nas audit` end to end on tiny spaces: a shipped one with two workers and a resume, the README's custom
space (no cost model: stratified by parameters), verdicts from hand-made results, bad settings."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nas.audit import AuditConfig, audit, verdict
from nas.errors import ConfigError
from nas.rank_metrics import kendall_tau, perfect_ranker_tau
from nas.train.config import TrainConfig
from nas.train.loop import train

pytestmark = pytest.mark.early  # a minute or more in all: handed to a test worker first (tests/conftest.py)

REPO = Path(__file__).resolve().parents[2]
TINY_TRAINING = dict(data="synthetic", limit_train=256, batch_size=16, steps=12, sampling="sandwich",
                     distillation="none", validation_size=64, checkpoint_every=6)


def train_tiny_mlp(run: Path) -> None:
    train(TrainConfig(space="mlp", space_options={"max_layers": 2, "max_width": 64, "width_steps": 4},
                      **TINY_TRAINING), run, progress=False)


def test_audit_with_two_workers_then_a_rerun_that_trains_nothing(tmp_path):
    run = tmp_path / "run"
    train_tiny_mlp(run)
    result = audit(run, AuditConfig(archs=4, steps=6, workers=2, bands=2), progress=False)
    assert len(result["archs"]) == 4 and all(len(r["test"]) == 2 for r in result["archs"])
    assert result["cost"] == "macs" and result["ground_truth"]["complete_archs"] == 4
    ranker = result["agreement"]["ranker"]
    assert set(ranker) >= {"kendall_tau", "kendall_tau_interval", "top_5_recall", "band_tau", "regret"}
    assert {"params", "macs"} <= set(result["agreement"]) and len(ranker["regret"]) == 3
    # Four archs are too few to fit the decision predictor on the others: said, not guessed.
    assert result["decision_predictor"] == {"undefined": "4 archs; the leave-one-out fit needs at least 6"}
    assert result["verdict"].split(":")[0] in ("trust", "weak", "do not trust", "inconclusive")
    assert (run / "audit" / "audit.png").stat().st_size > 0
    # The leans are measured on the audited archs' own decisions (the MLP's depth and widths).
    assert {r["feature"] for r in result["leans"]["features"]} <= {"depth", "width_*"}
    # The stand-alone runs are trained with the run's data and split, each arch alone.
    saved = json.loads((run / "audit" / "arch-00-seed1" / "config.json").read_text())["config"]
    assert (saved["sampling"], saved["seed"], saved["split_seed"], saved["data"]) == ("standalone", 1, 0, "synthetic")
    stamps = {p: p.stat().st_mtime for p in (run / "audit").glob("arch-*/summary.json")}
    again = audit(run, AuditConfig(archs=4, steps=6, workers=1, bands=2), progress=False)
    assert again["agreement"] == json.loads(json.dumps(result["agreement"]))
    assert {p: p.stat().st_mtime for p in (run / "audit").glob("arch-*/summary.json")} == stamps
    with pytest.raises(ConfigError, match="steps differ: steps=6 there, 7 here"):
        audit(run, AuditConfig(archs=4, steps=7, bands=2), progress=False)
    # A fine-tune of each arch adds a second ranking of the same archs, judged in the same verdict; the
    # inherited ranking and the stand-alone runs are untouched, and the fine-tuned scores are cached.
    tuned = audit(run, AuditConfig(archs=4, steps=6, bands=2, finetune_steps=3), progress=False)
    assert tuned["agreement"] == json.loads(json.dumps(result["agreement"]))
    scores = [r["finetuned"] for r in tuned["archs"]]
    assert scores != [r["inherited"] for r in tuned["archs"]]
    assert tuned["finetuned"]["agreement"]["ranker"]["kendall_tau"] == pytest.approx(
        kendall_tau(scores, [r["mean"] for r in tuned["archs"]]))
    assert tuned["finetuned"]["steps"] == 3 and "| after a 3-step stand-alone fine-tune of each arch" in tuned["verdict"]
    assert re.match(r"after a 3-step .* in all\), (trust|weak|do not trust|inconclusive): ",
                    tuned["verdict"].split(" | ")[1])
    cache = next(run.glob("scores-finetuned-3-*-test-accuracy.json"))
    cache_stamp = cache.stat().st_mtime
    assert [r["finetuned"] for r in audit(run, AuditConfig(archs=4, steps=6, bands=2, finetune_steps=3),
                                          progress=False)["archs"]] == scores
    assert cache.stat().st_mtime == cache_stamp


@pytest.mark.slow  # four more child trainings (~25 s); make test keeps horizon_report's own tests
def test_the_horizon_check_trains_every_arch_once_longer_and_a_rerun_trains_nothing(tmp_path):
    run = tmp_path / "run"
    train_tiny_mlp(run)
    result = audit(run, AuditConfig(archs=4, steps=6, bands=2), progress=False)
    stamps = {p: p.stat().st_mtime for p in (run / "audit").glob("arch-*/summary.json")}
    # The horizon check adds every arch at twice the steps, with a seed the short runs did not use; the
    # audit's own runs are kept, and a rerun trains nothing.
    longer = audit(run, AuditConfig(archs=4, steps=6, workers=2, bands=2, horizon=2), progress=False)
    assert {p: p.stat().st_mtime for p in (run / "audit").glob("arch-*/summary.json")} == stamps
    long_runs = sorted((run / "audit" / "horizon-x2").glob("arch-*"))
    assert [p.name for p in long_runs] == [f"arch-{i:02d}-seed2" for i in range(4)]
    saved = json.loads((long_runs[0] / "config.json").read_text())["config"]
    assert (saved["steps"], saved["seed"], saved["sampling"]) == (12, 2, "standalone")
    horizon = longer["horizon"]
    assert horizon["steps"] == 12 and horizon["scores"] == [
        json.loads((p / "summary.json").read_text())["arch"]["test_accuracy"] for p in long_runs]
    assert longer["agreement"] == json.loads(json.dumps(result["agreement"]))
    assert "one training at 6 against one at 12 steps" in longer["verdict"]
    long_stamps = {p: p.stat().st_mtime for p in (run / "audit" / "horizon-x2").glob("arch-*/summary.json")}
    audit(run, AuditConfig(archs=4, steps=6, bands=2, horizon=2), progress=False)
    assert {p: p.stat().st_mtime for p in (run / "audit" / "horizon-x2").glob("arch-*/summary.json")} == long_stamps


def readme_space_module() -> str:
    """The README's custom-space code block, as the user would save it."""
    block = re.search(r"## A custom search space in Python\s+```python\n(.*?)```", (REPO / "README.md").read_text(),
                      re.S)
    assert block, "the README lost its custom-space example"
    return block.group(1)


@pytest.mark.slow  # two CLI processes and 8 child trainings (~1 min)
def test_audit_on_the_readme_custom_space_through_the_cli(tmp_path):
    (tmp_path / "my_spaces.py").write_text(readme_space_module())
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    nas = [sys.executable, "-m", "nas.cli"]
    trained = subprocess.run([*nas, "train", "--space", "my_spaces:TINY", "--data", "synthetic", "--limit-train",
                              "256", "--batch-size", "16", "--steps", "8", "--distillation", "none", "--run", "run",
                              "--quiet"], cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    audited = subprocess.run([*nas, "audit", "--run", "run", "--archs", "4", "--steps", "5", "--bands", "2",
                              "--quiet"], cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert audited.returncode == 0, audited.stderr
    assert "verdict: " in audited.stderr
    result = json.loads((tmp_path / "run" / "audit" / "audit.json").read_text())
    assert result["cost"] == "params"  # the custom space has no cost model
    params = [r["params"] for r in result["archs"]]
    assert params == sorted(params) and params[0] < params[-1] and "macs" not in result["agreement"]
    bad = subprocess.run([*nas, "audit", "--run", "run", "--seeds", "1"], cwd=tmp_path, env=environment,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: nas audit: --seeds must be >= 2")


def hand_made(inherited, truth_seeds, params):
    """An audit result around given scores, as `audit` builds it (higher is better)."""
    from nas.rank_metrics import ranking_report
    from nas.standalone_truth import reliability

    rows = [{"test": {str(s): float(v) for s, v in enumerate(seeds)}, "params": p, "macs": p,
             "mean": float(np.mean(seeds))} for seeds, p in zip(truth_seeds, params)]
    report = ranking_report(inherited, [r["mean"] for r in rows], higher_is_better=True, params=params,
                            macs=params, bands=2, resamples=300)
    return {"agreement": report, "ground_truth": reliability(rows, (0, 1), higher_is_better=True, resamples=100, bands=2),
            "cost": "macs", "bands": [[1, 8], [9, 16]]}


def test_verdicts_follow_reliability_and_the_size_rankers():
    rng = np.random.default_rng(0)
    truth = rng.permutation(16).astype(float)  # quality unrelated to size
    params = np.arange(1, 17)
    seeds = np.stack([truth + rng.normal(0, 0.05, 16), truth + rng.normal(0, 0.05, 16)], axis=1)
    assert verdict(hand_made(truth + rng.normal(0, 0.1, 16), seeds, params)).startswith("trust:")
    # Noisier seeds cap what any ranker can reach; the verdict names that ceiling.
    noisy = np.stack([truth + rng.normal(0, 2, 16), truth + rng.normal(0, 2, 16)], axis=1)
    ceiling = perfect_ranker_tau(kendall_tau(noisy[:, 0], noisy[:, 1]), 2)
    assert 0.5 < ceiling < 0.95 and f"ceiling tau {ceiling:.2f}" in verdict(hand_made(truth, noisy, params))
    assert verdict(hand_made(params.astype(float), seeds, params)).startswith("do not trust:")
    # Fine-tuned scores are judged on their own, in the same line.
    by_size = hand_made(params.astype(float), seeds, params)
    fine = hand_made(truth + rng.normal(0, 0.1, 16), seeds, params)
    line = verdict({**by_size, "finetuned": {"steps": 50, "seconds": 12.0, "agreement": fine["agreement"]}})
    first, second = line.split(" | ")
    assert first.startswith("do not trust: the supernet ranks no better") and second.startswith(
        "after a 50-step stand-alone fine-tune of each arch (12 s in all), trust: the fine-tuned supernet ranks "
        "clearly better than size alone")
    noise = np.stack([rng.normal(size=16), rng.normal(size=16)], axis=1)
    assert verdict(hand_made(truth, noise, params)).startswith("inconclusive:")
    # Ties in the supernet's scores are ranked, not an error.
    tied = np.round(truth / 4)
    assert verdict(hand_made(tied, seeds, params)).split(":")[0] in ("trust", "weak")
    # Stand-alone runs shorter than the supernet's training: the verdict stands, with a caution.
    trusted = hand_made(truth + rng.normal(0, 0.1, 16), seeds, params)
    for steps, cautioned in ((500, True), (2000, False), (4000, False)):
        line = verdict({**trusted, "steps": steps, "supernet_steps": 2000})
        assert line.startswith("trust:") and ("caution: the archs trained alone 500 steps against the "
                                              "supernet's 2000" in line) == cautioned


def test_the_verdict_names_a_clear_lean_of_the_supernet():
    from nas.rank_bias import ranking_biases

    rng = np.random.default_rng(2)
    heads = rng.integers(1, 5, size=(32, 2))
    archs = [{"l0.heads": int(a), "l1.heads": int(b), "l0.ffn_width": int(f)}
             for (a, b), f in zip(heads, rng.choice([64, 128, 256], 32))]
    truth = rng.normal(size=32)
    params = np.arange(1, 33)
    seeds = truth[:, None] + rng.normal(0, 0.05, (32, 2))
    favouring = truth + 0.8 * heads.mean(1) + rng.normal(0, 0.05, 32)
    audited = hand_made(favouring, seeds, params)
    audited["leans"] = ranking_biases(archs, favouring, truth, params, higher_is_better=True, resamples=500)
    line = verdict(audited)
    assert "; at equal stand-alone score and cost it favours more l*.heads (+" in line
    # An unbiased ranker is flagged in about 2% of such draws (the permutation test's level, 5% over the
    # features); this draw is not one of them.
    unbiased = truth + np.random.default_rng(7).normal(0, 0.3, 32)
    audited["leans"] = ranking_biases(archs, unbiased, truth, params, higher_is_better=True, resamples=500)
    assert "it favours" not in verdict(audited)


def test_clearly_better_than_size_means_the_paired_interval_of_the_difference_is_above_zero():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=32)
    params = truth + rng.normal(0, 0.8, 32)  # size predicts quality, with mistakes
    seeds = truth[:, None] + rng.normal(0, 0.05, (32, 2))
    mends = hand_made(0.6 * params + 0.4 * truth, seeds, params)  # mends part of size's mistakes
    ranker = mends["agreement"]["ranker"]
    assert ranker["kendall_tau_interval"][0] < mends["agreement"]["params"]["kendall_tau"]  # intervals overlap
    line = verdict(mends)
    margin = ranker["over_size"]["kendall_tau"]
    assert line.startswith("trust:") and f"a difference of {margin['difference']:+.2f} [95% " in line
    band = ranker["over_size"]["band_tau"]
    ceiling = mends["ground_truth"]["perfect_ranker_band_tau"]
    assert 0.5 < ceiling < 1 and (f"within cost bands tau {ranker['band_tau']['mean']:.2f} (ceiling {ceiling:.2f}), "
                                  f"{band['difference']:+.2f} [95% ") in line
    assert ("(clearly better than size there)" in line) == (band["interval"][0] > 0)
    # Ahead of size by a pair or two, within the resampling's spread: weak; behind it: do not trust.
    barely = hand_made(0.97 * params + 0.03 * truth, seeds, params)
    assert barely["agreement"]["ranker"]["over_size"]["kendall_tau"]["difference"] > 0
    assert verdict(barely).startswith("weak:")
    assert verdict(hand_made(params + rng.normal(0, 0.5, 32), seeds, params)).startswith("do not trust:")


def horizon_verdict(truth_seeds, long_scores, *, higher_is_better=True):
    """The verdict of a hand-made audit whose supernet knows the truth, with a horizon check."""
    from nas.audit_horizon import horizon_report

    rng = np.random.default_rng(2)
    sign = 1.0 if higher_is_better else -1.0
    params = np.arange(1, len(truth_seeds) + 1)
    mean = truth_seeds.mean(axis=1)
    audited = {**hand_made(sign * (mean + rng.normal(0, 0.1, len(mean))), sign * truth_seeds, params),
               "steps": 1000, "supernet_steps": 2000}
    audited["archs"] = [{"test": {str(s): float(sign * v) for s, v in enumerate(seeds)}, "mean": float(sign * m),
                         "params": int(p), "inherited": float(sign * m)} for seeds, m, p in zip(truth_seeds, mean, params)]
    horizon = horizon_report(audited["archs"], list(sign * np.asarray(long_scores)), (0, 1), factor=4, steps=1000,
                             higher_is_better=higher_is_better, macs=list(params), bands=2)
    return verdict({**audited, "horizon": horizon}), horizon


def test_the_horizon_check_cautions_only_when_longer_training_reorders_beyond_seed_noise():
    rng = np.random.default_rng(1)
    truth = rng.permutation(16).astype(float)
    noisy = lambda: truth + rng.normal(0, 0.4, 16)  # noqa: E731 - one training's score
    seeds = np.stack([noisy(), noisy()], axis=1)
    held, horizon = horizon_verdict(seeds, noisy())  # the same order, one training's noise
    assert held.startswith("trust:") and "no reordering beyond seed noise at 4000 steps (the supernet trained 2000 steps; one training" in held
    assert "caution" not in held and horizon["excess_reordering_interval"][0] <= 0
    # Slow learners end best: the long horizon reverses the top half's order.
    late = truth.copy()
    late[truth >= 8] = 23 - truth[truth >= 8]
    long_late = late + rng.normal(0, 0.4, 16)
    moved, horizon = horizon_verdict(seeds, long_late)
    assert "caution: training 4x longer reorders the archs beyond seed noise" in moved
    assert horizon["excess_reordering_interval"][0] > 0
    assert f"the supernet ranks the 4000-step runs at {horizon['supernet_vs_long']['kendall_tau']:.2f}" in moved
    # Lower-is-better scores (bits per character) of the same archs give the same findings.
    lower, lower_horizon = horizon_verdict(seeds, long_late, higher_is_better=False)
    # (but for the comparisons with size: the hand-made sizes are not flipped with the scores)
    without_size = lambda line: [part for part in line.split("; ")[1:] if "over size" not in part]  # noqa: E731
    assert without_size(lower) == without_size(moved) and len(without_size(moved)) >= 3
    assert lower_horizon["supernet_vs_long"]["kendall_tau"] == horizon["supernet_vs_long"]["kendall_tau"]
    # Seeds that tie everywhere leave the comparison undefined, which is said, not read as agreement.
    flat = np.ones((16, 2))
    assert "horizon check undefined" in horizon_verdict(flat, late)[0]


@pytest.mark.parametrize("bad, message", [({"archs": 3}, "--archs must be >= 4"), ({"seeds": 1}, "--seeds must"),
                                          ({"horizon": 1}, "--horizon is a factor on --steps and must be >= 2"),
                                          ({"steps": 0}, "--steps must be >= 1"),
                                          ({"finetune_steps": 0}, "--finetune-steps must be >= 1"),
                                          ({"bands": 5, "archs": 8}, "--bands 5 leaves fewer than 2"),
                                          ({"arch_seed": -1}, "--arch-seed must be >= 0, got -1")])
def test_bad_audit_settings_are_one_clear_error(bad, message):
    with pytest.raises(ConfigError, match=message):
        AuditConfig(**bad).check()


def test_an_unfinished_run_is_refused(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(space="mlp", space_options={"max_layers": 1, "max_width": 16, "width_steps": 2},
                      **TINY_TRAINING), run, progress=False, stop_at=6)
    with pytest.raises(ConfigError, match="has not finished training"):
        audit(run, AuditConfig(archs=4, bands=2), progress=False)


def test_stand_alone_configs_drop_every_supernet_only_setting():
    from nas.audit import standalone_config

    trained = TrainConfig(space="mlp", supernet="few-shot", split_decision="depth", experts=2, own_endpoints=True,
                          sandwich_smallest=False, sampling="cost-stratified", num_random=3, resort=False)
    trained.check()
    alone = standalone_config(trained, "depth=1;width_0=64", seed=1, steps=10)
    alone.check()
    assert (alone.sampling, alone.supernet, alone.arch, alone.seed, alone.steps) == (
        "standalone", "single", "depth=1;width_0=64", 1, 10)


@pytest.mark.parametrize("arguments, message", [(["--archs", "3"], "--archs must be >= 4"),
                                                (["--strata", "0"], "--strata must be >= 1"),
                                                (["--seeds", "two"], "'two' is not a valid integer")])
def test_the_command_line_options_are_the_config_and_bad_ones_get_one_line(tmp_path, arguments, message):
    from click.testing import CliRunner

    from nas.cli import main

    out = CliRunner().invoke(main, ["audit", "--run", str(tmp_path / "run"), *arguments])
    assert out.exit_code == 2 and message in out.output, out.output
    assert not (tmp_path / "run").exists()


def test_the_verdict_compares_the_supernet_with_a_ridge_fit_to_the_other_audited_archs():
    from nas.decision_predictor import rival_report

    rng = np.random.default_rng(3)
    archs = [{"depth": int(d), "l*.width": int(w)} for d, w in zip(rng.integers(1, 5, 24), rng.choice([8, 16, 32], 24))]
    depth = np.array([a["depth"] for a in archs], float)
    params = rng.uniform(1e3, 1e5, 24)

    def audited(truth, supernet):
        seeds = truth[:, None] + rng.normal(0, 0.02, (24, 2))
        result = hand_made(supernet, seeds, params)
        result["decision_predictor"] = rival_report(archs, supernet, seeds.mean(1), higher_is_better=True,
                                                    params=params, macs=params, bands=2, resamples=500)
        return result

    # Quality is the depth: the ridge on the decisions finds it from the other archs, and a supernet that is
    # noisier than that adds nothing.
    width = np.array([a["l*.width"] for a in archs], float)
    truth = depth + 0.02 * width + rng.normal(0, 0.02, 24)
    result = audited(truth, truth + rng.normal(0, 0.5, 24))
    rival = result["decision_predictor"]
    assert rival["agreement"]["kendall_tau"] > 0.85 > result["agreement"]["ranker"]["kendall_tau"]
    line = verdict(result)
    assert (f"; a ridge on the decisions and size fit to the other audited archs ranks them at tau "
            f"{rival['agreement']['kendall_tau']:.2f}, the supernet {rival['ranker_margin']['difference']:+.2f} [95% ") in line
    assert "(no better: the shared weights add nothing these runs do not show)" in line, line
    # Quality no decision explains: only the supernet knows it.
    hidden = rng.normal(size=24)
    line = verdict(audited(hidden, hidden + rng.normal(0, 0.05, 24)))
    assert "(clearly better: the shared weights add what these runs alone do not show)" in line, line
    # Ahead of a poor predictor by a margin the audit cannot resolve: said as such, not as "adds nothing".
    unresolved = audited(hidden, hidden + rng.normal(0, 1.0, 24))
    unresolved["decision_predictor"]["ranker_margin"] = {"rival": "decisions", "difference": 0.1, "interval": [-0.2, 0.4]}
    assert "the supernet +0.10 [95% -0.20, +0.40] against it (better, but not clearly)" in verdict(unresolved)
    assert "ranks them at tau" not in verdict(hand_made(hidden, np.stack([hidden, hidden], 1), params))
