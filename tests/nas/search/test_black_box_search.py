"""The search loop on a black-box objective: records, resume without re-evaluation, kill and resume."""
import json

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from nas.search import BlackBoxEvaluator, SearchConfig, run_search
from nas.search.storage import open_storage

from .conftest import BLACK_BOX, nas_command

CONFIG = SearchConfig(searcher="evolution", trials=30, batch=6, objectives=("f1:min", "f2:min"),
                      reference={"f1": 1.1, "f2": 1.1}, options={"population_size": 10})


def counting(objective):
    calls = []

    def wrapped(arch):
        calls.append(arch.to_string())
        return objective(arch)
    return wrapped, calls


def test_search_records_every_trial_and_resumes_without_reevaluating(bench_dir, tmp_path):
    import zdt_bench

    objective, calls = counting(zdt_bench.objective)
    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, objective, outputs=("f1", "f2"))
    result = run_search(evaluator, tmp_path / "s", CONFIG, progress=False)
    assert len(result.records) == 30 and [r.number for r in result.records] == list(range(30))
    assert result.records[0].arch == zdt_bench.SPACE.smallest().to_string()  # seeds asked first
    for record in result.records:
        expected = zdt_bench.objective(zdt_bench.SPACE.from_string(record.arch))
        assert record.metrics == pytest.approx(expected) and record.values == pytest.approx((expected["f1"], expected["f2"]))
    assert len(calls) == len(set(calls)) == result.evaluated <= 30  # duplicates reuse recorded metrics
    assert 0 < result.hypervolume() <= 1.21

    again = run_search(evaluator, tmp_path / "s", CONFIG, progress=False)  # nothing left to do
    assert again.evaluated == 0 and len(again.records) == 30
    more = run_search(evaluator, tmp_path / "s", SearchConfig(**{**CONFIG.__dict__, "trials": 45}), progress=False)
    assert len(more.records) == 45 and len(calls) == len(set(calls))


def test_killed_search_resumes_without_reevaluating_finished_trials(bench_dir, tmp_path):
    log = tmp_path / "calls.log"
    args = ("search", "--run", str(tmp_path / "s"), *BLACK_BOX, "--searcher", "nsga2", "--trials", "40",
            "--batch", "5")
    killed = nas_command(bench_dir, *args, env={"BENCH_LOG": str(log), "BENCH_KILL_AT": "23"})
    killed.communicate(timeout=120)
    assert killed.returncode == -9
    study = optuna.load_study(study_name="search", storage=open_storage(tmp_path / "s" / "search.journal"))
    finished = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert 10 <= len(finished) < 40 and any(t.state == TrialState.RUNNING for t in study.get_trials())
    first_run = log.read_text().splitlines()

    resumed = nas_command(bench_dir, *args, env={"BENCH_LOG": str(log)})
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["trials"] == 40
    second_run = [line.split(" ", 1)[1] for line in log.read_text().splitlines()[len(first_run):]]
    finished_archs = {t.user_attrs["arch"] for t in finished}
    assert not finished_archs & set(second_run)  # no finished trial was evaluated again
    trials = study.get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 40
    assert not any(t.state == TrialState.RUNNING for t in trials)  # the killed batch was finished on resume
    assert sorted(t.number for t in trials) == list(range(len(trials)))


def test_constraint_budget_and_feasibility(bench_dir, tmp_path):
    import zdt_bench

    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, zdt_bench.objective, outputs=("f1", "f2"),
                                  metrics={"size": zdt_bench.size})
    config = SearchConfig(**{**CONFIG.__dict__, "constraints": ("size<=12",)})
    result = run_search(evaluator, tmp_path / "c", config, progress=False)
    for record in result.records:
        assert record.feasible == (record.metrics["size"] <= 12)
        assert record.violation == pytest.approx(max(0.0, record.metrics["size"] / 12 - 1))
    assert all(r.feasible for r in result.front())
    assert np.mean([r.feasible for r in result.records]) > 0.6  # evolution resamples infeasible children


def test_a_trial_orphaned_before_naming_its_arch_holds_no_slot(bench_dir, tmp_path, monkeypatch):
    import zdt_bench
    from nas.search import loop

    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, zdt_bench.objective, outputs=("f1", "f2"))
    run_search(evaluator, tmp_path / "s", SearchConfig(**{**CONFIG.__dict__, "trials": 10}), progress=False)
    study = optuna.load_study(study_name="search", storage=open_storage(tmp_path / "s" / "search.journal"))
    study._storage.create_new_trial(study._study_id)  # a worker killed right after creating its trial
    monkeypatch.setattr(loop, "_ORPHAN_SECONDS", 0.0)
    result = run_search(evaluator, tmp_path / "s", SearchConfig(**{**CONFIG.__dict__, "trials": 20}), progress=False)
    assert len(result.records) == 20
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.COMPLETE) == 20 and states.count(TrialState.FAIL) == 1


USER_OBJECTIVE = '''
from nas.space import AtLeast, IntRange, Sorted, Space

SPACE = Space("toy", [IntRange("depth", 1, 3), Sorted("width", max=256, steps=8),
                      Sorted("extra", max=64, steps=4, when=AtLeast("depth", 2))])


def fn(arch):  # any space of numbers
    return 1 - 1 / (1 + sum(arch.values())) ** 0.5
'''


@pytest.fixture
def user_module(tmp_path):
    """A module `NAME.py` holding SPACE and fn, in a folder that is not on sys.path; yields (folder, NAME)."""
    import sys

    name = f"user_objective_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_OBJECTIVE)
    yield tmp_path, name
    sys.modules.pop(name, None)


def _search(*args):
    from click.testing import CliRunner

    from nas.cli import main

    result = CliRunner().invoke(main, ["search", "--searcher", "random", "--trials", "6", "--quiet", *args])
    return result.exit_code, result.output


def test_objective_module_in_the_current_folder_is_found(user_module, monkeypatch):
    import sys

    folder, name = user_module
    monkeypatch.chdir(folder)
    path = list(sys.path)
    assert str(folder) not in path and "" not in path
    code, output = _search("--objective", f"{name}:fn", "--space", f"{name}:SPACE", "--objectives", "accuracy:max",
                           "--run", "runs/s")
    assert code == 0, output
    assert json.loads(output.splitlines()[-1])["trials"] == 6
    assert sys.path == path  # the folder was on sys.path for the import only


def test_objective_module_or_function_missing_is_one_line(user_module, monkeypatch):
    folder, name = user_module
    monkeypatch.chdir(folder)
    code, output = _search("--objective", "no_such_module:fn", "--space", f"{name}:SPACE", "--run", "runs/s")
    assert code == 2 and output.count("\n") == 1, output
    assert "cannot load objective 'no_such_module:fn': No module named 'no_such_module'" in output
    assert str(folder) in output  # where it looked
    code, output = _search("--objective", f"{name}:nothing", "--space", f"{name}:SPACE", "--run", "runs/s")
    assert code == 2 and output.count("\n") == 1, output
    assert f"module '{name}' has no attribute 'nothing'" in output
    assert not (folder / "runs").exists()


@pytest.mark.parametrize("space", ["SPACE", "mlp"])
def test_the_readme_black_box_command_runs_with_its_default_objectives(user_module, monkeypatch, space):
    # README: `nas search --objective my_module:fn --space S --run DIR`; fn returns one number (accuracy).
    folder, name = user_module
    monkeypatch.syspath_prepend(str(folder))
    run = folder / "runs" / "bb"
    code, output = _search("--objective", f"{name}:fn", "--space", f"{name}:{space}" if space == "SPACE" else space,
                           "--run", str(run))
    assert code == 0, output
    summary = json.loads(output.splitlines()[-1])
    assert summary["trials"] == 6 and set(summary["best"]) == {"arch", "accuracy"}


def test_black_box_search_defaults_to_its_outputs_and_params_where_given(bench_dir, tmp_path):
    import zdt_bench

    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, zdt_bench.objective, outputs=("f1", "f2"))
    result = run_search(evaluator, tmp_path / "a", SearchConfig(searcher="random", trials=4), progress=False)
    assert [str(o) for o in result.objectives] == ["f1:min", "f2:min"]
    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, lambda arch: zdt_bench.objective(arch)["f1"],
                                  outputs=("accuracy",), metrics={"params": zdt_bench.size})
    result = run_search(evaluator, tmp_path / "b", SearchConfig(searcher="random", trials=4), progress=False)
    assert [str(o) for o in result.objectives] == ["accuracy:max", "params:min"]


def test_a_resumed_search_says_so_on_stderr(bench_dir, tmp_path, capsys):
    import zdt_bench

    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, zdt_bench.objective, outputs=("f1", "f2"))
    config = SearchConfig(**{**CONFIG.__dict__, "trials": 6})
    run_search(evaluator, tmp_path / "s", config, progress=False)
    assert "resuming" not in capsys.readouterr().err
    run_search(evaluator, tmp_path / "s", SearchConfig(**{**CONFIG.__dict__, "trials": 9}), progress=False)
    assert capsys.readouterr().err.splitlines() == [
        f"resuming search {tmp_path / 's'}: 6 trials of study 'search' already finished"]


@pytest.mark.parametrize("study, accepted", [("my study: v=2", True), ("search", True), ("a/b", False),
                                             ("..", False), ("", False), ("x" * 101, False)])
def test_a_study_name_is_any_one_file_name(study, accepted):
    """Studies named before names were checked (spaces, ':' or '=') still resume; a path is refused."""
    from nas.errors import ConfigError

    config = SearchConfig(study=study)
    if accepted:
        config.check()
    else:
        with pytest.raises(ConfigError, match="is not a name; allowed: 1 to 100 characters"):
            config.check()
