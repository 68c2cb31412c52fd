"""Stand-alone training of many (arch, seed) pairs as one resumable job, and how far their seeds agree.

Shared by the ground-truth experiment and `nas audit`. A job directory holds `plan.json` (what the job
is: resuming with another plan is refused) and one `nas train` run per item, `arch-XX-seedS/`. Items are
claimed through `claims/` (`nas.claims`), so several processes, or `workers` threads each driving a child
process, share one job; a finished item (its `summary.json`) is never trained again.
"""
from __future__ import annotations

import itertools
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.claims import Claims
from nas.errors import ConfigError
from nas.interrupt import Terminated
from nas.json_files import read_json_object
from nas.rank_metrics import (band_tau, bootstrap_interval, finite_or_none, gaussian_tau, kendall_tau, pearson,
                              perfect_ranker_regret, perfect_ranker_tau, size_rankers, spearman, spearman_brown)
from nas.train.child import train_in_child
from nas.train.config import TrainConfig


def check_plan(path: Path, plan: dict, what: str) -> None:
    """Write `plan` to a new job's `path`, or check that an existing job's plan is the same.

    The error names the settings that differ: the keys of the plans' "config" when that is where they
    differ, else the plans' own keys (the archs, the space options).
    """
    plan = json.loads(json.dumps(plan))
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = None
        if not isinstance(saved, dict):
            raise ConfigError(f"{what}: {path} is damaged (not a JSON object); it records which archs and settings "
                              f"the finished runs beside it belong to: restore it, or use another directory")
        if saved != plan:
            raise ConfigError(f"{what}: {path.parent} was started with other settings ({_differences(saved, plan)}); "
                              "use the same options or another directory")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, plan, indent=1)


def item_name(index: int, seed: int) -> str:
    return f"arch-{index:02d}-seed{seed}"


def work_order(count: int, seeds, seed: int) -> list[tuple[int, int]]:
    """Archs in a shuffled order, each with all its seeds together: a job cut short still covers the cost
    range and already measures seed-to-seed agreement."""
    order = np.random.default_rng(seed).permutation(count)
    return [(int(index), s) for index in order for s in seeds]


def train_items(job: Path, items, training: Callable[[int, int], TrainConfig], *, workers: int = 1,
                isolate: bool = True, on_finished: Callable[[], None] | None = None,
                describe: Callable[[int, int], str] | None = None) -> None:
    """Train every unfinished, unclaimed item; `workers` at a time (each in a child process when > 1)."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    claims = Claims(job / "claims")
    pending = list(items)
    lock = threading.Lock()
    failures = []
    interrupted = threading.Event()  # set when this process is interrupted: every worker's child saves and stops

    def next_item():
        with lock:
            while pending:
                index, seed = pending.pop(0)
                name = item_name(index, seed)
                if not (job / name / "summary.json").exists() and claims.try_claim(name):
                    # Another process may have finished it and let go between the look and the claim.
                    if (job / name / "summary.json").exists():
                        claims.release(name)
                        continue
                    return index, seed
        return None

    def work():
        while not failures and not interrupted.is_set() and (item := next_item()) is not None:
            index, seed = item
            name = item_name(index, seed)
            started, earlier = time.monotonic(), _earlier_seconds(job / name)
            try:
                if describe:
                    print(describe(index, seed), flush=True)
                if isolate or workers > 1:
                    train_in_child(training(index, seed), job / name, stop=interrupted)
                else:
                    from nas.train.loop import train
                    train(training(index, seed), job / name, progress=False)
                (job / name / "wall_seconds.json").write_text(json.dumps(earlier + time.monotonic() - started))
                (job / name / PARTIAL_SECONDS).unlink(missing_ok=True)
            except BaseException as error:  # noqa: BLE001 - reported by the caller's thread below
                if isinstance(error, KeyboardInterrupt):
                    interrupted.set()
                if (job / name / "config.json").exists():  # its cost so far, which its resume adds to
                    (job / name / PARTIAL_SECONDS).write_text(json.dumps(earlier + time.monotonic() - started))
                failures.append(error)
            finally:
                claims.release(name)
            if on_finished and not failures:
                with lock:
                    on_finished()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers - 1)]
    for thread in threads:
        thread.start()
    try:
        work()
        for thread in threads:
            thread.join()
    except KeyboardInterrupt as interrupt:  # here between trainings (signals reach the main thread only)
        interrupted.set()
        failures.insert(0, interrupt)
        for thread in threads:
            thread.join()  # each worker's child saves its step, and the worker lets go of its claim
    if failures:
        # The interrupt this process got (SIGTERM's kind kept, for the exit code) before any worker's error.
        raise max(failures, key=lambda failure: (isinstance(failure, KeyboardInterrupt),
                                                 isinstance(failure, Terminated)))


PARTIAL_SECONDS = "wall_seconds.partial.json"  # the training time of sessions cut short, carried to the resume


def _earlier_seconds(run: Path) -> float:
    try:
        seconds = json.loads((run / PARTIAL_SECONDS).read_text())
    except (OSError, ValueError):
        return 0.0
    return float(seconds) if isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0 else 0.0


FINISHED_RUN_FILE = "the summary.json a finished training writes (delete it and run again: the training resumes " \
                    "from its last checkpoint and writes it anew)"


def _wall_seconds(path: Path) -> float | None:
    """A run's recorded training time; a damaged record is only the cost column's loss, so it is left out."""
    try:
        seconds = json.loads(path.read_text())
    except (OSError, ValueError):
        seconds = None
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds):
        return float(seconds)
    print(f"warning: {path} is damaged (not a number of seconds); that run's training time is left out",
          file=sys.stderr)
    return None


def _differences(saved: dict, plan: dict) -> str:
    """The settings that differ, with their values where they are short: the plans' "config" keys when that is
    where they differ, else the plans' own keys (the archs, the space options)."""
    def differ(a, b):
        return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    old, new = saved.get("config", {}), plan.get("config", {})
    if not (isinstance(old, dict) and isinstance(new, dict) and differ(old, new)):
        old, new = saved, plan

    keys = differ(old, new)
    values = "; ".join(f"{key}={old.get(key)!r} there, {new.get(key)!r} here" for key in keys)
    return f"{', '.join(keys)} differ" + (f": {values}" if len(values) <= 160 else "")


def seed_scores(job: Path, count: int, seeds, key: str) -> list[dict]:
    """Per arch: {"test": {seed: score}, "validation": {...}, "wall_seconds": {...}, "mean"} of what finished."""
    rows = []
    for index in range(count):
        scores, validation, seconds = {}, {}, {}
        for seed in seeds:
            path = job / item_name(index, seed)
            if (path / "summary.json").exists():
                summary = read_json_object(path / "summary.json", FINISHED_RUN_FILE, ConfigError).get("arch")
                if not isinstance(summary, dict) or key not in summary:
                    raise ConfigError(f"{path / 'summary.json'} holds no {key} of its arch; allowed: "
                                      f"{FINISHED_RUN_FILE}")
                scores[str(seed)] = summary[key]
                validation[str(seed)] = summary.get(key.replace("test_", "validation_"))
                recorded = _wall_seconds(path / "wall_seconds.json") if (path / "wall_seconds.json").exists() else None
                if recorded is not None:
                    seconds[str(seed)] = recorded
        rows.append({"index": index, "test": scores, "validation": validation, "wall_seconds": seconds,
                     "mean": float(np.mean(list(scores.values()))) if scores else None})
    return rows


def reliability(rows: list[dict], seeds, *, higher_is_better: bool, resamples: int = 1000, bands: int = 3) -> dict:
    """How well the seeds agree, over the archs every seed has finished (rows need "params" and "macs"), over
    the whole range and within `bands` cost bands (multiply-adds where known, else parameters)."""
    complete = [r for r in rows if len(r["test"]) == len(seeds)]
    report = {"complete_archs": len(complete), "seeds": len(seeds)}
    if len(complete) < 4:
        return report
    table = np.array([[r["test"][str(s)] for s in seeds] for r in complete])
    macs = [r["macs"] for r in complete]
    cost = [r["params"] for r in complete] if None in macs else macs
    pairs = []
    for a, b in itertools.combinations(range(len(seeds)), 2):
        low, high = bootstrap_interval(kendall_tau, table[:, a], table[:, b], resamples=resamples)
        pairs.append({"seeds": [seeds[a], seeds[b]], "kendall_tau": kendall_tau(table[:, a], table[:, b]),
                      "kendall_tau_interval": [low, high], "spearman": spearman(table[:, a], table[:, b]),
                      "pearson": pearson(table[:, a], table[:, b]),
                      "band_kendall_tau": band_tau(table[:, a], table[:, b], cost, bands=bands)["mean"]})
    mean_spearman = float(np.mean([p["spearman"] for p in pairs]))
    mean_pearson = float(np.mean([p["pearson"] for p in pairs]))
    mean_tau = float(np.mean([p["kendall_tau"] for p in pairs]))
    seed_mean = table.mean(axis=1)
    band_taus = [p["band_kendall_tau"] for p in pairs]
    pair_band_tau = float(np.mean(band_taus)) if None not in band_taus else float("nan")
    sizes = size_rankers(seed_mean, higher_is_better=higher_is_better, params=[r["params"] for r in complete],
                         macs=None if None in macs else macs, resamples=resamples, bands=bands)
    report.update({
        "pairs": pairs, "mean_pair_kendall_tau": mean_tau,
        "mean_pair_spearman": mean_spearman, "mean_pair_pearson": mean_pearson,
        "seed_mean_reliability_spearman": finite_or_none(spearman_brown(mean_spearman, len(seeds))),
        "seed_mean_reliability_pearson": finite_or_none(spearman_brown(mean_pearson, len(seeds))),
        # The tau a ranker knowing the noise-free scores reaches against the seed mean (the ceiling of
        # every ranker's tau here), and its expected budget regret from the seed mean's noise alone.
        "perfect_ranker_tau": finite_or_none(perfect_ranker_tau(mean_tau, len(seeds))),
        # The same within cost bands, where a budgeted search decides: seeds agree less there, as the archs
        # of one band differ less than the whole range does.
        "seed_pair_band_tau": finite_or_none(pair_band_tau),
        "perfect_ranker_band_tau": finite_or_none(perfect_ranker_tau(pair_band_tau, len(seeds))),
        "perfect_ranker_regret": None if None in macs else perfect_ranker_regret(
            table, macs, higher_is_better=higher_is_better),
        # The normal model's seed-vs-seed tau from Pearson, beside the observed: apart when noise is heavy-tailed.
        "modelled_pair_kendall_tau": finite_or_none(gaussian_tau(mean_pearson)),
        # One seed's spread around its arch's mean (unbiased over the seeds) against the archs' spread.
        "seed_noise_std": float(np.sqrt(np.mean(table.var(axis=1, ddof=1)))),
        "arch_spread_std": float(seed_mean.std(ddof=1)),
        "size_rankers": sizes,
    })
    return report
