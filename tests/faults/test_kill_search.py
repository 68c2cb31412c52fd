"""Two `nas search` workers on one journal storage, each SIGKILLed at a random point, then both run again:
the study ends with exactly the asked finished trials, every trial finished before the kills kept as it
was, and no finished trial evaluated again."""
import random
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from nas.search.storage import open_storage

from .conftest import SEEDS, count_lines, finish, kill_when, nas

TRIALS = 40


def worker(run, log, number):
    return nas("search", "--run", str(run), "--space", "objective:SPACE", "--objective", "objective:score",
               "--outputs", "error,size", "--objectives", "error:min,size:min", "--searcher", "evolution",
               "--trials", str(TRIALS), "--batch", "4", "--worker", f"w{number}", "--seed", str(number), "--quiet",
               env={"FAULT_LOG": str(log)})


def finished_trials(run) -> dict[int, tuple]:
    study = optuna.load_study(study_name="search", storage=open_storage(run / "search.journal"))
    return {t.number: (t.user_attrs["arch"], tuple(t.values)) for t in study.get_trials()
            if t.state == TrialState.COMPLETE}


def evaluations(log) -> Counter:
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter(line.split(" ", 1)[1] for line in lines if " " in line)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_killed_workers_resume_to_the_same_finished_trials(tmp_path, seed):
    run, log = tmp_path / "run", tmp_path / "calls.log"
    draw = random.Random(seed)
    # Each worker dies a while after the two together have made some number of evaluations.
    kills = sorted((draw.randrange(0, TRIALS - 8), draw.uniform(0.0, 0.3), number) for number in range(2))
    workers = [worker(run, log, n) for n in range(2)]
    killed = [number for evaluated, delay, number in kills
              if kill_when(workers[number], lambda evaluated=evaluated: count_lines(log) >= evaluated, delay)]
    for process in workers:
        process.communicate()
    before = finished_trials(run) if (run / "search.journal").exists() else {}
    evaluated_before = evaluations(log)
    print(f"seed {seed}: kills (evaluations, delay, worker) {[(e, round(d, 3), n) for e, d, n in kills]}: "
          f"killed {killed}, {len(before)} trials finished then")
    assert killed

    for process in [worker(run, log, n) for n in range(2)]:
        finish(process)
    after = finished_trials(run)
    assert len(after) == TRIALS
    assert {number: after.get(number) for number in before} == before  # nothing finished was lost or changed
    finished_archs = {arch for arch, _ in before.values()}
    again = evaluations(log) - evaluated_before
    assert not finished_archs & set(again)  # no finished trial was evaluated again
