"""Does the audit's stand-alone reference rank what longer training would? (`nas audit --horizon F`)

A stand-alone run of `steps` steps ranks how far each arch gets in that time; archs that learn slowly but
end better (deep, narrow ones) are ranked below where a deployed, fully trained copy would be. Seeds do not
show it (every seed shares the horizon), and neither does a run's own last quarter (under a cosine schedule
it is mostly annealing, which every arch gets alike; experiments/results/ground-truth-lm-4000/). So the
check trains every audited arch once more, seed 0, for F times the steps, and compares:
- the short reference (seed mean) with the long runs: Kendall tau with its interval, beside the seeds' own
  tau at the short horizon (what noise alone allows);
- the supernet and the size rankers against the long runs, so the user sees how the supernet ranks at the
  horizon they will deploy at.
The long runs live in `RUN/audit/horizon-xF/` and resume like the audit's own.
"""
from __future__ import annotations

import numpy as np

from nas.rank_metrics import ranking_report
from nas.standalone_truth import check_plan, seed_scores, train_items, work_order


def train_long_runs(job, archs, factor: int, steps: int, training, *, workers: int, arch_seed: int,
                    key: str, progress: bool) -> list[float]:
    """Seed 0 of every arch at `factor * steps`; its test scores, in arch order."""
    long_steps = factor * steps
    long_job = job / f"horizon-x{factor}"
    check_plan(long_job / "plan.json", {"config": {"steps": long_steps, "arch_seed": arch_seed},
                                        "archs": [a.to_string() for a in archs]}, "nas audit --horizon")
    train_items(long_job, work_order(len(archs), (0,), arch_seed),
                lambda index, seed: training(archs[index].to_string(), seed, long_steps),
                workers=workers, isolate=True,
                describe=(lambda i, s: f"audit: training arch {i + 1}/{len(archs)} alone for {long_steps} steps "
                                       f"(horizon check)") if progress else None)
    rows = seed_scores(long_job, len(archs), (0,), key)
    missing = [r["index"] for r in rows if not r["test"]]
    if missing:
        from nas.errors import ConfigError
        raise ConfigError(f"nas audit: the horizon runs of archs {missing} are held by another process; run the "
                          "same command again when it has finished them")
    return [r["test"]["0"] for r in rows]


def horizon_report(rows: list[dict], long_scores: list[float], *, factor: int, steps: int, pair_tau,
                   higher_is_better: bool, macs, bands: int) -> dict:
    """The short reference, the supernet and size, each against the long runs."""
    params = [r["params"] for r in rows]
    short = ranking_report([r["mean"] for r in rows], long_scores, higher_is_better=higher_is_better,
                           params=params, macs=macs, bands=bands)
    supernet = ranking_report([r["inherited"] for r in rows], long_scores, higher_is_better=higher_is_better,
                              bands=bands, params=params, macs=macs)
    return {"factor": factor, "steps": factor * steps, "scores": [float(s) for s in long_scores],
            "short_vs_long": short["ranker"], "seed_pair_kendall_tau": pair_tau,
            "supernet_vs_long": supernet["ranker"],
            "size_vs_long": {name: supernet[name] for name in ("params", "macs") if name in supernet}}


def horizon_note(result: dict) -> str:
    """The verdict's clause on the horizon: a caution when the audit's steps are below the supernet's, and
    the horizon check's finding when it ran."""
    steps, supernet_steps = result.get("steps"), result.get("supernet_steps")
    note = ""
    if steps is not None and supernet_steps is not None and steps < supernet_steps:
        note = (f"; caution: the archs trained alone {steps} steps against the supernet's {supernet_steps}, so the "
                f"reference ranks early learning speed; audit with --steps {supernet_steps} or more")
    horizon = result.get("horizon")
    if not horizon:
        return note
    fmt = lambda v: "n/a" if v is None or not np.isfinite(v) else f"{v:.2f}"  # noqa: E731
    tau = horizon["short_vs_long"]["kendall_tau"]
    high = horizon["short_vs_long"]["kendall_tau_interval"][1]
    seeds = horizon["seed_pair_kendall_tau"]
    supernet = horizon["supernet_vs_long"]["kendall_tau"]
    measured = (f"tau {fmt(tau)} between {steps} and {horizon['steps']} steps, seeds at {steps} agree at "
                f"{fmt(seeds)}; the supernet ranks the {horizon['steps']}-step runs at {fmt(supernet)}")
    if tau is None or seeds is None or high is None:
        return note + f"; horizon check undefined ({measured})"
    if high < seeds:
        return note + (f"; caution: longer training reorders the archs more than noise explains ({measured}); "
                       f"judge against a longer --steps")
    return note + f"; the ranking holds at {horizon['steps']} steps ({measured})"
