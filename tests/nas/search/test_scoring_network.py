"""`nas search --supernet auto|single|mos|mixture`: which network scores the archs, and the mixture's cost per arch."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from flax import nnx

from nas.cli import main
from nas.errors import ConfigError
from nas.evaluate import accuracy, make_masked_logits
from nas.lowering import split
from nas.search import SearchConfig, SupernetEvaluator, run_search
from nas.search.scoring_network import family, measure_scoring_cost, plain_supernet, resolve
from nas.train.config import TrainConfig
from nas.train.loop import train
from search_spaces.mlp import MLP

TINY = {"space": "mlp", "space_options": {"max_width": 16, "width_steps": 4, "max_layers": 2}, "batch_size": 16,
        "data": "synthetic", "limit_train": 256, "checkpoint_every": 100, "log_every": 100, "warmup_steps": 1,
        "calibration_images": 32, "eval_batch_size": 64}
LIMIT = 128  # validation images scored


@pytest.fixture(scope="module")
def mos_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "mos"
    train(TrainConfig(**TINY, supernet="mos-layer", steps=20), run, progress=False)
    return run


@pytest.fixture(scope="module")
def few_shot_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "few-shot"
    train(TrainConfig(**TINY, supernet="few-shot", split_decision="depth", steps=20), run, progress=False)
    return run


def direct_accuracies(evaluator, network, archs) -> np.ndarray:
    """Each arch's validation accuracy with `network`'s own masked lowering, outside the batched scorer."""
    graphdef, params, stats = split(network)
    logits = make_masked_logits(graphdef, evaluator.space)
    validation = evaluator.session.dataset.validation
    return np.array([accuracy(lambda x, a=arch: logits(params, stats, x, a.to_vector()), validation.inputs[:LIMIT],
                              validation.labels[:LIMIT], 64) for arch in archs])


def trained_network(evaluator):
    return nnx.merge(evaluator.session.graphdef, evaluator.state.params, evaluator.state.stats)


@pytest.mark.parametrize("requested, trained, chosen", [
    ("auto", "single", "single"), ("single", "single", "single"),
    ("auto", "mos-layer", "mos"), ("mos", "mos-neuron", "mos"), ("single", "mos-layer", "single"),
    ("auto", "few-shot", "mixture"), ("mixture", "few-shot", "mixture"), ("single", "few-shot", "single"),
    ("mixture", "mixture", "mixture"), ("auto", "some-future-kind", "mixture"),
])
def test_resolve_picks_the_family(requested, trained, chosen):
    assert resolve(requested, trained) == chosen


@pytest.mark.parametrize("requested, trained, message", [
    ("mos", "few-shot", r"--supernet mos needs a run trained with --supernet mos-layer or mos-neuron; this run was "
                        r"trained with --supernet few-shot, so allowed: auto, single, mixture$"),
    ("mixture", "mos-layer", r"--supernet mixture needs a run trained with a mixture \(few-shot, routed\); this "
                             r"run was trained with --supernet mos-layer, so allowed: auto, single, mos$"),
    ("mos", "single", r"trained with --supernet single, so allowed: auto, single$"),
    ("mixture", "single", r"trained with --supernet single, so allowed: auto, single$"),
    ("moe", "single", r"unknown --supernet 'moe'; allowed: auto, single, mos, mixture"),
])
def test_resolve_refuses_a_mismatch(requested, trained, message):
    with pytest.raises(ConfigError, match=message):
        resolve(requested, trained)


def test_single_on_a_mos_run_scores_the_wrapped_supernet(mos_run):
    routed, plain = SupernetEvaluator(mos_run, limit=LIMIT), SupernetEvaluator(mos_run, limit=LIMIT, supernet="single")
    assert (routed.network.family, plain.network.family) == ("mos", "single")
    assert (routed.scoring_record, plain.scoring_record) == (None, "single")
    archs = list(plain.space.enumerate())
    wrapped = plain_supernet(trained_network(plain))
    assert type(wrapped) is MLP  # expert 0's kernels, no router
    single_scores = plain.accuracy(archs)
    np.testing.assert_allclose(single_scores, direct_accuracies(plain, wrapped, archs), atol=1e-6)
    # The router and experts trained for 20 steps: the routed kernels score some archs differently.
    assert not np.array_equal(routed.accuracy(archs), single_scores)


def test_single_on_a_few_shot_run_is_supernet_zero(few_shot_run):
    owned, plain = (SupernetEvaluator(few_shot_run, limit=LIMIT),
                    SupernetEvaluator(few_shot_run, limit=LIMIT, supernet="single"))
    assert (owned.network.family, plain.network.family) == ("mixture", "single")
    archs = list(plain.space.enumerate())
    network = trained_network(plain)
    np.testing.assert_allclose(plain.accuracy(archs), direct_accuracies(plain, network.supernets[0], archs),
                               atol=1e-6)
    # `auto` scores each arch with its owner: depth 2 archs with supernet 1.
    deep = [arch for arch in archs if arch["depth"] == 2]
    np.testing.assert_allclose(owned.accuracy(deep), direct_accuracies(owned, network.supernets[1], deep), atol=1e-6)


def test_cli_searchers_score_with_the_chosen_network_and_report_the_cost(mos_run):
    runner = CliRunner()
    wrapped = plain_supernet(trained_network(SupernetEvaluator(mos_run, limit=LIMIT)))
    for searcher, supernet, study in (("random", "single", "plain"), ("evolution", "auto", "routed"),
                                      ("nsga2", "mos", "routed-nsga2")):
        out = runner.invoke(main, ["search", "--run", str(mos_run), "--searcher", searcher, "--supernet", supernet,
                                   "--study", study, "--trials", "8", "--batch", "8", "--limit", str(LIMIT),
                                   "--quiet"])
        assert out.exit_code == 0, out.output
        summary = json.loads(out.output.strip().splitlines()[-1])
        report = json.loads((mos_run / f"search-cost.{study}.json").read_text())
        assert summary["scoring_cost"] == report
        assert report["scoring"] == ("single" if supernet == "single" else "mos")
        assert report["trained_supernet"] == "mos-layer" and report["archs_timed"] == 8
        assert report["single_seconds_per_arch"] > 0 and report["single_first_call_seconds"] > 0
        lines = [line for line in out.output.splitlines() if line.startswith("scoring cost: ")]
        assert len(lines) == 1
        if supernet == "single":
            assert report["mixture_seconds_per_arch"] is None and "no mixture" in lines[0]
            from nas.search.study import load_front_inputs

            records, _, _ = load_front_inputs(mos_run, None, study)
            evaluator = SupernetEvaluator(mos_run, limit=LIMIT, supernet="single")
            archs = [evaluator.space.from_string(r.arch) for r in records]
            np.testing.assert_allclose([r.metrics["accuracy"] for r in records],
                                       direct_accuracies(evaluator, wrapped, archs), atol=1e-6)
        else:
            assert report["mixture_seconds_per_arch"] > 0 and report["mixture_first_call_seconds"] > 0
            assert report["extra_cost_ratio"] > 0 and "extra cost x" in lines[0]
    # A study scored by one network is not resumed with another.
    out = runner.invoke(main, ["search", "--run", str(mos_run), "--searcher", "random", "--study", "plain",
                               "--trials", "16", "--limit", str(LIMIT), "--quiet"])
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [
        f"error: study 'plain' in {mos_run / 'search.journal'} was scored with --supernet single, this search scores "
        "with the run's own network; resume with the same --supernet or choose another --study"]


def test_cli_mismatch_is_one_line(few_shot_run, mos_run):
    runner = CliRunner()
    for run, supernet, trained, allowed in ((few_shot_run, "mos", "few-shot", "auto, single, mixture"),
                                            (mos_run, "mixture", "mos-layer", "auto, single, mos")):
        out = runner.invoke(main, ["search", "--run", str(run), "--supernet", supernet, "--study", "bad",
                                   "--trials", "4", "--quiet"])
        assert out.exit_code == 2
        assert out.output.count("\n") == 1 and "Traceback" not in out.output
        assert f"trained with --supernet {trained}, so allowed: {allowed}" in out.output
    out = runner.invoke(main, ["search", "--run", str(mos_run), "--space", "mlp", "--objective", "math:sqrt",
                               "--supernet", "single", "--quiet"])
    assert out.exit_code == 2 and "a black-box search (--objective) has none" in out.output


def test_cost_of_a_few_shot_run_through_the_library(few_shot_run, tmp_path):
    evaluator = SupernetEvaluator(few_shot_run, limit=LIMIT, supernet="mixture")
    result = run_search(evaluator, few_shot_run, SearchConfig(searcher="rl", trials=8, batch=8, study="rl"),
                        progress=False)
    assert len(result.records) == 8
    report = evaluator.scoring_cost([evaluator.space.from_string(r.arch) for r in result.records], repeats=1)
    assert report["scoring"] == "mixture" and report["trained_supernet"] == "few-shot"
    assert all(report[k] > 0 for k in ("mixture_seconds_per_arch", "single_seconds_per_arch", "extra_cost_ratio"))


def test_measure_scoring_cost_fields():
    calls = []
    report = measure_scoring_cost(lambda: calls.append("m"), lambda: calls.append("s"), 4, repeats=3, min_seconds=0)
    assert calls == ["m", "s"] * 4  # a first call of each, then alternated
    assert report["archs_timed"] == 4 and report["repeats"] == 3
    assert set(report) == {"archs_timed", "repeats", "single_seconds_per_arch", "single_first_call_seconds",
                           "mixture_seconds_per_arch", "mixture_first_call_seconds", "extra_cost_ratio"}
    alone = measure_scoring_cost(None, lambda: None, 4, repeats=1, min_seconds=1.0, max_repeats=5)
    assert alone["repeats"] == 5  # instant calls: repeated up to max_repeats
    assert alone["mixture_seconds_per_arch"] is None and alone["extra_cost_ratio"] is None
    assert family("mos-neuron") == "mos" and family("few-shot") == family("mixture") == "mixture"
