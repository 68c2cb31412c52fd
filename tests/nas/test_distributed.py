"""The multi-process plumbing that needs no second process: the environment a member reads, the launcher
stopping the others when one fails, and the mesh of one process (unchanged by the per-process rule)."""
import subprocess
import sys
import time

import jax
import pytest

from nas.errors import ConfigError
from nas.train.distributed import Member, member_from_environment
from nas.train.launch import free_port, wait_for_all
from nas.train.parallel import data_mesh


def test_environment_names_a_member_or_none():
    assert member_from_environment({}) is None
    member = Member("localhost:1234", 2, 1)
    assert member_from_environment(member.environment()) == member


@pytest.mark.parametrize("environ, named", [
    ({"WEFT_PROCESS_ID": "0"}, "WEFT_COORDINATOR, WEFT_NUM_PROCESSES not set"),
    ({"WEFT_COORDINATOR": "localhost", "WEFT_NUM_PROCESSES": "2", "WEFT_PROCESS_ID": "0"}, "host:port"),
    ({"WEFT_COORDINATOR": "h:1", "WEFT_NUM_PROCESSES": "0", "WEFT_PROCESS_ID": "0"}, "integer >= 1"),
    ({"WEFT_COORDINATOR": "h:1", "WEFT_NUM_PROCESSES": "2", "WEFT_PROCESS_ID": "2"}, "in 0..1, got '2'"),
])
def test_a_wrong_environment_is_one_clear_error(environ, named):
    with pytest.raises(ConfigError, match=named):
        member_from_environment(environ)


def test_a_failed_process_stops_the_others_and_gives_its_status():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    failing = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    start = time.monotonic()
    assert wait_for_all([sleeper, failing]) == 3
    assert sleeper.poll() is not None and time.monotonic() - start < 30


def test_all_succeeding_is_status_zero():
    assert wait_for_all([subprocess.Popen([sys.executable, "-c", "pass"]) for _ in range(2)]) == 0


def test_one_process_mesh_is_the_first_devices():
    assert list(data_mesh(1).devices.flat) == jax.devices()[:1]
    assert 0 < free_port() < 65536
    with pytest.raises(ConfigError, match="1 are available|devices, but"):
        data_mesh(len(jax.devices()) + 1)


def test_num_processes_below_one_is_refused_before_anything_runs(tmp_path):
    from click.testing import CliRunner

    from nas.cli import main

    result = CliRunner().invoke(main, ["train", "--space", "mlp", "--data", "synthetic", "--num-processes", "0",
                                       "--run", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --num-processes must be an integer >= 1, got 0"
    assert not (tmp_path / "run").exists()
