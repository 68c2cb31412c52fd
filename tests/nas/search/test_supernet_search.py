"""Search on a trained supernet run: inherited weights, recorded metrics, plots, export of the winners."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.errors import ConfigError
from nas.evaluate import accuracy, make_masked_logits
from nas.lowering import count_params, slice_subnet, split
from nas.search import SearchConfig, SupernetEvaluator, run_search


@pytest.fixture(scope="module")
def trained_run(tiny_mlp_run):
    return tiny_mlp_run(max_layers=3, steps=40, limit_train=1024, calibration_images=256, eval_batch_size=256)


def test_search_scores_with_inherited_weights(trained_run):
    evaluator = SupernetEvaluator(trained_run)
    assert evaluator.execution == "masked"  # the MLP space has no switch execution ...
    with pytest.raises(ConfigError, match="space 'mlp' has no switch execution; allowed: --execution auto or masked"):
        SupernetEvaluator(trained_run, execution="switch")  # ... and asking for it is refused
    assert set(evaluator.metric_names) >= {"accuracy", "params"}
    result = run_search(evaluator, trained_run, SearchConfig(searcher="evolution", trials=16, batch=8),
                        progress=False)
    assert len(result.records) == 16
    session, state = evaluator.session, evaluator.state
    supernet = __import__("flax").nnx.merge(session.graphdef, state.params, state.stats)
    logits = make_masked_logits(session.graphdef, session.space)
    validation = session.dataset.validation
    for record in result.records[:3]:
        arch = session.space.from_string(record.arch)
        direct = accuracy(lambda x: logits(state.params, state.stats, x, arch.to_vector()), validation.inputs,
                          validation.labels, 256)
        assert record.metrics["accuracy"] == pytest.approx(direct, abs=1e-6)
        assert record.metrics["params"] == count_params(split(slice_subnet(supernet, arch))[1])
    assert result.hypervolume() > 0
    assert all(r.feasible for r in result.front())


def test_cli_search_plot_and_export_front(trained_run, tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["search", "--run", str(trained_run), "--study", "cli", "--searcher", "nsga2",
                               "--trials", "16", "--batch", "8", "--constraint", "params<=20000", "--quiet"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert summary["trials"] == 16 and summary["best"]["params"] <= 20000
    out = runner.invoke(main, ["export", "--run", str(trained_run), "--study", "cli", "--top", "1"])
    assert out.exit_code == 0, out.output
    exports = list((trained_run / "exports").glob("*/report.json"))
    assert len(exports) == 1
    exported = json.loads((exports[0].parent / "arch.json").read_text())["arch_string"]
    assert exported == summary["best"]["arch"]
    from nas.export import select_from_search

    front = select_from_search(trained_run, front=True, study="cli")
    out = runner.invoke(main, ["export", "--run", str(trained_run), "--study", "cli", "--front"])
    assert out.exit_code == 0, out.output
    exported_archs = {json.loads(p.read_text())["arch_string"] for p in (trained_run / "exports").glob("*/arch.json")}
    assert set(front) <= exported_archs and exported in front  # the most accurate feasible arch is on the front
    out = runner.invoke(main, ["plot", "--run", str(trained_run), "--study", "cli", "--out", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "p").glob("*.png")) == [
        "accuracy_vs_macs.png", "accuracy_vs_params.png", "hypervolume.png"]
    out = runner.invoke(main, ["export", "--run", str(trained_run), "--study", "cli", "--budget", "params<=1"])
    assert out.exit_code == 2 and "no feasible trial of the search has params<=1" in out.output
    out = runner.invoke(main, ["export", "--run", str(trained_run), "--front", "--top", "2"])
    assert out.exit_code == 2 and "exactly one of" in out.output


def test_latency_budget_from_a_predictor_file(trained_run, tmp_path):
    from nas.hardware.counters import load_counter
    from nas.hardware.flops_proxy import FlopsProxy
    from nas.hardware.predictor_io import save_predictor

    evaluator = SupernetEvaluator(trained_run)
    options = dict(evaluator.session.config.space_options)
    counter = load_counter("mlp", options)
    path = save_predictor(tmp_path / "latency.json", FlopsProxy(counter, ms_per_mmac=200.0, offset_ms=0.5),
                          space_spec="mlp", options=options, input_shape=(28, 28, 1), batch=1, device={},
                          device_fingerprint="test")
    runner = CliRunner()
    out = runner.invoke(main, ["search", "--run", str(trained_run), "--study", "latency", "--searcher", "rl",
                               "--objectives", "accuracy:max,latency:min", "--constraint", "latency<=3ms",
                               "--latency-predictor", str(path), "--trials", "16", "--quiet"])
    assert out.exit_code == 0, out.output
    from nas.search.study import load_front_inputs

    records, _, reference = load_front_inputs(trained_run, None, "latency")
    for record in records:
        expected = 200.0 * counter.count(evaluator.space.from_string(record.arch))["macs"] / 1e6 + 0.5
        assert record.metrics["latency"] == pytest.approx(expected, rel=1e-5)
        assert record.feasible == (record.metrics["latency"] <= 3.0)
    assert reference.tolist() == [0.0, 3.0]  # accuracy 0, the latency budget
    out = runner.invoke(main, ["export", "--run", str(trained_run), "--study", "latency", "--budget", "3ms"])
    assert out.exit_code == 0, out.output


def test_a_plain_supernet_search_does_not_time_the_scoring_cost(trained_run, monkeypatch):
    from nas.search import scoring_network

    timed = []
    monkeypatch.setattr(SupernetEvaluator, "scoring_cost", lambda self, *a, **k: timed.append("evaluator"))
    monkeypatch.setattr(scoring_network, "measure_scoring_cost", lambda *a, **k: timed.append("measure"))
    out = CliRunner().invoke(main, ["search", "--run", str(trained_run), "--study", "no-cost", "--searcher", "random",
                                    "--trials", "4", "--batch", "4", "--quiet"])
    assert timed == []  # nothing timed
    assert out.exit_code == 0, out.output
    assert "scoring cost" not in out.output and "scoring_cost" not in json.loads(out.output.splitlines()[-1])
    assert not (trained_run / "search-cost.no-cost.json").exists()


def figure_labels(monkeypatch) -> dict:
    """File name -> (x label, y label, title, legend) of every figure saved, read from its axes (not its pixels)."""
    from matplotlib.figure import Figure

    saved, savefig = {}, Figure.savefig

    def record(figure, path, *args, **kwargs):
        axes = figure.axes[0]
        legend = axes.get_legend()
        saved[Path(path).name] = (axes.get_xlabel(), axes.get_ylabel(), axes.get_title(),
                                  " ".join(t.get_text() for t in legend.get_texts()) if legend else "")
        return savefig(figure, path, *args, **kwargs)
    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def test_plot_axes_name_multiply_adds_and_the_split(trained_run, tmp_path, monkeypatch):
    runner = CliRunner()
    out = runner.invoke(main, ["search", "--run", str(trained_run), "--study", "labels", "--searcher", "random",
                               "--trials", "4", "--batch", "4", "--objectives", "accuracy:max,flops:min",
                               "--constraint", "flops<=1M", "--quiet"])
    assert out.exit_code == 0, out.output
    labels = figure_labels(monkeypatch)
    out = runner.invoke(main, ["plot", "--run", str(trained_run), "--study", "labels", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    x, y, title, legend = labels["accuracy_vs_macs.png"]  # flops: the former name
    assert (x, y) == ("multiply-adds per example", "validation accuracy")
    assert title.startswith("validation accuracy vs multiply-adds per example: 4 trials")
    assert labels["accuracy_vs_params.png"][:2] == ("parameters", "validation accuracy")
    assert "budget <= 1e+06" in legend
    assert "flops" not in " ".join(" ".join(texts) for texts in labels.values())


def test_a_study_keeps_its_split(trained_run):
    from nas.errors import ConfigError

    config = SearchConfig(searcher="random", trials=2, batch=2, study="split")
    run_search(SupernetEvaluator(trained_run, split="test", limit=64), trained_run, config, progress=False)
    with pytest.raises(ConfigError, match="scored the test split, this search scores the validation split"):
        run_search(SupernetEvaluator(trained_run, limit=64), trained_run, config, progress=False)


def test_axis_labels_name_units_and_only_put_a_split_on_scores():
    from nas.search.plot import axis_label

    assert axis_label("macs", "validation") == "multiply-adds per example"
    assert axis_label("latency", "test") == "latency (ms)"
    assert axis_label("bits_per_char", "test") == "test bits per character"
    assert axis_label("accuracy") == "accuracy"  # a black-box objective: no split
    assert axis_label("f1", "validation") == "f1"


def test_a_predictor_fitted_at_the_deployment_resolution_gives_latency_there(trained_run, tmp_path):
    """Once-for-All's practice: accuracy at the training inputs (28x28x1 here), latency at the predictor's."""
    from nas.definition import get_definition
    from nas.hardware.counters import load_counter
    from nas.hardware.flops_proxy import FlopsProxy
    from nas.hardware.predictor_io import save_predictor

    evaluator = SupernetEvaluator(trained_run)
    trained_options = dict(evaluator.session.config.space_options)
    deployed = get_definition("mlp").resolve_options(trained_options, (56, 56, 1))
    counter = load_counter("mlp", deployed, (56, 56, 1))
    path = save_predictor(tmp_path / "deployed.json", FlopsProxy(counter, ms_per_mmac=200.0, offset_ms=0.5),
                          space_spec="mlp", options=deployed, input_shape=(56, 56, 1), batch=1, device={},
                          device_fingerprint="test")
    out = CliRunner().invoke(main, ["search", "--run", str(trained_run), "--study", "deployed", "--trials", "8",
                                    "--objectives", "accuracy:max,latency:min", "--latency-predictor", str(path),
                                    "--quiet"])
    assert out.exit_code == 0, out.output
    from nas.search.study import load_front_inputs

    records, _, _ = load_front_inputs(trained_run, None, "deployed")
    at_training = load_counter("mlp", trained_options, (28, 28, 1))
    for record in records:
        arch = evaluator.space.from_string(record.arch)
        assert record.metrics["latency"] == pytest.approx(200.0 * counter.count(arch)["macs"] / 1e6 + 0.5, rel=1e-5)
        assert record.metrics["macs"] == at_training.count(arch)["macs"]  # the run's own inputs
    # Another space (a wider MLP has other decisions) at the deployment inputs is still refused in one line.
    wider = {**deployed, "max_width": 64}
    other = save_predictor(tmp_path / "wider.json", FlopsProxy(load_counter("mlp", wider, (56, 56, 1))),
                           space_spec="mlp", options=wider, input_shape=(56, 56, 1), batch=1, device={},
                           device_fingerprint="test")
    out = CliRunner().invoke(main, ["search", "--run", str(trained_run), "--study", "wider", "--trials", "8",
                                    "--latency-predictor", str(other), "--quiet"])
    assert out.exit_code == 2 and out.output.startswith("error: ") and len(out.output.strip().splitlines()) == 1
    assert "was fitted for space 'mlp'" in out.output, out.output
