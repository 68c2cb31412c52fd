"""Does the audit's stand-alone reference rank what longer training would? (`nas audit --horizon F`)

A stand-alone run of `steps` steps ranks how far each arch gets in that time; archs that learn slowly but
end better (deep, narrow ones) are ranked below where a fully trained copy would be. Seeds do not show it
(every seed shares the horizon), and neither does a run's own last quarter (under a cosine schedule it is
mostly annealing, which every arch gets alike; experiments/results/ground-truth-lm-4000/). So the check
trains every audited arch once more for F times the steps, with a seed none of the short runs used (so the
long run shares no initialisation or batch order with them), and compares like with like: each short seed
against the long run (one training against one training) with the short seeds against each other. Longer
training reorders the archs beyond noise when the paired bootstrap interval of that difference lies above 0.
The supernet's and the size rankers' agreement with the long runs is reported beside it: how the supernet
ranks at the horizon a deployed arch is trained to. The long runs live in `RUN/audit/horizon-xF/` and resume
like the audit's own.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nas.errors import ConfigError
from nas.rank_metrics import (bootstrap_draws, finite_or_none, kendall_tau, percentile_interval, ranking_report,
                              resampled, two_decimals)
from nas.standalone_truth import check_plan, seed_scores, train_items, work_order


def long_job(job: Path, factor: int) -> Path:
    return job / f"horizon-x{factor}"


def check_long_plan(job: Path, archs, factor: int, steps: int, arch_seed: int, seed: int) -> None:
    """Refuse a `horizon-xF/` of another plan before any training starts."""
    folder = long_job(job, factor)
    try:
        check_plan(folder / "plan.json", {"config": {"steps": factor * steps, "arch_seed": arch_seed, "seed": seed},
                                          "archs": [a.to_string() for a in archs]}, "nas audit --horizon")
    except ConfigError as error:
        raise ConfigError(f"{error}; it is left from another audit of this run: delete {folder} to check the "
                          "horizon again") from None


def train_long_runs(job: Path, archs, factor: int, steps: int, seed: int,
                    training: Callable[[str, int, int], object], *, workers: int, arch_seed: int, key: str,
                    progress: bool) -> list[float]:
    """Every arch once at `factor * steps` with `seed`; their test scores, in arch order."""
    folder, long_steps = long_job(job, factor), factor * steps
    train_items(folder, work_order(len(archs), (seed,), arch_seed),
                lambda index, s: training(archs[index].to_string(), s, long_steps),
                workers=workers, isolate=True,
                describe=(lambda i, s: f"audit: training arch {i + 1}/{len(archs)} alone for {long_steps} steps "
                                       f"(horizon check)") if progress else None)
    rows = seed_scores(folder, len(archs), (seed,), key)
    missing = [r["index"] for r in rows if not r["test"]]
    if missing:
        raise ConfigError(f"nas audit: the horizon runs of archs {missing} are held by another process; run the "
                          "same command again when it has finished them")
    return [r["test"][str(seed)] for r in rows]


def reordering(seed_table: np.ndarray, long_scores, *, resamples: int = 2000, seed: int = 0) -> dict:
    """Each short seed against the long run, and the short seeds against each other (Kendall tau, averaged
    over seeds and over seed pairs; the scores' orientation does not matter, as both sides share it), with the
    paired bootstrap interval of the difference (within minus across horizons)."""
    table, long_scores = np.asarray(seed_table, float), np.asarray(long_scores, float)
    draws = bootstrap_draws(len(long_scores), resamples=resamples, seed=seed)
    seeds = range(table.shape[1])
    pairs = list(itertools.combinations(seeds, 2))
    across = np.mean([resampled(kendall_tau, table[:, s], long_scores, draws) for s in seeds], axis=0)
    within = np.mean([resampled(kendall_tau, table[:, a], table[:, b], draws) for a, b in pairs], axis=0)
    low, high = percentile_interval(within - across)
    across_tau = float(np.mean([kendall_tau(table[:, s], long_scores) for s in seeds]))
    within_tau = float(np.mean([kendall_tau(table[:, a], table[:, b]) for a, b in pairs]))
    return {"across_horizons_kendall_tau": finite_or_none(across_tau),
            "seed_pair_kendall_tau": finite_or_none(within_tau),
            "excess_reordering": finite_or_none(within_tau - across_tau),
            "excess_reordering_interval": [finite_or_none(low), finite_or_none(high)]}


def horizon_report(rows: list[dict], long_scores: list[float], seeds: tuple[int, ...], *, factor: int, steps: int,
                   higher_is_better: bool, macs: list[int] | None, bands: int) -> dict:
    """The reordering statistics, and the short reference (seed mean), the supernet and size each against
    the long runs (`rows` as the audit builds them: "test" per seed, "mean", "inherited", "params")."""
    table = np.array([[r["test"][str(s)] for s in seeds] for r in rows])
    params = [r["params"] for r in rows]
    short = ranking_report([r["mean"] for r in rows], long_scores, higher_is_better=higher_is_better,
                           params=params, macs=macs, bands=bands, size_rows=False)  # the supernet's has them
    supernet = ranking_report([r["inherited"] for r in rows], long_scores, higher_is_better=higher_is_better,
                              params=params, macs=macs, bands=bands)
    return {"factor": factor, "steps": factor * steps, "scores": [float(s) for s in long_scores],
            **reordering(table, long_scores),
            "seed_mean_vs_long": short["ranker"], "supernet_vs_long": supernet["ranker"],
            "size_vs_long": {name: supernet[name] for name in ("params", "macs") if name in supernet}}


def horizon_note(result: dict) -> str:
    """The verdict's clause on the horizon: a caution when the audit's steps are below the supernet's, and
    what the horizon check found when it ran."""
    steps, supernet_steps = result.get("steps"), result.get("supernet_steps")
    short = steps is not None and supernet_steps is not None and steps < supernet_steps
    horizon = result.get("horizon")
    if not horizon:
        return (f"; caution: the archs trained alone {steps} steps against the supernet's {supernet_steps}, so the "
                f"reference ranks early learning speed; audit with --steps {supernet_steps} or more, or check it with "
                f"--horizon") if short else ""
    context = f"the supernet trained {supernet_steps} steps; " if short else ""
    low = horizon["excess_reordering_interval"][0]
    measured = (f"{context}one training at {steps} against one at {horizon['steps']} steps: tau "
                f"{two_decimals(horizon['across_horizons_kendall_tau'])}, two seeds at {steps}: "
                f"{two_decimals(horizon['seed_pair_kendall_tau'])}; the supernet ranks the {horizon['steps']}-step "
                f"runs at {two_decimals(horizon['supernet_vs_long']['kendall_tau'])}")
    if low is None:
        return f"; horizon check undefined ({measured})"
    if low > 0:
        return (f"; caution: training {horizon['factor']}x longer reorders the archs beyond seed noise "
                f"({measured}); judge against a longer --steps")
    return f"; no reordering beyond seed noise at {horizon['steps']} steps ({measured})"
