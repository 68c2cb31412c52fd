"""Search workers on a real PostgreSQL server (Debian's postgresql), started by the test on a free local port."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.search import BlackBoxEvaluator, SearchConfig, run_search
from nas.search.storage import StorageError, open_storage

from .conftest import BLACK_BOX, nas_command

pytestmark = pytest.mark.slow


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (the dev extra) for the PostgreSQL test")
    if _binary("initdb") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="weft-pg-"))  # not under pytest's root-only temp dirs
    data, port = root / "data", _free_port()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "start", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1"], check=True, capture_output=True)
    try:
        import psycopg

        for _ in range(50):
            try:
                connection = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                                             autocommit=True)
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        connection.execute("CREATE DATABASE weft")
        connection.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/weft"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("count, trials", [(4, 120), (8, 400)])
def test_workers_share_a_postgresql_storage(bench_dir, tmp_path, postgres, count, trials):
    study = f"search-{count}"
    args = ("search", "--run", str(tmp_path / "s"), *BLACK_BOX, "--searcher", "evolution", "--trials", str(trials),
            "--batch", "5", "--storage", postgres, "--study", study)
    env = {"BENCH_SLEEP": "0.01", "BENCH_BARRIER": f"{tmp_path / 'barrier'}:{count}"}
    workers = [nas_command(bench_dir, *args, "--worker", f"w{i}", "--seed", str(i), env=env) for i in range(count)]
    outputs = [worker.communicate(timeout=900) for worker in workers]
    assert [w.returncode for w in workers] == [0] * count, [err[-2000:] for _, err in outputs]
    stored = optuna.load_study(study_name=study, storage=open_storage(postgres)).get_trials()
    complete = [t for t in stored if t.state == TrialState.COMPLETE]
    assert len(complete) == trials and len({t.number for t in complete}) == trials  # none lost, none twice
    assert sum(t.state.is_finished() for t in stored) == trials
    assert len({t.user_attrs["worker"] for t in complete}) == count  # every worker took trials


def test_unreachable_postgresql_is_a_clear_error(bench_dir, tmp_path, postgres):
    import zdt_bench

    evaluator = BlackBoxEvaluator(zdt_bench.SPACE, zdt_bench.objective, outputs=("f1", "f2"))
    url = f"postgresql://postgres@127.0.0.1:{_free_port()}/weft"
    with pytest.raises(StorageError, match="cannot reach storage postgresql://postgres@127.0.0.1"):
        run_search(evaluator, tmp_path / "s", SearchConfig(objectives=("f1:min", "f2:min"), storage=url),
                   progress=False)
    assert not (tmp_path / "s").exists()
