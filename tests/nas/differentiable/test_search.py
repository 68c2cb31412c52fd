"""`nas search-differentiable`: a stopped search resumes to the identical alpha, the derived arch is in the
space and exports, and bad input gets one line and exit 2 with nothing written."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.differentiable import arch_params
from nas.differentiable.search_run import DifferentiableConfig, search
from nas.errors import RunDirError
from nas.export import export_subnet, load_export
from nas.hardware.counters import load_counter
from nas.hardware.flops_proxy import FlopsProxy
from nas.hardware.predictor_io import save_predictor

MLP = {"max_layers": 2, "max_width": 16, "width_steps": 2}
CONFIG = DifferentiableConfig(space="mlp", space_options=MLP, method="gdas", steps=4, batch_size=8,
                              data="synthetic", limit_train=64, checkpoint_every=2, log_every=1)


def alpha_of(run):
    return arch_params.load(run / "alpha.json", arch_params_space(run))


def arch_params_space(run):
    from nas.definition import get_definition

    definition = get_definition("mlp")
    return definition.make_space(**definition.resolve_options(MLP, (28, 28, 1)))


def test_a_stopped_search_resumes_to_the_alpha_of_an_uninterrupted_one_and_derives_its_argmax(tmp_path):
    straight = search(CONFIG, tmp_path / "straight", progress=False)
    assert search(CONFIG, tmp_path / "stopped", progress=False, stop_at=2) is None
    # Resumed on another copy of the data (here: a record that says so), the search is refused.
    record = json.loads((tmp_path / "stopped" / "config.json").read_text())
    (tmp_path / "stopped" / "config.json").write_text(json.dumps(
        {**record, "data_fingerprints": {**record["data_fingerprints"], "train": "0" * 16}}))
    with pytest.raises(RunDirError, match="trained on other data than data 'synthetic' loads now: its train split"):
        search(CONFIG, tmp_path / "stopped", progress=False)
    (tmp_path / "stopped" / "config.json").write_text(json.dumps(record))
    resumed = search(CONFIG, tmp_path / "stopped", progress=False)
    space = arch_params_space(tmp_path / "straight")
    for name, values in alpha_of(tmp_path / "straight").items():
        np.testing.assert_array_equal(values, alpha_of(tmp_path / "stopped")[name])
    assert resumed["arch_string"] == straight["arch_string"] and resumed["search_seconds"] > 0
    assert search(CONFIG, tmp_path / "stopped", progress=False) == resumed  # re-running a finished search
    (tmp_path / "stopped" / "result.json").write_text("{cut")  # damaged: made again from the final checkpoint
    assert search(CONFIG, tmp_path / "stopped", progress=False)["arch_string"] == resumed["arch_string"]
    assert json.loads((tmp_path / "stopped" / "result.json").read_text())["arch_string"] == resumed["arch_string"]
    lines = [json.loads(line) for line in (tmp_path / "stopped" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4]  # alpha history, one line per logged step
    assert lines[-1]["alpha"] == {n: [round(float(v), 6) for v in a] for n, a in alpha_of(tmp_path / "straight").items()}
    # The derived arch is the argmax, in the space (exported in the slow test below).
    arch = space.from_string(straight["arch_string"])
    assert arch == arch_params.argmax_arch(space, alpha_of(tmp_path / "straight"))
    assert space.validate(json.loads((tmp_path / "straight" / "result.json").read_text())["arch"]) == arch


COMMAND = [sys.executable, "-m", "nas.cli", "search-differentiable", "--space", "mlp", "--option", "max_layers=2",
           "--option", "max_width=16", "--option", "width_steps=2", "--data", "synthetic", "--limit-train", "256",
           "--batch-size", "8", "--steps", "60", "--checkpoint-every", "3", "--method", "gdas", "--quiet"]


@pytest.mark.slow
def test_sigkill_then_the_same_command_resumes_to_identical_alpha_and_the_derived_arch_exports(tmp_path):
    def start(run):
        return subprocess.Popen(COMMAND + ["--run", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "JAX_PLATFORMS": "cpu"})

    straight = start(tmp_path / "straight")
    assert straight.wait(timeout=600) == 0, straight.stderr.read().decode()
    killed = tmp_path / "killed"
    process = start(killed)
    deadline = time.time() + 600
    while time.time() < deadline:  # kill once a few checkpoints exist, mid-run
        steps = [int(p.name) for p in (killed / "checkpoints").glob("[0-9]*")
                 if p.name.isdigit()] if (killed / "checkpoints").exists() else []
        if steps and max(steps) >= 9:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the search finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    resumed = start(killed)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
    for name, values in alpha_of(tmp_path / "straight").items():
        np.testing.assert_array_equal(values, alpha_of(killed)[name])
    # `nas export` takes the derived arch like any other: by its string, or the result file.
    arch_string = json.loads((killed / "result.json").read_text())["arch_string"]
    result = CliRunner().invoke(main, ["export", "--run", str(killed), "--arch", arch_string])
    assert result.exit_code == 0, result.output
    [out] = list((killed / "exports").iterdir())
    assert load_export(out).info["arch_string"] == arch_string
    out = export_subnet(killed, str(killed / "result.json"), out_dir=tmp_path / "from-result", progress=False)
    assert load_export(out).info["arch_string"] == arch_string


def other_space_predictor(path):
    counter = load_counter("nb201", {"channels": 4, "cells_per_stage": 1}, (28, 28, 1))
    return save_predictor(path, FlopsProxy(counter), space_spec="nb201", options={"channels": 4, "cells_per_stage": 1},
                          input_shape=(28, 28, 1), batch=1, device={}, device_fingerprint="test")


@pytest.mark.parametrize("arguments, names", [
    (["--method", "enas"], "unknown differentiable search method 'enas'; allowed: tangle, darts, gdas"),
    (["--latency-predictor", "P", "--latency-budget", "0"], "latency budget must be > 0 ms, got 0"),
    (["--latency-budget", "5"], "a latency budget needs a latency predictor"),
    (["--latency-predictor", "P"], "was fitted for space 'nb201'"),
])
def test_bad_input_gets_one_line_exit_2_and_writes_nothing(tmp_path, arguments, names):
    predictor = other_space_predictor(tmp_path / "nb201.json")
    arguments = [str(predictor) if a == "P" else a for a in arguments]
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["search-differentiable", "--space", "mlp", "--option", "max_layers=2",
                                       "--option", "max_width=16", "--option", "width_steps=2", "--data", "synthetic",
                                       "--steps", "2", "--run", str(run), *arguments])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: "), result.output
    assert names in result.output
    assert not run.exists()


def test_a_latency_penalty_from_a_predictor_fitted_at_the_deployment_resolution_penalises_latency_there(tmp_path):
    """As `nas search` does: the supernet trains on 28x28x1, the predictor was fitted at 56x56x1."""
    from types import SimpleNamespace

    import jax.numpy as jnp

    from nas.definition import get_definition
    from nas.differentiable.latency_penalty import load_latency_penalty

    definition = get_definition("mlp")
    deployed = definition.resolve_options(MLP, (56, 56, 1))
    counter = load_counter("mlp", deployed, (56, 56, 1))
    path = save_predictor(tmp_path / "deployed.json", FlopsProxy(counter, ms_per_mmac=200.0, offset_ms=0.5),
                          space_spec="mlp", options=deployed, input_shape=(56, 56, 1), batch=1, device={},
                          device_fingerprint="test")
    space = arch_params_space(tmp_path)
    session = SimpleNamespace(space=space, config=SimpleNamespace(space="mlp", space_options=MLP),
                              dataset=SimpleNamespace(input_shape=(28, 28, 1)))
    penalty = load_latency_penalty(session, path)
    largest = {d.name: jnp.asarray(np.eye(len(d))[len(d) - 1], jnp.float32) for d in space.free}
    expected = 200.0 * counter.count(space.largest())["macs"] / 1e6 + 0.5
    assert float(penalty.expected_ms(largest)) == pytest.approx(expected, rel=1e-5)
    at_training = load_counter("mlp", definition.resolve_options(MLP, (28, 28, 1)), (28, 28, 1))
    assert counter.count(space.largest())["macs"] > at_training.count(space.largest())["macs"]
