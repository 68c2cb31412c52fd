"""The CLI: bad input gets one clear line and exit status 2, never a traceback, never lost data."""
import json

import click
import pytest
from click.testing import CliRunner

from nas.cli import main

TINY = ["--space", "mlp", "--option", "max_width=32", "--option", "width_steps=4", "--data", "synthetic",
        "--limit-train", "256", "--batch-size", "32", "--warmup-steps", "1", "--quiet"]


def run_cli(*args, env=None):
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    code, output = run_cli("train", *TINY, "--steps", "3", "--run", str(run))
    assert code == 0, output
    return run


def assert_clean_error(code, output, *fragments):
    assert code == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_train_writes_a_run_and_prints_accuracies(mlp_run):
    config = json.loads((mlp_run / "config.json").read_text())
    assert config["space"] == "mlp" and config["config"]["steps"] == 3
    assert (mlp_run / "summary.json").exists()


@pytest.mark.parametrize("args,fragments", [
    (["train", "--space", "resnet", "--run", "R"], ["unknown space 'resnet'", "mlp, mobilenetv3"]),
    (["train", *TINY, "--option", "depth=3", "--run", "R"], ["unknown option(s) depth", "allowed"]),
    (["train", *TINY, "--option", "max_width=wide", "--run", "R"], ["option 'max_width' must be int", "'wide'"]),
    (["train", *TINY, "--option", "novalue", "--run", "R"], ["key=value"]),
    (["train", *TINY, "--steps", "0", "--run", "R"], ["steps must be > 0"]),
    (["export", "--run", "nowhere", "--arch", "largest"], ["not a run directory"]),
])
def test_bad_arguments_get_one_line_errors(args, fragments, tmp_path):
    args = [str(tmp_path / "R") if a == "R" else a for a in args]
    assert_clean_error(*run_cli(*args), *fragments)


def test_bad_archs_get_one_line_errors(mlp_run):
    assert_clean_error(*run_cli("export", "--run", str(mlp_run), "--arch", '{"depth": 1}'),
                       "decision 'width_0' is missing", "allowed")
    assert_clean_error(*run_cli("export", "--run", str(mlp_run), "--arch", '{"depth": 1, "width_0": 100}'),
                       "width_0", "100", "allowed")
    assert_clean_error(*run_cli("export", "--run", str(mlp_run), "--arch", '{"depth": 1, "width_0": 8, "x": 1}'),
                       "unknown decision 'x'")
    assert not (mlp_run / "exports").exists()


def test_run_directory_of_another_space_is_refused_and_left_intact(mlp_run):
    before = {p.name: p.stat().st_mtime_ns for p in mlp_run.iterdir()}
    code, output = run_cli("train", "--space", "mobilenetv3", "--option", "width_mult=0.25", "--data", "synthetic",
                           "--limit-train", "256", "--steps", "2", "--quiet", "--run", str(mlp_run))
    assert_clean_error(code, output, "belongs to space 'mlp'")
    assert {p.name: p.stat().st_mtime_ns for p in mlp_run.iterdir()} == before


def test_missing_dataset_says_how_to_install_it(tmp_path):
    code, output = run_cli("train", "--space", "mlp", "--steps", "1", "--quiet", "--run", str(tmp_path / "r"),
                           env={"WEFT_FASHION_MNIST": str(tmp_path / "no-data")})
    assert_clean_error(code, output, "apt-get install dataset-fashion-mnist")
    assert not (tmp_path / "r").exists()


def test_rerunning_a_finished_run_keeps_its_checkpoints_and_drops_a_cut_off_metrics_line(mlp_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(mlp_run, run)
    metrics = run / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 4, "lo')  # a kill in the middle of a write
    checkpoints = {p: p.stat().st_mtime_ns for p in (run / "checkpoints").rglob("*")}
    code, output = run_cli("train", *TINY, "--steps", "3", "--run", str(run))
    assert code == 0, output
    assert {p: p.stat().st_mtime_ns for p in (run / "checkpoints").rglob("*")} == checkpoints
    assert all(json.loads(line)["step"] <= 3 for line in metrics.read_text().splitlines())


def test_spaces_describes_every_decision_of_one_space():
    code, output = run_cli("spaces", "--space", "mlp")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("mlp: 6 decisions")
    assert lines[1] == ("option bounds: max_layers >= 1, max_width >= 1, width_steps >= 1, in_features >= 1, "
                        "num_classes >= 1")
    decisions = {line.split()[0]: line.split(None, 2)[1:] for line in lines[2:]}
    assert list(decisions) == ["depth", "width_0", "width_1", "width_2", "width_3", "width_4"]
    assert decisions["depth"] == ["int_range", "(1, 2, 3, 4, 5)"]
    assert decisions["width_1"][0] == "sorted"
    assert decisions["width_1"][1].startswith("(64, 128,") and decisions["width_1"][1].endswith("when depth>=2")
    assert "when" not in decisions["width_0"][1]


def test_spaces_without_a_space_lists_one_line_per_space():
    from search_spaces import REGISTRY

    code, output = run_cli("spaces")
    assert code == 0, output
    assert [line.split(":")[0] for line in output.splitlines()] == sorted(REGISTRY)


def test_decision_lines_name_ties_and_shorten_long_value_lists():
    from nas.cli import decision_lines
    from nas.space import AtLeast, Choice, IntRange, Space, Tie

    space = Space("s", [IntRange("depth", 1, 20), Choice("op", ("a", "b"), when=AtLeast("depth", 3)),
                        Tie("op_copy", source="op")])
    lines = decision_lines(space)
    assert lines[0].split() == ["depth", "int_range", "(1,", "2,", "3,", "4,", "5,", "6,", "...,", "20)",
                                "[20", "values]"]
    assert lines[1].split() == ["op", "choice", "('a',", "'b')", "when", "depth>=3"]
    assert lines[2].split() == ["op_copy", "tie", "('a',", "'b')", "=", "op", "when", "depth>=3"]


def test_a_resumed_run_says_so_on_stderr(tmp_path):
    run = tmp_path / "run"
    first = CliRunner().invoke(main, ["train", *TINY, "--steps", "2", "--run", str(run)])
    assert first.exit_code == 0, first.output
    assert "resuming" not in first.stderr
    again = CliRunner().invoke(main, ["train", *TINY, "--steps", "3", "--run", str(run)])
    assert again.exit_code == 0, again.output
    assert again.stderr.splitlines().count(f"resuming {run} from step 2") == 1, again.stderr
    assert "resuming" not in again.stdout


def test_the_fashion_mnist_location_variable_is_documented():
    from pathlib import Path

    from nas.data import DEFAULT_ROOT, ROOT_ENV_VAR

    code, output = run_cli("train", "--help")
    assert code == 0, output
    help_text = " ".join(output.split())
    assert f"${ROOT_ENV_VAR}" in help_text and DEFAULT_ROOT in help_text
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"`{ROOT_ENV_VAR}=DIR`" in readme and DEFAULT_ROOT in readme


@pytest.mark.parametrize("error, fragments", [
    (IsADirectoryError(21, "Is a directory", "/data/x"), ["/data/x is a directory where a file belongs"]),
    (NotADirectoryError(20, "Not a directory", "/data/f/x"), ["/data/f/x: part of this path is a file"]),
    (IsADirectoryError(21, "Is a directory"), ["Is a directory; a path of the wrong kind", "move it away"]),
])
def test_a_path_of_the_wrong_kind_is_one_line_naming_it(error, fragments):
    """Raised with or without a file name, never "None is a directory"."""
    from nas.cli import _one_line_errors

    @_one_line_errors
    def command():
        raise error

    result = CliRunner().invoke(click.command()(command), [])
    assert_clean_error(result.exit_code, result.output, *fragments)
    assert "None" not in result.output
