"""Bad input gets one clear error, and nothing already stored is lost."""
import json

import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.errors import ConfigError, RunDirError
from nas.search import BlackBoxEvaluator, SearchConfig, run_search
from nas.search.storage import StorageError

CONFIG = SearchConfig(searcher="random", trials=10, batch=5, objectives=("f1:min", "f2:min"))


@pytest.fixture
def finished_search(bench_dir, tmp_path):
    """A directory holding a 10-trial search; yields (evaluator, directory, journal bytes)."""
    import zdt_bench

    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, zdt_bench.objective, outputs=("f1", "f2"),
                                  metrics={"cost": lambda arch: 10.0 + sum(arch.values())})
    run_search(evaluator, tmp_path / "s", CONFIG, progress=False)
    journal = tmp_path / "s" / "search.journal"
    return evaluator, tmp_path / "s", journal.read_bytes()


def unchanged(directory, before: bytes) -> bool:
    return (directory / "search.journal").read_bytes() == before


def test_unknown_metric(finished_search):
    evaluator, directory, before = finished_search
    for change in ({"constraints": ("latency<=5ms",)}, {"objectives": ("f1:min", "flops:min")}):
        with pytest.raises(ConfigError, match=r"unknown metric '(latency|macs)'; allowed metrics: f1, f2, cost"):
            run_search(evaluator, directory, SearchConfig(**{**CONFIG.__dict__, **change}), progress=False)
    assert unchanged(directory, before)


def test_budget_nothing_satisfies(finished_search):
    evaluator, directory, before = finished_search
    config = SearchConfig(**{**CONFIG.__dict__, "constraints": ("cost<=5",), "study": "budgeted"})
    with pytest.raises(ConfigError, match=r"no arch satisfies cost<=5: the smallest arch has cost=10; "
                                          r"allowed: a budget >= 10"):
        run_search(evaluator, directory, config, progress=False)
    assert unchanged(directory, before)


@pytest.mark.parametrize("url, message", [
    ("sqlite:////nonexistent-weft-dir/trials.db", "cannot reach storage"),
    ("postgresql://user@localhost:notaport/db", "is malformed"),
    ("nosuchdb://somewhere/db", "is malformed"),
])
def test_bad_storage_urls(finished_search, url, message):
    evaluator, directory, before = finished_search
    with pytest.raises(StorageError, match=message):
        run_search(evaluator, directory, SearchConfig(**{**CONFIG.__dict__, "storage": url}), progress=False)
    assert unchanged(directory, before)


def test_directory_or_study_of_another_space(finished_search, tmp_path):
    import zdt_bench

    evaluator, directory, before = finished_search
    other = BlackBoxEvaluator(zdt_bench.OTHER, lambda arch: {"f1": 0.0, "f2": 0.0}, outputs=("f1", "f2"))
    with pytest.raises(RunDirError, match=r"belongs to space 'zdt1'.*not 'other'"):
        run_search(other, directory, CONFIG, progress=False)
    # The same storage given explicitly to a search of another space in another directory.
    config = SearchConfig(**{**CONFIG.__dict__, "storage": str(directory / "search.journal")})
    with pytest.raises(RunDirError, match=r"searched space 'zdt1'.*not 'other'"):
        run_search(other, tmp_path / "elsewhere", config, progress=False)
    # Other objectives on the same study are refused too.
    with pytest.raises(ConfigError, match="was started with objectives"):
        run_search(evaluator, directory, SearchConfig(**{**CONFIG.__dict__, "objectives": ("f2:min", "f1:min")}),
                   progress=False)
    assert unchanged(directory, before)


def test_cli_prints_one_line_and_exits_2(finished_search):
    _, directory, before = finished_search
    result = CliRunner().invoke(main, ["search", "--run", str(directory), "--space", "zdt_bench:SPACE",
                                       "--objective", "zdt_bench:objective", "--outputs", "f1,f2",
                                       "--objectives", "f1:min,f2:min", "--constraint", "latency<=5ms", "--quiet"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "unknown metric 'latency'" in result.output
    result = CliRunner().invoke(main, ["plot", "--run", str(directory / "nowhere")])
    assert result.exit_code == 2 and "holds no search" in result.output
    assert unchanged(directory, before)


def test_budget_on_an_evaluated_metric_that_nothing_meets_is_reported(bench_dir, tmp_path):
    # f1 is only known after evaluation, so it cannot be refused up front: the search says so at the end.
    result = CliRunner().invoke(main, ["search", "--run", str(tmp_path / "s"), "--space", "zdt_bench:SPACE",
                                       "--objective", "zdt_bench:objective", "--outputs", "f1,f2",
                                       "--objectives", "f1:min,f2:min", "--constraint", "f1<=-1", "--trials", "10",
                                       "--searcher", "random", "--quiet"])
    assert result.exit_code == 0
    assert "warning: none of the 10 trials satisfies f1<=-1" in result.output


@pytest.mark.parametrize("spec, budget", [("macs<=20M", 2e7), ("flops<=20M", 2e7), ("params<=1.5k", 1500.0), ("params<=50000", 5e4),
                                          ("latency<=5ms", 5.0), ("latency<=800us", 0.8), ("latency<=2", 2.0),
                                          ("5ms", 5.0)])
def test_budgets_take_the_units_of_their_metric(spec, budget):
    from nas.search.objectives import parse_constraint

    assert parse_constraint(spec).budget == pytest.approx(budget)


@pytest.mark.parametrize("spec, unit, allowed", [("macs<=2ms", "ms", "k, M or G"), ("params<=3s", "s", "k, M or G"),
                                                 ("latency<=5k", "k", "ms, us or s"),
                                                 ("latency<=5m", "m", "ms, us or s")])
def test_a_unit_of_the_wrong_kind_is_refused_not_reinterpreted(spec, unit, allowed):
    from nas.search.objectives import parse_constraint

    metric = spec.partition("<=")[0]
    with pytest.raises(ConfigError, match=f"unit '{unit}' does not fit metric '{metric}'") as raised:
        parse_constraint(spec)
    assert allowed in str(raised.value)


def test_flops_is_read_as_macs_its_current_name_in_objectives_budgets_outputs_and_saved_studies(bench_dir, tmp_path):
    import zdt_bench

    from nas.search.objectives import parse_constraint, parse_objective
    from nas.search.storage import JOURNAL_FILE, open_storage
    from nas.search.study import RECORD_KEY, load_study, trial_records

    assert (parse_objective("flops").metric, parse_constraint("flops<=2M").metric) == ("macs", "macs")
    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, lambda arch: {"accuracy": 0.5, "flops": 7.0},
                                  outputs=("accuracy", "flops"))
    assert evaluator.metric_names[:2] == ["accuracy", "macs"]
    assert evaluator.evaluate([zdt_bench.SPACE.largest()])[0]["macs"] == 7.0
    # A study begun before the rename, its objectives and budgets saved as flops, resumes as macs.
    config = SearchConfig(searcher="random", trials=4, batch=2, objectives=("accuracy:max", "macs:min"),
                          constraints=("macs<=10",))
    run_search(evaluator, tmp_path, config, progress=False)
    study = load_study(open_storage(tmp_path / JOURNAL_FILE), config.study)
    study.set_user_attr(RECORD_KEY, {**study.user_attrs[RECORD_KEY], "objectives": ["accuracy:max", "flops:min"],
                                     "constraints": ["flops<=10"]})
    result = run_search(evaluator, tmp_path, SearchConfig(**{**config.__dict__, "trials": 6}), progress=False)
    assert len(trial_records(load_study(open_storage(tmp_path / JOURNAL_FILE), config.study))) == 6
    assert result is not None


def test_a_search_moved_to_another_storage_searches_there_and_an_in_memory_one_is_refused(finished_search, tmp_path):
    from nas.search.storage import open_storage
    from nas.search.study import load_study, trial_records

    evaluator, directory, before = finished_search
    with pytest.raises(StorageError, match="in-memory database: its trials would be lost"):
        run_search(evaluator, directory, SearchConfig(**{**CONFIG.__dict__, "storage": "sqlite://"}), progress=False)
    # The searcher's saved state belongs to the journal it was told of: in a new database it starts anew
    # (before, it took its 10 journal trials as done and searched nothing there).
    url = f"sqlite:///{tmp_path / 'moved.db'}"
    run_search(evaluator, directory, SearchConfig(**{**CONFIG.__dict__, "storage": url}), progress=False)
    assert len(trial_records(load_study(open_storage(url), CONFIG.study))) == 10
    assert unchanged(directory, before)


def test_a_journal_cut_short_resumes_and_stays_readable_and_other_files_are_refused(finished_search, tmp_path,
                                                                                    capsys):
    from nas.search.storage import open_storage
    from nas.search.study import load_study

    evaluator, directory, before = finished_search
    journal = directory / "search.journal"
    journal.write_bytes(before[:-30])  # the last record's write interrupted
    load_study(open_storage(journal), CONFIG.study)  # a reader (a plot, an export) leaves the journal as it is
    assert journal.read_bytes() == before[:-30]
    more = SearchConfig(**{**CONFIG.__dict__, "trials": 12})
    run_search(evaluator, directory, more, progress=False)
    assert "its last record was cut short" in capsys.readouterr().err
    # Appending after a cut record made the journal unreadable from the second resume on.
    run_search(evaluator, directory, SearchConfig(**{**CONFIG.__dict__, "trials": 14}), progress=False)
    assert all(json.loads(line) for line in journal.read_text().splitlines())
    # No trial is lost: a trial whose end was cut stays claimed by its worker, here this live test process.
    trials = load_study(open_storage(journal), CONFIG.study).get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") + states.count("RUNNING") == len(trials) == 14 and states.count("RUNNING") <= 1
    # A file that is no journal (an SQLite database given as a path, a user's notes) is left as it is.
    for name, content in (("trials.db", b"SQLite format 3\x00\x10\x00\x01\x01"), ("notes.txt", b"my notes\n")):
        other = tmp_path / name
        other.write_bytes(content)
        message = "is not an Optuna journal" + (r" \(an SQLite database\? give sqlite:///" if name == "trials.db" else "")
        with pytest.raises(StorageError, match=message):
            run_search(evaluator, tmp_path / f"s-{name}", SearchConfig(**{**CONFIG.__dict__, "storage": str(other)}),
                       progress=False)
        assert other.read_bytes() == content
    with pytest.raises(StorageError, match="is a directory"):
        run_search(evaluator, tmp_path / "s-dir", SearchConfig(**{**CONFIG.__dict__, "storage": str(directory)}),
                   progress=False)
