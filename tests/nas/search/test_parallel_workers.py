"""Four worker processes on one journal storage: exactly the asked number of distinct finished trials."""
import json
from collections import Counter

import optuna
from optuna.trial import TrialState

from nas.search.storage import open_storage

from .conftest import BLACK_BOX, nas_command


def test_four_workers_share_one_journal(bench_dir, tmp_path):
    log = tmp_path / "calls.log"
    args = ("search", "--run", str(tmp_path / "s"), *BLACK_BOX, "--searcher", "evolution", "--trials", "200",
            "--batch", "5")
    workers = [nas_command(bench_dir, *args, "--worker", f"w{i}", "--seed", str(i),
                           env={"BENCH_LOG": str(log), "BENCH_SLEEP": "0.01",
                                "BENCH_BARRIER": f"{tmp_path / 'barrier'}:4"}) for i in range(4)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [w.returncode for w in workers] == [0] * 4, [err[-2000:] for _, err in outputs]

    study = optuna.load_study(study_name="search", storage=open_storage(tmp_path / "s" / "search.journal"))
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 200
    assert len({t.number for t in complete}) == 200
    assert sum(t.state.is_finished() for t in trials) == 200
    # Any other trial is a surplus claim from the race for the last slots: parked, never evaluated.
    assert all(t.state == TrialState.WAITING and t.user_attrs["surplus"] for t in trials
               if t.state != TrialState.COMPLETE)
    per_worker = Counter(t.user_attrs["worker"] for t in complete)
    # All four evaluated together (they start their first batch at a barrier), each at least that batch.
    assert len(per_worker) == 4 and min(per_worker.values()) >= 5, per_worker
    calls = Counter(line.split(" ", 1)[1] for line in log.read_text().splitlines())
    archs = Counter(t.user_attrs["arch"] for t in complete)
    assert set(calls) == set(archs)  # every recorded arch was evaluated, and nothing else
    print("per worker:", sorted(per_worker.values()), "evaluations:", sum(calls.values()),
          "distinct archs:", len(archs), "surplus:", len(trials) - 200,
          "summaries:", [json.loads(out.strip().splitlines()[-1])["evaluated_here"] for out, _ in outputs])
