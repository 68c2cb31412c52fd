"""Bad input gets one clear error, and nothing already stored is lost."""
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
        with pytest.raises(ConfigError, match=r"unknown metric '(latency|flops)'; allowed metrics: f1, f2, cost"):
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


@pytest.mark.parametrize("spec, budget", [("flops<=20M", 2e7), ("params<=1.5k", 1500.0), ("params<=50000", 5e4),
                                          ("latency<=5ms", 5.0), ("latency<=800us", 0.8), ("latency<=2", 2.0),
                                          ("5ms", 5.0)])
def test_budgets_take_the_units_of_their_metric(spec, budget):
    from nas.search.objectives import parse_constraint

    assert parse_constraint(spec).budget == pytest.approx(budget)


@pytest.mark.parametrize("spec, unit, allowed", [("flops<=2ms", "ms", "k, M or G"), ("params<=3s", "s", "k, M or G"),
                                                 ("latency<=5k", "k", "ms, us or s"),
                                                 ("latency<=5m", "m", "ms, us or s")])
def test_a_unit_of_the_wrong_kind_is_refused_not_reinterpreted(spec, unit, allowed):
    from nas.search.objectives import parse_constraint

    metric = spec.partition("<=")[0]
    with pytest.raises(ConfigError, match=f"unit '{unit}' does not fit metric '{metric}'") as raised:
        parse_constraint(spec)
    assert allowed in str(raised.value)
