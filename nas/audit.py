"""`nas audit`: should you trust this supernet's ranking? Measured on archs of its own space.

    nas audit --run runs/NAME [--archs 16] [--steps S] [--seeds 2] [--workers W] [--horizon F]
              [--finetune-steps T]

Draws `archs` archs of the run's space stratified over cost (multiply-adds where the space has a cost
model, else parameters of the sliced subnet), trains each alone from scratch `seeds` times with the run's
data, split and optimiser settings (`steps` each, default the run's), scores the same archs with the
run's shared weights (BN recalibrated, as `nas search` scores), and reports:
- the ground truth's own reliability (seed vs seed tau, Spearman-Brown reliability of the seed mean) and
  the ceiling it sets: the tau and budget regret a ranker knowing the noise-free scores would show;
- the supernet's Kendall tau and Spearman against the seed means, with bootstrap 95% intervals, tau
  within cost bands, top-5 recall and the regret of its pick at three budgets;
- the same for the size rankers (parameters, multiply-adds) on the same archs, and for a ridge regression
  of the stand-alone score on the decisions and size, each arch predicted from the others' runs
  (`nas.decision_predictor`), with the supernet's paired margin over it;
- what the supernet's errors lean toward: the decisions it favours at equal stand-alone score and cost
  (`nas.rank_bias`), which every budgeted pick inherits;
- with `--finetune-steps T`, the same for the archs' scores after T steps of stand-alone fine-tuning each
  from the shared weights (`nas.finetuned_scores`): whether a shortlist re-ranked that way can be trusted;
- with `--horizon F`, whether the reference's ranking holds when every arch trains F times longer
  (`nas.audit_horizon`);
- one verdict line, `RUN/audit/audit.json` and `RUN/audit/audit.png`.

The stand-alone trainings live in `RUN/audit/` and resume; other processes running the same command
share them (`nas.claims`). Adding seeds later trains only the new ones.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.audit_config import AuditConfig
from nas.audit_horizon import check_long_plan, horizon_note, horizon_report, train_long_runs
from nas.data import stored_input_shape
from nas.decision_predictor import rival_report
from nas.definition import get_definition
from nas.errors import ConfigError
from nas.rank_bias import leans, ranking_biases
from nas.rank_metrics import cost_bands, ranking_report, signed, two_decimals
from nas.run_dir import RunDir
from nas.standalone_truth import check_plan, reliability, seed_scores, train_items, work_order
from nas.stratified import stratified_archs
from nas.train.config import TrainConfig
from nas.train.loop import trained_config

TRUSTED_RELIABILITY = 0.7   # below it, the stand-alone reference cannot judge a ranker
TRUSTED_BAND_TAU = 0.5      # a cost band where the supernet ranks at least this well is usable


def standalone_config(trained: TrainConfig, arch: str, seed: int, steps: int) -> TrainConfig:
    """The run's data, split and optimiser, one arch trained alone from scratch."""
    return dataclasses.replace(
        trained, steps=steps, sampling="standalone", arch=arch, distillation="none", seed=seed, num_random=1,
        num_archs=1, sorted_decisions=("*",), sorted_axes=(), supernet="single", experts=None,
        split_decision=None, balance_weight=None, resort=False, execution="masked", devices=1,
        sandwich_smallest=True, own_endpoints=False,
        checkpoint_every=max(steps // 4, 1))


def arch_costs(definition, options: dict, input_shape: tuple, space):
    """(cost name, cost of int32 arch vectors, {"macs", "params"} of one arch) for the run's space.

    Multiply-adds through the space's cost model; a space without one (a user's own, for instance) is
    measured by the parameters of its sliced subnets.
    """
    from nas.hardware.cost_model import CostModelError, resolve_cost_model
    from nas.hardware.counters import CostCounter

    try:
        counter = CostCounter(space, resolve_cost_model(definition, options, input_shape))
        return "macs", (lambda v: np.asarray(counter.macs(v), float)), counter.count
    except CostModelError:
        pass
    from nas.lowering import split
    from nas.search.evaluators import sliced_params

    count = sliced_params(*split(definition.build(options, seed=0)[1]))

    def params(arch) -> int:
        return int(count(arch))

    return ("params", lambda vectors: np.array([params(space.from_vector(v)) for v in np.asarray(vectors)], float),
            lambda arch: {"macs": None, "params": params(arch)})


def audit(run_path: str | Path, config: AuditConfig = AuditConfig(), *, progress: bool = True) -> dict:
    config.check()
    run = RunDir.open(run_path)
    record = run.read_config()
    trained = trained_config(run, record)
    if not run.summary_file.exists():
        raise ConfigError(f"nas audit: {run.path} has not finished training (no summary.json); finish it with the "
                          "same `nas train` command first")
    definition = get_definition(trained.space)
    options, input_shape = record["space_options"], stored_input_shape(record)
    space = definition.make_space(**options)
    cost_name, cost_of, count = arch_costs(definition, options, input_shape, space)
    archs = stratified_archs(space, cost_of, config.archs, strata=config.strata, seed=config.arch_seed,
                             pool=4096 if cost_name == "macs" else 512)
    costs = [count(a) for a in archs]
    steps = config.steps or trained.steps
    text = definition.inputs == "tokens"
    job = run.path / "audit"
    check_plan(job / "plan.json", {
        "config": {"archs": config.archs, "steps": steps, "strata": config.strata, "arch_seed": config.arch_seed},
        "archs": [a.to_string() for a in archs]}, "nas audit")
    seeds = tuple(range(config.seeds))
    long_seed = config.seeds  # none of the short runs' seeds: the long run shares no initialisation or batch order
    if config.horizon:
        check_long_plan(job, archs, config.horizon, steps, config.arch_seed, long_seed)
    train_items(job, work_order(len(archs), seeds, config.arch_seed),
                lambda index, seed: standalone_config(trained, archs[index].to_string(), seed, steps),
                workers=config.workers, isolate=True,
                describe=(lambda i, s: f"audit: training arch {i + 1}/{len(archs)} alone, seed {s}") if progress
                else None)
    key = "test_bits_per_char" if text else "test_accuracy"
    long_scores = train_long_runs(
        job, archs, config.horizon, steps, long_seed, functools.partial(standalone_config, trained),
        workers=config.workers, arch_seed=config.arch_seed, key=key, progress=progress) if config.horizon else None
    rows = seed_scores(job, len(archs), seeds, key)
    missing = [r["index"] for r in rows if len(r["test"]) < len(seeds)]
    if missing:
        raise ConfigError(f"nas audit: stand-alone runs of archs {missing} are held by another process; run the "
                          "same command again when it has finished them")
    from nas.inherited_scores import score_archs

    vectors, metric = np.stack([a.to_vector() for a in archs]), "bits_per_char" if text else "accuracy"
    inherited = score_archs(run.path, vectors, split="test", metric=metric)
    for row, arch, cost, score in zip(rows, archs, costs, inherited):
        row.update({"arch": arch.to_string(), "macs": cost["macs"], "params": cost["params"],
                    "inherited": float(score)})
    truth = np.array([r["mean"] for r in rows])
    agreement = functools.partial(ranking_report, reference=truth, higher_is_better=not text,
                                  params=[r["params"] for r in rows],
                                  macs=[r["macs"] for r in rows] if cost_name == "macs" else None, bands=config.bands)
    ground = reliability(rows, seeds, higher_is_better=not text, bands=config.bands)
    cost = np.array([r[cost_name] for r in rows], float)
    lean = functools.partial(ranking_biases, archs, reference=truth, cost=cost, higher_is_better=not text,
                             seed_table=np.array([[r["test"][str(s)] for s in seeds] for r in rows]))
    result = {"run": str(run.path), "space": trained.space, "score": key,
              "higher_is_better": not text, "cost": cost_name, "steps": steps, "supernet_steps": trained.steps,
              "seeds": config.seeds,
              "archs": rows, "ground_truth": ground, "agreement": agreement(inherited), "leans": lean(inherited),
              "decision_predictor": rival_report(
                  archs, inherited, truth, higher_is_better=not text, params=[r["params"] for r in rows],
                  macs=[r["macs"] for r in rows] if cost_name == "macs" else None, bands=config.bands),
              "bands": band_ranges(cost, config.bands)}
    if config.finetune_steps:
        from nas.finetuned_scores import finetuned_scores

        tuned = finetuned_scores(run.path, vectors, steps=config.finetune_steps, split="test", metric=metric,
                                 progress=progress)
        for row, score in zip(rows, tuned["scores"]):
            row["finetuned"] = float(score)
        result["finetuned"] = {"steps": config.finetune_steps, "learning_rate": tuned["learning_rate"],
                               "seconds": tuned["seconds"], "agreement": agreement(tuned["scores"]),
                               "leans": lean(tuned["scores"])}
    if long_scores is not None:
        result["horizon"] = horizon_report(
            rows, long_scores, seeds, factor=config.horizon, steps=steps,
            higher_is_better=not text, macs=[r["macs"] for r in rows] if cost_name == "macs" else None,
            bands=config.bands)
    result["verdict"] = verdict(result)
    write_json_atomically(job / "audit.json", result, indent=1)
    plot(result, job / "audit.png")
    return result


def band_ranges(cost: np.ndarray, bands: int) -> list[list[float]]:
    band = cost_bands(cost, bands)
    return [[float(cost[band == b].min()), float(cost[band == b].max())] for b in range(bands)]


def verdict(result: dict) -> str:
    """One line: whether to trust the ranking, against the ground truth's reliability and size alone, the
    same for the fine-tuned scores where they were measured, and what is known of the reference's horizon
    (`nas.audit_horizon`)."""
    line = (_judgement(result, result["agreement"], "the supernet") + _lean_note(result.get("leans"))
            + _predictor_note(result.get("decision_predictor")))
    tuned = result.get("finetuned")
    if tuned:
        line += (f" | after a {tuned['steps']}-step stand-alone fine-tune of each arch ({tuned['seconds']:.0f} s in "
                 f"all), " + _judgement(result, tuned["agreement"], "the fine-tuned supernet")
                 + _lean_note(tuned.get("leans")))
    return line + horizon_note(result)


def _predictor_note(rival: dict | None) -> str:
    """How the supernet compares with a ridge fit to the other audited archs' stand-alone scores
    (`nas.decision_predictor`): the rival a user could build from the audit's own runs, without shared weights."""
    if not rival or "undefined" in rival:
        return ""
    margin = rival["ranker_margin"]
    low, high = margin["interval"]
    difference = margin["difference"]
    if low is not None and low > 0:
        judged = "clearly better: the shared weights add what these runs alone do not show"
    elif difference is not None and difference <= 0:
        judged = "no better: the shared weights add nothing these runs do not show"
    else:
        judged = "better, but not clearly"
    return (f"; a ridge on the decisions and size fit to the other audited archs ranks them at tau "
            f"{two_decimals(rival['agreement']['kendall_tau'])}, the supernet {signed(difference)} "
            f"[95% {signed(low)}, {signed(high)}] against it ({judged})")


def _lean_note(biases: dict | None) -> str:
    """The ranker's clear leans (`nas.rank_bias`): what its errors favour, which every budgeted pick inherits."""
    words = leans(biases) if biases else ""
    return f"; at equal stand-alone score and cost it favours {words}" if words else ""


def _judgement(result: dict, agreement: dict, subject: str) -> str:
    """The verdict on one ranker's `agreement` (`rank_metrics.ranking_report`) with the audit's ground truth."""
    ranker = agreement["ranker"]
    tau, (low, high) = ranker["kendall_tau"], ranker["kendall_tau_interval"]
    sizes = [agreement[n]["kendall_tau"] for n in ("params", "macs") if n in agreement]
    size_tau = max([t for t in sizes if t is not None], default=float("nan"))
    # "Clearly better than size" is the paired bootstrap of the difference (`rank_metrics.margin_over_size`):
    # the rankers scored on the same resampled archs, so what both taus owe to which archs were drawn cancels.
    over_size = ranker.get("over_size", {})
    margin = over_size.get("kendall_tau", {})
    margin_low, margin_high = margin.get("interval", (None, None))
    reliable = result["ground_truth"].get("seed_mean_reliability_spearman")
    fmt = two_decimals
    ceiling = result["ground_truth"].get("perfect_ranker_tau")
    measured = (f"tau {fmt(tau)} [95% {fmt(low)}, {fmt(high)}] vs size alone {fmt(size_tau)}, a difference of "
                f"{signed(margin.get('difference'))} [95% {signed(margin_low)}, {signed(margin_high)}]; ground-truth "
                f"reliability {fmt(reliable)}, ceiling tau {fmt(ceiling)}")
    if reliable is None or not np.isfinite(reliable) or reliable < TRUSTED_RELIABILITY:
        return (f"inconclusive: the stand-alone runs disagree with each other (reliability {fmt(reliable)} < "
                f"{TRUSTED_RELIABILITY}); train them longer (--steps) or add --seeds before judging ({measured})")
    per_band = ranker.get("band_tau", {}).get("per_band", [])
    unit = "MACs" if result["cost"] == "macs" else "params"
    good_bands = [f"{lo:,.0f}-{hi:,.0f} {unit}" for t, (lo, hi) in zip(per_band, result["bands"])
                  if t is not None and t >= TRUSTED_BAND_TAU]
    # Within bands, where a budgeted search decides and size says least: the same paired test, then where
    # the supernet's own band tau is usable at all.
    band_margin = over_size.get("band_tau", {})
    band_low, band_high = band_margin.get("interval", (None, None))
    clearly = "clearly better than size there" if band_low is not None and band_low > 0 else "not clearly better than size there"
    bands = (f"; within cost bands tau {fmt(ranker.get('band_tau', {}).get('mean'))} (ceiling "
             f"{fmt(result['ground_truth'].get('perfect_ranker_band_tau'))}), "
             f"{signed(band_margin.get('difference'))} [95% {signed(band_low)}, {signed(band_high)}] over size ({clearly})"
             + (f"; it ranks well (band tau >= {TRUSTED_BAND_TAU}) in {', '.join(good_bands)}" if good_bands
                else f"; it ranks well (band tau >= {TRUSTED_BAND_TAU}) in no cost band"))
    if tau is None or not np.isfinite(size_tau) or margin_low is None:
        return f"inconclusive: the rankings are undefined (ties) ({measured})"
    if margin_low > 0:
        return f"trust: {subject} ranks clearly better than size alone ({measured}){bands}"
    if (margin.get("difference") or 0.0) > 0:
        return f"weak: {subject} ranks better than size alone, but not clearly ({measured}){bands}"
    return f"do not trust: {subject} ranks no better than sorting by size ({measured}){bands}"


def plot(result: dict, path: Path) -> None:
    """The supernet's scores against the stand-alone seed means, by cost band; with fine-tuned scores, a
    panel of those; with a horizon check, a panel of the seed means against the longer runs (points off the
    diagonal's order moved)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, horizon, tuned = result["archs"], result.get("horizon"), result.get("finetuned")
    fmt, score = two_decimals, result["score"]

    def tau_title(name: str, ranker: dict) -> str:
        low, high = ranker["kendall_tau_interval"]
        return f"{result['space']}: {name} tau {fmt(ranker['kendall_tau'])} [{fmt(low)}, {fmt(high)}]"

    panels = [([r["inherited"] for r in rows], tau_title("supernet", result["agreement"]["ranker"]),
               f"inherited {score} (supernet)")]
    if tuned:
        panels.append(([r["finetuned"] for r in rows], tau_title("fine-tuned", tuned["agreement"]["ranker"]),
                       f"{score} after {tuned['steps']} fine-tune steps per arch"))
    if horizon:
        panels.append((horizon["scores"], f"one training at {result['steps']} vs {horizon['steps']} steps: tau "
                       f"{fmt(horizon['across_horizons_kendall_tau'])} (seeds {fmt(horizon['seed_pair_kendall_tau'])})",
                       f"stand-alone {score}, {horizon['steps']} steps (one seed)"))
    band = cost_bands([r[result["cost"]] for r in rows], len(result["bands"]))
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    for axis, (values, title, ylabel) in zip(axes[0], panels):
        for b in range(len(result["bands"])):
            members = [i for i, rb in enumerate(band) if rb == b]
            if not members:
                continue
            means = np.array([rows[i]["mean"] for i in members])
            spread = np.array([[rows[i]["mean"] - min(rows[i]["test"].values()),
                                max(rows[i]["test"].values()) - rows[i]["mean"]] for i in members]).T
            axis.errorbar(means, [values[i] for i in members], xerr=spread, fmt="o", markersize=4, elinewidth=0.8,
                          label=f"cost band {b + 1}")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel(f"stand-alone {score}, {result['steps']} steps (mean of {result['seeds']} seeds, range)")
        axis.set_ylabel(ylabel)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def summary_line(result: dict) -> str:
    return json.dumps({"audit": str(Path(result["run"]) / "audit" / "audit.json"), "verdict": result["verdict"],
                       "kendall_tau": result["agreement"]["ranker"]["kendall_tau"],
                       "kendall_tau_interval": result["agreement"]["ranker"]["kendall_tau_interval"],
                       "ground_truth_reliability": result["ground_truth"].get("seed_mean_reliability_spearman"),
                       "perfect_ranker_tau": result["ground_truth"].get("perfect_ranker_tau"),
                       "top_5_recall": result["agreement"]["ranker"].get("top_5_recall"),
                       "leans": leans(result["leans"]),
                       **({"finetuned_kendall_tau": result["finetuned"]["agreement"]["ranker"]["kendall_tau"],
                           "finetuned_kendall_tau_interval":
                               result["finetuned"]["agreement"]["ranker"]["kendall_tau_interval"]}
                          if "finetuned" in result else {}),
                       **({"across_horizons_kendall_tau": result["horizon"]["across_horizons_kendall_tau"],
                           "supernet_kendall_tau_at_horizon": result["horizon"]["supernet_vs_long"]["kendall_tau"]}
                          if "horizon" in result else {})})
