"""`nas search --finetune-top K`: the best feasible archs fine-tuned alone from the shared weights and re-ranked."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.finetuned_scores import finetuned_scores
from nas.search import SearchConfig, SupernetEvaluator, run_search
from nas.search.finetune_shortlist import finetune_shortlist


def test_the_shortlist_is_the_best_feasible_trials_and_the_pick_the_best_fine_tuned(trained_run):
    out = CliRunner().invoke(main, ["search", "--run", str(trained_run), "--study", "ft", "--trials", "10",
                                    "--batch", "5", "--constraint", "params<=12000", "--finetune-top", "3",
                                    "--finetune-steps", "4", "--quiet"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    report = json.loads((trained_run / "finetuned.ft.json").read_text())
    evaluator = SupernetEvaluator(trained_run)
    result = run_search(evaluator, trained_run, SearchConfig(trials=10, batch=5, study="ft",
                                                             constraints=("params<=12000",)), progress=False)
    feasible = sorted(result.feasible, key=lambda r: -r.metrics["accuracy"])
    assert len(feasible) < len(result.records)  # the budget excluded some archs, and they are not shortlisted
    assert [row["arch"] for row in report["shortlist"]] == [r.arch for r in feasible[:3]]
    assert all(row["params"] <= 12000 for row in report["shortlist"])
    # The fine-tuned scores are the module's, on the search's split (cached: the same numbers again).
    vectors = np.stack([evaluator.space.from_string(row["arch"]).to_vector() for row in report["shortlist"]])
    again = finetuned_scores(trained_run, vectors, steps=4, split="validation", metric="accuracy")["scores"]
    assert [row["finetuned"] for row in report["shortlist"]] == again.tolist()
    best = max(report["shortlist"], key=lambda row: row["finetuned"])
    assert summary["finetuned"]["best"]["arch"] == best["arch"] == report["best"]["arch"]
    assert report["changed_pick"] == (best["arch"] != feasible[0].arch)


def test_a_fine_tune_that_cannot_move_the_weights_keeps_the_search_pick(trained_run):
    evaluator = SupernetEvaluator(trained_run)
    result = run_search(evaluator, trained_run, SearchConfig(trials=8, batch=4, study="still"), progress=False)
    report = finetune_shortlist(trained_run, result, evaluator.space, top=4, steps=2, split="validation",
                                learning_rate=1e-12)
    assert [row["finetuned"] for row in report["shortlist"]] == pytest.approx(
        [row["inherited"] for row in report["shortlist"]], abs=1e-6)
    assert report["best"]["arch"] == result.best().arch and not report["changed_pick"]


def test_a_limited_search_fine_tunes_and_scores_on_the_same_examples(tiny_mlp_run):
    # The search scored the first 40 validation examples; a fine-tune that cannot move the weights must
    # give back those scores, not the whole split's (which differ: the run is trained too briefly to be
    # perfect on either).
    trained_run = tiny_mlp_run(steps=3)
    evaluator = SupernetEvaluator(trained_run, limit=40)
    result = run_search(evaluator, trained_run, SearchConfig(trials=6, batch=3, study="limited"), progress=False)
    report = finetune_shortlist(trained_run, result, evaluator.space, top=3, steps=2, split="validation",
                                learning_rate=1e-12, limit=40)
    assert report["limit"] == 40
    assert [row["finetuned"] for row in report["shortlist"]] == pytest.approx(
        [row["inherited"] for row in report["shortlist"]], abs=1e-6)
    whole = finetune_shortlist(trained_run, result, evaluator.space, top=3, steps=2, split="validation",
                               learning_rate=1e-12)
    assert [row["finetuned"] for row in whole["shortlist"]] != pytest.approx(
        [row["finetuned"] for row in report["shortlist"]], abs=1e-6)


@pytest.mark.parametrize("arguments, message", [
    (["--finetune-top", "0"], "--finetune-top and --finetune-steps must be >= 1, got 0 and 100"),
    (["--limit", "-5"], "--limit must be an integer >= 1 (the first N examples of the split), got -5"),
    (["--finetune-top", "2", "--objectives", "params:min,accuracy:max"],
     "the first objective, which must be a scored metric (accuracy, bits_per_char); it is 'params'"),
    (["--finetune-top", "2", "--space", "nosuch:x", "--objective", "m:f"],
     "a black-box search (--objective) has none: leave --finetune-top out")])
def test_a_shortlist_that_cannot_be_fine_tuned_is_refused_before_the_search(trained_run, arguments, message):
    out = CliRunner().invoke(main, ["search", "--run", str(trained_run), "--study", "refused", "--trials", "2",
                                    "--quiet", *arguments])
    assert out.exit_code != 0 and message in out.output, out.output
    assert not (trained_run / "finetuned.refused.json").exists()
