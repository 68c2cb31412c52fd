"""The supernet-ranking experiment on a tiny ground truth: every variant scored against the seed means,
with the size rankers beside; an unfinished ground truth and unknown variants are refused."""
import dataclasses
import json

import numpy as np
import pytest

from experiments import ground_truth, supernet_ranking
from nas.errors import ConfigError
from nas.rank_bias import leans
from nas.rank_metrics import ranking_report

TINY_TRUTH = dict(space="mlp", space_options={"max_layers": 2, "max_width": 64, "width_steps": 4}, archs=4,
                  strata=2, steps=4, data="synthetic", batch_size=16, limit_train=128, validation_size=32,
                  isolate=False)


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    path = tmp_path_factory.mktemp("truth")
    ground_truth.run(ground_truth.Config(**TINY_TRUTH), path, progress=False)
    return path


def test_each_variant_is_ranked_against_the_seed_means_and_a_rerun_trains_nothing(truth, tmp_path):
    config = supernet_ranking.Config(ground_truth=str(truth), variants=(
        "sandwich", {"name": "r2-short", "num_random": 2, "steps_factor": 0.5}), steps=8, isolate=False)
    results = supernet_ranking.run(config, tmp_path, progress=False)
    first, second = results["variants"]
    assert (first["steps"], first["subnet_passes"]) == (8, 24) and (second["steps"], second["subnet_passes"]) == (4, 16)
    saved = json.loads((tmp_path / "supernet-r2-short" / "config.json").read_text())["config"]
    truth_run = json.loads((truth / "arch-00-seed0" / "config.json").read_text())["config"]
    for key in ("data", "batch_size", "learning_rate", "optimizer", "split_seed", "limit_train", "space_options"):
        assert saved[key] == truth_run[key]  # the supernet trains on the ground truth's data and split
    assert (saved["sampling"], saved["num_random"]) == ("sandwich", 2)
    assert len(first["inherited"]) == 4 and len(first["regret"]) == 3
    assert set(results["size_rankers"]) == {"params", "macs"}
    assert "| size: params |" in (tmp_path / "table.md").read_text() and (tmp_path / "scatter.png").exists()
    steps = json.loads((truth / "plan.json").read_text())["config"]["steps"]  # the reference's horizon is named
    assert f"seeds [0, 1], {steps:,} stand-alone steps each," in (tmp_path / "table.md").read_text()
    stamps = {p: p.stat().st_mtime for p in tmp_path.glob("supernet-*/summary.json")}
    supernet_ranking.run(config, tmp_path, progress=False)
    assert {p: p.stat().st_mtime for p in tmp_path.glob("supernet-*/summary.json")} == stamps
    # Other settings in the same directory would score the old supernets as new ones: refused, nothing written.
    table = (tmp_path / "table.md").read_text()
    for other in ({"steps": 9}, {"seed": 1}):
        with pytest.raises(ConfigError, match=f"variant 'sandwich': .* trained with other settings \\(.*"
                                              f"{next(iter(other))}.* differ\\)"):
            supernet_ranking.run(dataclasses.replace(config, **other), tmp_path, progress=False)
    assert {p: p.stat().st_mtime for p in tmp_path.glob("supernet-*/summary.json")} == stamps
    assert (tmp_path / "table.md").read_text() == table


def test_a_variant_can_rank_another_variants_supernet_after_fine_tuning_each_arch(truth, tmp_path):
    config = supernet_ranking.Config(ground_truth=str(truth), steps=8, isolate=False, variants=(
        "sandwich", {"name": "sandwich-ft3", "supernet_of": "sandwich", "finetune_steps": 3}))
    results = supernet_ranking.run(config, tmp_path, progress=False)
    plain, tuned = results["variants"]
    assert sorted(p.name for p in tmp_path.glob("supernet-*")) == ["supernet-sandwich"]  # trained once
    assert tuned["steps"] == plain["steps"] and tuned["subnet_passes"] == plain["subnet_passes"] + 4 * 3
    assert tuned["finetune"]["steps"] == 3 and tuned["finetune"]["subnet_passes"] == 12
    assert tuned["inherited"] != plain["inherited"]
    assert tuned["overrides"] == {"supernet_of": "sandwich", "finetune_steps": 3}
    assert "| sandwich-ft3 |" in (tmp_path / "table.md").read_text()


def test_the_command_prints_one_line_naming_the_run_and_its_files_not_the_results(truth, tmp_path):
    from click.testing import CliRunner

    from nas.cli import main

    result = CliRunner().invoke(main, ["experiment", "supernet_ranking", "--run", str(tmp_path / "run"), "--quiet",
                                       "--option", f"ground_truth={json.dumps(str(truth))}", "--option", "variants=[]"])
    assert result.exit_code == 0, result.output
    (line,) = result.output.strip().splitlines()
    printed = json.loads(line)
    assert printed["run"] == str(tmp_path / "run") and {"results.json", "table.md"} <= set(printed["wrote"])
    assert "size_rankers" not in printed and len(line) < 500  # the figures are in results.json, not on the terminal
    assert "size_rankers" in json.loads((tmp_path / "run" / "results.json").read_text())


def test_saved_variants_are_rescored_in_the_ground_truths_arch_order_without_training(truth, tmp_path):
    gt = json.loads((truth / "results.json").read_text())
    archs, means = [row["arch"] for row in gt["archs"]], [row["mean"] for row in gt["archs"]]
    inherited = np.linspace(0.1, 0.9, len(archs))[np.random.default_rng(0).permutation(len(archs))].tolist()
    # Saved in another arch order (as by a plan listed differently): each score must follow its arch.
    saved = {"ground_truth": {"space": gt["config"]["space"], "space_options": gt["space_options"],
                              "score": gt["score"], "archs": len(archs), "partial": False,
                              "arch_strings": archs[::-1]},
             "variants": [{"variant": "sandwich", "overrides": {}, "steps": 8, "subnet_passes": 24,
                           "wall_seconds": 1.0, "inherited": inherited[::-1]}]}
    (tmp_path / "reversed.json").write_text(json.dumps(saved))
    again = supernet_ranking.run(supernet_ranking.Config(ground_truth=str(truth), variants=(),
                                                         rescore_from=(str(tmp_path / "reversed.json"),)),
                                 tmp_path / "second", progress=False)
    (rescored,) = again["variants"]
    assert rescored["inherited"] == inherited
    assert rescored["kendall_tau"] == pytest.approx(
        ranking_report(inherited, means, higher_is_better=True)["ranker"]["kendall_tau"])
    assert not (tmp_path / "second" / "supernet-sandwich").exists()
    table = (tmp_path / "second" / "table.md").read_text()
    assert "| sandwich |" in table and "a ranker knowing the noise-free scores would reach tau" in table
    assert "| perfect ranker (knows the noise-free scores; modelled) |" in table
    margin = rescored["over_size"]["kendall_tau"]  # the lead over size, with its paired interval, in the row
    assert margin["rival"] in ("params", "macs")
    sandwich_row = next(line for line in table.splitlines() if line.startswith("| sandwich |"))
    assert f"| {margin['difference']:+.3f} [{margin['interval'][0]:+.3f}, {margin['interval'][1]:+.3f}] |" in sandwich_row
    assert len(again["ground_truth"]["perfect_ranker_regret"]) == 3
    # Its leans at equal truth and cost (nas.rank_bias), over the archs' own decisions, end the row.
    assert {r["feature"] for r in rescored["leans"]["features"]} <= {"depth", "width_*"}
    assert sandwich_row.endswith(f"| {leans(rescored['leans'], intervals=False) or 'none'} | 8, 24, 1 |")
    # Against a ground truth whose seed means differ, the saved scores are ranked again, not copied.
    altered = json.loads((truth / "results.json").read_text())
    for row, mean in zip(altered["archs"], means[::-1]):
        row["mean"] = mean
    (tmp_path / "altered").mkdir()
    (tmp_path / "altered" / "results.json").write_text(json.dumps(altered))
    moved = supernet_ranking.run(supernet_ranking.Config(ground_truth=str(tmp_path / "altered"), variants=(),
                                                         rescore_from=(str(tmp_path / "reversed.json"),)),
                                 tmp_path / "moved", progress=False)["variants"][0]
    expected = ranking_report(inherited, means[::-1], higher_is_better=True)["ranker"]
    assert moved["kendall_tau"] == pytest.approx(expected["kendall_tau"]) != pytest.approx(rescored["kendall_tau"])
    saved["ground_truth"]["space_options"] = {**saved["ground_truth"]["space_options"], "max_width": 32}
    (tmp_path / "options.json").write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match="did not score this ground truth's archs"):
        supernet_ranking.run(supernet_ranking.Config(ground_truth=str(truth), variants=(),
                                                     rescore_from=(str(tmp_path / "options.json"),)),
                             tmp_path / "third", progress=False)
    saved["ground_truth"]["space_options"] = gt["space_options"]
    saved["ground_truth"]["arch_strings"][0] = "not-an-arch"
    (tmp_path / "other.json").write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match="did not score this ground truth's archs"):
        supernet_ranking.run(supernet_ranking.Config(ground_truth=str(truth), variants=(),
                                                     rescore_from=(str(tmp_path / "other.json"),)),
                             tmp_path / "third", progress=False)
    with pytest.raises(ConfigError, match="rescore_from .* is not a file"):
        supernet_ranking.run(supernet_ranking.Config(ground_truth=str(truth), variants=(),
                                                     rescore_from=(str(tmp_path / "none.json"),)),
                             tmp_path / "third", progress=False)


def test_unknown_variants_and_unfinished_truths_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown variant 'bogus'"):
        supernet_ranking.Config(ground_truth="x", variants=("bogus",)).check()
    with pytest.raises(ConfigError, match=r"unknown field\(s\) num_randoms"):
        supernet_ranking.Config(ground_truth="x", variants=({"name": "a", "num_randoms": 2},)).check()
    with pytest.raises(ConfigError, match="supernet_of 'b' names no earlier variant; earlier ones: a"):
        supernet_ranking.Config(ground_truth="x", variants=({"name": "a"}, {"name": "c", "supernet_of": "b"},
                                                            {"name": "b"})).check()
    with pytest.raises(ConfigError, match="scores 'a''s supernet, so it sets no training field"):
        supernet_ranking.Config(ground_truth="x", variants=({"name": "a"}, {"name": "c", "supernet_of": "a",
                                                                            "num_random": 2})).check()
    with pytest.raises(ConfigError, match="bands must be >= 1, got 0"):
        supernet_ranking.Config(ground_truth="x", bands=0).check()
    with pytest.raises(ConfigError, match="finetune_steps must be an integer >= 1, got 0"):
        supernet_ranking.Config(ground_truth="x", variants=({"name": "a", "finetune_steps": 0},)).check()
    with pytest.raises(ConfigError, match="sets finetune_learning_rate without finetune_steps"):
        supernet_ranking.Config(ground_truth="x", variants=({"name": "a", "finetune_learning_rate": 0.1},)).check()
    with pytest.raises(ConfigError, match="holds no ground truth"):
        supernet_ranking.run(supernet_ranking.Config(ground_truth=str(tmp_path)), tmp_path, progress=False)
    (tmp_path / "results.json").write_text(json.dumps({
        "config": {"seeds": [0, 1]}, "space_options": {}, "score": "test_accuracy", "higher_is_better": True,
        "reliability": {}, "archs": [{"index": 0, "arch": "depth=1", "test": {"0": 0.5}, "validation": {"0": 0.5},
                                      "macs": 1, "params": 1, "mean": 0.5}]}))
    with pytest.raises(ConfigError, match=r"unfinished archs \[0\]"):
        supernet_ranking.run(supernet_ranking.Config(ground_truth=str(tmp_path)), tmp_path, progress=False)
    saved = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({**saved, "config": {}}))  # seeds would default to (0, 1)
    with pytest.raises(ConfigError, match="lacks the config's seeds"):
        supernet_ranking.run(supernet_ranking.Config(ground_truth=str(tmp_path)), tmp_path, progress=False)
    (tmp_path / "results.json").write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match="has 0 finished archs; a ranking needs at least 4"):
        supernet_ranking.run(supernet_ranking.Config(ground_truth=str(tmp_path), partial=True), tmp_path,
                             progress=False)


@pytest.mark.slow  # two more supernet trainings
def test_a_diverging_variant_is_recorded_and_the_others_still_run(truth, tmp_path):
    config = supernet_ranking.Config(ground_truth=str(truth), steps=6, isolate=False, variants=(
        {"name": "boom", "learning_rate": 1e9, "checkpoint_every": 2}, "sandwich"))
    results = supernet_ranking.run(config, tmp_path, progress=False)
    boom, sandwich = results["variants"]
    assert "diverged" in boom["error"] and len(sandwich["inherited"]) == 4
    assert "| boom | failed: " in (tmp_path / "table.md").read_text()


def test_variants_of_a_space_with_op_choices_train_switched_unless_they_say_otherwise():
    def truth(space, options):
        return {"config": dataclasses.asdict(ground_truth.Config(space=space, space_options=options)),
                "space_options": options}
    nb201 = truth("nb201", {"channels": 4, "cells_per_stage": 1})
    assert supernet_ranking.supernet_config(nb201, {}, 10, 0).execution == "switch"
    assert supernet_ranking.supernet_config(nb201, {"execution": "masked"}, 10, 0).execution == "masked"
    assert supernet_ranking.supernet_config(nb201, {"supernet": "few-shot", "split_decision": "node1.from0"},
                                            10, 0).execution == "masked"
    assert supernet_ranking.supernet_config(truth("mlp", {"max_layers": 2}), {}, 10, 0).execution == "masked"


def test_subnet_passes_of_a_shrinking_schedule_sum_its_phases():
    from nas.train.config import TrainConfig

    options = {"max_layers": 2, "max_width": 64, "width_steps": 4}
    delayed = TrainConfig(space="mlp", space_options=options, sampling="delayed", delay=0.25, num_random=2, steps=8)
    # 2 steps of the full network alone, then 6 of the largest and 2 random subnets.
    assert supernet_ranking.subnet_passes(delayed) == 2 * 1 + 6 * 3
    sandwich = TrainConfig(space="mlp", space_options=options, sampling="sandwich", num_random=2, steps=8)
    assert supernet_ranking.subnet_passes(sandwich) == 8 * 4


def test_the_decision_predictor_is_a_row_and_each_variant_shows_its_margin_over_it(tmp_path):
    from pathlib import Path

    from nas.decision_predictor import leave_one_out_scores, margin_over_predictor
    from nas.definition import get_definition

    # The committed 32-arch MLP ground truth (enough archs for the leave-one-out fit); nothing is trained.
    committed = Path(__file__).parents[2] / "experiments" / "results" / "ground-truth-mlp" / "results.json"
    gt = json.loads(committed.read_text())
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "results.json").write_text(committed.read_text())
    space = get_definition("mlp").make_space(**gt["space_options"])
    archs = [space.from_string(row["arch"]) for row in gt["archs"]]
    means = np.array([row["mean"] for row in gt["archs"]])
    params, macs = [row["params"] for row in gt["archs"]], [row["macs"] for row in gt["archs"]]
    noisy = (means + np.random.default_rng(1).normal(0, means.std(), means.size)).tolist()
    saved = {"ground_truth": {"space": "mlp", "space_options": gt["space_options"], "score": gt["score"],
                              "archs": len(archs), "partial": False, "arch_strings": [r["arch"] for r in gt["archs"]]},
             "variants": [{"variant": "noisy", "overrides": {}, "steps": 8, "subnet_passes": 24, "wall_seconds": 1.0,
                           "inherited": noisy}]}
    (tmp_path / "saved.json").write_text(json.dumps(saved))
    results = supernet_ranking.run(supernet_ranking.Config(ground_truth=str(tmp_path / "truth"), variants=(),
                                                           rescore_from=(str(tmp_path / "saved.json"),)),
                                   tmp_path / "run", progress=False)
    predictor = results["decision_predictor"]
    assert predictor["predicted"] == pytest.approx(leave_one_out_scores(archs, means, params=params, macs=macs))
    expected = margin_over_predictor(noisy, means, predictor, higher_is_better=True, cost=macs)
    (variant,) = results["variants"]
    assert variant["over_decisions"]["difference"] == pytest.approx(expected["difference"])
    # A ranker as noisy as the archs' spread ranks below a fit the decisions explain well.
    assert predictor["agreement"]["kendall_tau"] - variant["kendall_tau"] == pytest.approx(-expected["difference"])
    assert expected["difference"] < 0
    table = (tmp_path / "run" / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| decisions: "))
    assert row.startswith(f"| decisions: ridge fit to the other archs' stand-alone runs | "
                          f"{predictor['agreement']['kendall_tau']:.3f} [")
    noisy_row = next(line for line in table.splitlines() if line.startswith("| noisy |"))
    low, high = expected["interval"]
    assert noisy_row.split(" | ")[4] == f"{expected['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"
