"""How well supernets trained different ways rank a ground truth's archs (issue 20, item 3).

    nas experiment supernet_ranking --run runs/sr-mlp --option ground_truth=runs/gt-mlp
        [--option 'variants=["sandwich","sandwich-r3","sandwich-long","uniform"]'] [--option steps=4000]

Reads a finished `nas experiment ground_truth` directory: its space, options, data, split and optimiser,
its stratified archs and their stand-alone seed means. Trains one supernet per variant on the same
data (each in a child process, resumable), scores the ground truth's archs with it (inherited test
score) and reports per variant, against the seed means: Kendall tau and Spearman with bootstrap 95%
intervals, tau within cost bands, what it adds over the better size ranker (`rank_metrics.margin_over_size`:
tau and band tau differences with paired intervals), top-5 recall, regret of the variant's pick at three budgets (25/50/75%
quantiles of the archs' multiply-adds), the training cost (steps, subnet passes, wall seconds), and the
same statistics for the size rankers (parameters, multiply-adds) on the same archs and for the decision
predictor (`nas.decision_predictor`: a ridge on the decisions and size, each arch predicted from the other
archs' stand-alone runs), with each variant's paired tau margin over it.

A variant is a name of `VARIANTS` or an object {"name": ..., TrainConfig fields..., "steps_factor": k}
whose fields override the baseline (sandwich rule, one random subnet, `steps` steps). Its scoring fields
(`SCORING_FIELDS`) change how archs are scored, not trained: "finetune_steps": F scores each arch after F
steps of stand-alone fine-tuning from the supernet's weights (`nas.finetuned_scores`; "finetune_learning_rate"
optional), and "supernet_of": NAME scores the supernet of an earlier variant NAME instead of training one (so
{"name": "x4-ft200", "supernet_of": "x4", "finetune_steps": 200} re-ranks x4's supernet). The fine-tune's
subnet passes (archs x F) count in the variant's training cost.
Writes results.json, table.md and scatter.png after every variant.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments import ground_truth
from nas.atomic_write import write_json_atomically
from nas.config import changed_settings, from_dict, to_dict
from nas.decision_predictor import margin_over_predictor, predictor_report
from nas.definition import get_definition
from nas.errors import ConfigError, WeftError
from nas.finetuned_scores import finetuned_scores
from nas.json_files import read_json_object
from nas.inherited_scores import score_archs
from nas.rank_bias import leans, ranking_biases
from nas.rank_metrics import ranking_report, signed, size_rankers
from nas.train.child import train_in_child
from nas.train.config import RESUME_INVARIANT, TrainConfig, saved_settings
from nas.train.loop import train

# Each: overrides of the baseline supernet training (sandwich, 1 random subnet, no distillation).
VARIANTS = {
    "sandwich": {},
    "sandwich-r3": {"num_random": 3},                       # more random subnets per step
    "sandwich-long": {"steps_factor": 3},                   # three times the steps
    "sandwich-kd": {"distillation": "alpha", "grad_clip": 1.0},  # AlphaNet: in-place alpha-divergence, clip 1
    "uniform": {"sampling": "uniform", "num_archs": 1},     # no sandwich: one uniform subnet per step
    "uniform-r3": {"sampling": "uniform", "num_archs": 3},
    "cost-stratified": {"sampling": "cost-stratified"},     # random subnets spread over log cost
    "attentive-worst": {"sampling": "attentive-worst"},     # AttentiveNAS WorstUp (minibatch loss)
    "attentive-best": {"sampling": "attentive-best"},
    "sandwich-no-smallest": {"sandwich_smallest": False},   # no static smallest: the smallest-arch bias remedy
    "cost-stratified-no-smallest": {"sampling": "cost-stratified", "sandwich_smallest": False},
    # Few-shot on the space's first decision (depth for the MLP and the LM), with and without each
    # supernet training its own largest and smallest.
    "few-shot-4": {"supernet": "few-shot", "split_decision": "depth", "experts": 4},
    "few-shot-4-own-ends": {"supernet": "few-shot", "split_decision": "depth", "experts": 4, "own_endpoints": True},
    # ... each supernet its own largest only (the own-ends variant ranked each part's archs backwards)
    "few-shot-4-own-largest": {"supernet": "few-shot", "split_decision": "depth", "experts": 4,
                               "own_endpoints": True, "sandwich_smallest": False},
}


@dataclass(frozen=True)
class Config:
    ground_truth: str = ""
    variants: tuple = ("sandwich", "sandwich-r3", "sandwich-long", "uniform")
    steps: int | None = None        # None: the ground truth's stand-alone steps
    seed: int = 0
    bands: int = 3
    isolate: bool = True
    partial: bool = False           # rank on the archs the ground truth has finished so far (a preview)
    # Earlier results.json files of this experiment whose variants are re-scored against this ground truth
    # (e.g. one with more seeds) from their saved inherited scores, without training them again.
    rescore_from: tuple = ()

    def check(self) -> None:
        if not self.ground_truth:
            raise ConfigError("supernet_ranking: give --option ground_truth=DIR (a finished ground_truth experiment)")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"supernet_ranking: steps must be >= 1, got {self.steps}")
        if self.bands < 1:
            raise ConfigError(f"supernet_ranking: bands must be >= 1, got {self.bands}")
        earlier = []
        for variant in self.variants:
            name, overrides = variant_overrides(variant)
            source = overrides.get("supernet_of")
            if source is not None and source not in earlier:
                raise ConfigError(f"supernet_ranking: variant {name!r}: supernet_of {source!r} names no earlier "
                                  f"variant; earlier ones: {', '.join(earlier) or 'none'}")
            if source is not None and set(overrides) - set(SCORING_FIELDS):
                raise ConfigError(f"supernet_ranking: variant {name!r} scores {source!r}'s supernet, so it sets no "
                                  f"training field (it set {', '.join(sorted(set(overrides) - set(SCORING_FIELDS)))})")
            steps = overrides.get("finetune_steps")
            if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
                raise ConfigError(f"supernet_ranking: variant {name!r}: finetune_steps must be an integer >= 1, "
                                  f"got {steps!r}")
            if "finetune_learning_rate" in overrides and steps is None:
                raise ConfigError(f"supernet_ranking: variant {name!r} sets finetune_learning_rate without "
                                  "finetune_steps")
            earlier.append(name)
        if isinstance(self.rescore_from, str) or not all(isinstance(p, str) for p in self.rescore_from):
            raise ConfigError(f"supernet_ranking: rescore_from is a list of results.json paths, got "
                              f"{self.rescore_from!r}")


# How a variant's archs are scored, not how its supernet trains (see the module docstring).
SCORING_FIELDS = ("finetune_steps", "finetune_learning_rate", "supernet_of")


def variant_overrides(variant) -> tuple[str, dict]:
    if isinstance(variant, str):
        if variant not in VARIANTS:
            raise ConfigError(f"supernet_ranking: unknown variant {variant!r}; named variants: "
                              f"{', '.join(VARIANTS)} (or an object with a name and TrainConfig fields)")
        return variant, dict(VARIANTS[variant])
    if not isinstance(variant, dict) or not isinstance(variant.get("name"), str):
        raise ConfigError(f"supernet_ranking: a variant is a name or an object with a \"name\", got {variant!r}")
    overrides = {k: v for k, v in variant.items() if k != "name"}
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)} - {"steps_factor", *SCORING_FIELDS}
    if unknown:
        raise ConfigError(f"supernet_ranking: variant {variant['name']!r} sets unknown field(s) "
                          f"{', '.join(sorted(unknown))}")
    return variant["name"], overrides


def load_ground_truth(path: Path, partial: bool = False) -> dict:
    results = path / "results.json"
    if not results.exists():
        raise ConfigError(f"supernet_ranking: {path} holds no ground truth (no results.json); run "
                          "`nas experiment ground_truth` there first")
    truth, gt_config = ground_truth.read_results(results, "supernet_ranking")
    unfinished = [row["index"] for row in truth["archs"] if len(row["test"]) < len(gt_config.seeds)]
    if partial:
        truth["archs"] = [row for row in truth["archs"] if row["index"] not in unfinished]
        if len(truth["archs"]) < 4:
            raise ConfigError(f"supernet_ranking: the ground truth in {path} has {len(truth['archs'])} finished archs; "
                              "a ranking needs at least 4")
    elif unfinished:
        raise ConfigError(f"supernet_ranking: the ground truth in {path} has unfinished archs {unfinished[:8]}"
                          f"{'...' if len(unfinished) > 8 else ''}; finish it first (re-run its command)")
    return truth


def supernet_config(truth: dict, overrides: dict, steps: int, seed: int) -> TrainConfig:
    gt_config = from_dict(ground_truth.Config, truth["config"], "ground truth config")
    definition = get_definition(gt_config.space)
    base = ground_truth.training_config(gt_config, definition, truth["space_options"], "x", seed)
    overrides = dict(overrides)
    factor = overrides.pop("steps_factor", 1)
    # Switched execution computes the masked step's function at about the sliced cost (spaces whose ops are
    # choices: NB201, macro_chain); a variant may still set `execution` itself.
    switched = definition.switch_execution and overrides.get("supernet", "single") == "single"
    fields = {**dataclasses.asdict(base), "steps": int(steps * factor), "sampling": "sandwich", "num_random": 1,
              "arch": None, "checkpoint_every": max(int(steps * factor) // 4, 1),
              "execution": "switch" if switched else "masked", **overrides}
    return from_dict(TrainConfig, json.loads(json.dumps(fields)), "supernet_ranking variant")


def subnet_passes(config: TrainConfig) -> int:
    """Subnets trained (forward and backward passes) over the whole run: per step, the sandwich's two ends
    and its random ones; a shrinking schedule (progressive, delayed) summed over its phases, which differ."""
    if config.sampling in ("progressive", "delayed"):
        from nas.train.loop import make_sampling

        space = get_definition(config.space).make_space(**config.space_options)
        policy = make_sampling(config, space)
        starts = [*policy.phase_starts(), config.steps]
        return sum((end - start) * (len(policy.archs(space, config.seed, start))
                                    + sum(a is not None for a in policy.static_archs(space, policy.phase(start))))
                   for start, end in zip(starts, starts[1:]))
    if config.sampling == "uniform":
        per_step = config.num_archs
    else:
        own = 2 * (config.experts or 1) - 2 if config.own_endpoints else 0
        per_step = config.num_random + 1 + config.sandwich_smallest + own
    return config.steps * per_step


def run(config: Config, run_dir: Path, progress: bool = True) -> dict:
    config.check()
    truth = load_ground_truth(Path(config.ground_truth), config.partial)
    run_dir.mkdir(parents=True, exist_ok=True)
    text = not truth["higher_is_better"]
    space = get_definition(truth["config"]["space"]).make_space(
        **get_definition(truth["config"]["space"]).resolve_options(truth["space_options"]))
    archs = [space.from_string(row["arch"]) for row in truth["archs"]]
    vectors = np.stack([arch.to_vector() for arch in archs])
    reference = np.array([row["mean"] for row in truth["archs"]])
    params = [row["params"] for row in truth["archs"]]
    macs = [row["macs"] for row in truth["archs"]]
    steps = config.steps or truth["config"]["steps"]
    seed_table = np.array([[row["test"].get(str(seed), np.nan) for seed in truth["config"]["seeds"]]
                           for row in truth["archs"]])  # a partial truth's missing seeds: no seed floor

    predictor = predictor_report(archs, reference, higher_is_better=not text, params=params, macs=macs,
                                 bands=config.bands)

    def judged(inherited) -> dict:
        """The ranker's agreement with the truth, its margin over the decision predictor and its leans at equal
        truth and cost (`nas.rank_bias`)."""
        return {**ranking_report(inherited, reference, higher_is_better=not text, params=params, macs=macs,
                                 bands=config.bands)["ranker"],
                "over_decisions": margin_over_predictor(inherited, reference, predictor, higher_is_better=not text,
                                                        cost=macs, bands=config.bands),
                "leans": ranking_biases(archs, inherited, reference, macs, higher_is_better=not text,
                                        seed_table=seed_table)}

    results = {"config": dataclasses.asdict(config), "ground_truth": {
        "path": config.ground_truth, "space": truth["config"]["space"], "space_options": truth["space_options"],
        "archs": len(reference), "partial": config.partial, "seeds": list(truth["config"]["seeds"]), "score": truth["score"],
        "steps": truth["config"]["steps"],
        "reliability": truth["reliability"].get("seed_mean_reliability_spearman"),
        "seed_vs_seed_tau": truth["reliability"].get("mean_pair_kendall_tau"),
        # The ceiling and the noise's regret, as the ground truth computed them with its reliability.
        "perfect_ranker_tau": truth["reliability"].get("perfect_ranker_tau"),
        # Within the ground truth's 3 cost bands (its default); absent in older ground truths.
        "perfect_ranker_band_tau": truth["reliability"].get("perfect_ranker_band_tau") if config.bands == 3 else None,
        "perfect_ranker_regret": truth["reliability"].get("perfect_ranker_regret"),
        "arch_strings": [row["arch"] for row in truth["archs"]]},
        "size_rankers": size_rankers(reference, higher_is_better=not text, params=params, macs=macs,
                                     bands=config.bands),
        "decision_predictor": predictor, "variants": []}
    trained = {variant_overrides(variant)[0] for variant in config.variants}
    for saved in rescore_variants(config.rescore_from, truth):
        if saved["variant"] not in trained:
            report = judged(saved["inherited"])
            results["variants"].append({**{k: saved[k] for k in ("variant", "overrides", "steps", "subnet_passes",
                                                                  "wall_seconds", "inherited")},
                                        "rescored_from": saved["rescored_from"], **report})
    planned = planned_variants(config, truth, steps)
    for name, _, _, source, training in planned:  # all refused before anything is written
        if (run_dir / f"supernet-{source}" / "summary.json").exists():
            check_trained_as(run_dir / f"supernet-{source}", training, name)
    write_outputs(run_dir, results, reference)
    for name, overrides, scoring, source, training in planned:
        path = run_dir / f"supernet-{source}"
        if not (path / "summary.json").exists():
            if source != name:
                results["variants"].append({"variant": name, "overrides": overrides,
                                            "error": f"the supernet of {source!r} did not finish"})
                write_outputs(run_dir, results, reference)
                continue
            if progress:
                print(f"supernet_ranking: training {name} ({training.steps} steps)", flush=True)
            started = time.monotonic()
            try:
                if config.isolate:
                    train_in_child(training, path)
                else:
                    train(training, path, progress=False)
            except WeftError as error:  # a diverged variant is a result too; the others still run
                results["variants"].append({"variant": name, "overrides": overrides, "error": str(error)})
                write_outputs(run_dir, results, reference)
                continue
            (path / "wall_seconds.json").write_text(json.dumps(time.monotonic() - started))
        metric = "bits_per_char" if text else "accuracy"
        passes = subnet_passes(training)
        wall = json.loads((path / "wall_seconds.json").read_text()) if (path / "wall_seconds.json").exists() else None
        finetune = None
        if "finetune_steps" in scoring:
            if progress:
                print(f"supernet_ranking: {name}: fine-tuning each arch {scoring['finetune_steps']} steps", flush=True)
            tuned = finetuned_scores(path, vectors, steps=scoring["finetune_steps"],
                                     learning_rate=scoring.get("finetune_learning_rate"), split="test", metric=metric,
                                     progress=progress)
            inherited = tuned["scores"]
            finetune = {"steps": scoring["finetune_steps"], "learning_rate": tuned["learning_rate"],
                        "subnet_passes": len(vectors) * scoring["finetune_steps"], "wall_seconds": tuned["seconds"]}
            passes += finetune["subnet_passes"]
            wall = None if wall is None else wall + tuned["seconds"]
        else:
            inherited = score_archs(path, vectors, split="test", metric=metric)
        report = judged(inherited)
        results["variants"].append({
            "variant": name, "overrides": overrides, "steps": training.steps, "subnet_passes": passes,
            "wall_seconds": wall, **({"finetune": finetune} if finetune else {}),
            "inherited": inherited.tolist(), **report})
        write_outputs(run_dir, results, reference)
    return results


def planned_variants(config: Config, truth: dict, steps: int) -> list[tuple[str, dict, dict, str, TrainConfig]]:
    """(name, overrides, scoring fields, the variant whose supernet it scores, that supernet's training) per
    variant, in order."""
    planned, training_of = [], {}  # variant name -> the training overrides its supernet was trained with
    for variant in config.variants:
        name, overrides = variant_overrides(variant)
        scoring = {k: overrides[k] for k in SCORING_FIELDS if k in overrides}
        source = scoring.get("supernet_of", name)
        training_overrides = training_of.get(source, {k: v for k, v in overrides.items() if k not in SCORING_FIELDS})
        training_of[name] = training_overrides
        planned.append((name, overrides, scoring, source, supernet_config(truth, training_overrides, steps, config.seed)))
    return planned


def check_trained_as(path: Path, training: TrainConfig, name: str) -> None:
    """Refuse to score a finished supernet trained with other settings than `training` (a rerun in the same
    directory with another steps, seed or ground truth would otherwise score the old supernet as the new one)."""
    saved = saved_settings(json.loads((path / "config.json").read_text())["config"])
    differ = changed_settings(saved, to_dict(training), ("steps", *RESUME_INVARIANT), to_dict(TrainConfig()))
    if differ:
        raise ConfigError(f"supernet_ranking: variant {name!r}: {path} holds a supernet trained with other settings "
                          f"({', '.join(differ)} differ); use another --run for these settings")


def rescore_variants(paths, truth: dict) -> list[dict]:
    """The trained variants of earlier results files, their inherited scores in `truth`'s arch order (a
    variant in several files is taken from the first)."""
    archs = [row["arch"] for row in truth["archs"]]
    found = []
    for path in map(Path, paths):
        if not path.is_file():
            raise ConfigError(f"supernet_ranking: rescore_from {path} is not a file (a supernet_ranking results.json)")
        saved = read_json_object(path, "a results.json of nas experiment supernet_ranking", ConfigError)
        saved_truth = saved.get("ground_truth", {})
        saved_archs = saved_truth.get("arch_strings")
        if saved_archs is None:  # results written before the arch list was saved: read their ground truth's
            source = Path(saved_truth.get("path", "")) / "results.json"
            saved_archs = ([row["arch"] for row in json.loads(source.read_text())["archs"]]
                           if source.is_file() else None)
        same_plan = (saved_archs is not None and not saved_truth.get("partial")
                     and len(saved_archs) == saved_truth.get("archs") and set(archs) <= set(saved_archs)
                     and all(saved_truth.get(key) == value for key, value in (
                         ("space", truth["config"]["space"]), ("space_options", truth["space_options"]),
                         ("score", truth["score"]))))
        if not same_plan:
            raise ConfigError(f"supernet_ranking: {path} did not score this ground truth's archs (it scored "
                              f"{saved_truth.get('archs')} archs of {saved_truth.get('space')} "
                              f"{json.dumps(saved_truth.get('space_options'))} by {saved_truth.get('score')}); "
                              "re-score only results of the same plan, made on a finished ground truth")
        position = {arch: i for i, arch in enumerate(saved_archs)}
        for variant in saved.get("variants", []):
            if "inherited" not in variant:
                continue
            if len(variant["inherited"]) != len(saved_archs):
                raise ConfigError(f"supernet_ranking: {path}: variant {variant['variant']!r} has "
                                  f"{len(variant['inherited'])} scores for {len(saved_archs)} archs")
            if variant["variant"] not in {v["variant"] for v in found}:
                found.append({**variant, "inherited": [variant["inherited"][position[a]] for a in archs],
                              "rescored_from": str(path)})
    return found


def write_outputs(run_dir: Path, results: dict, reference: np.ndarray) -> None:
    write_json_atomically(run_dir / "results.json", results, indent=1)
    (run_dir / "table.md").write_text(table(results))
    plot(results, reference, run_dir / "scatter.png")


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _margin(margin: dict | None) -> str:
    """A paired margin ({"difference", "interval"}) with its interval, or "-" where there is none (a rival's
    own row, a result written before that margin was kept)."""
    if not margin:
        return "-"
    low, high = margin["interval"]
    return f"{signed(margin['difference'], 3)} [{signed(low, 3)}, {signed(high, 3)}]"


def _row(name: str, report: dict, cost: str, perfect: float | None) -> str:
    low, high = report["kendall_tau_interval"]
    regrets = " / ".join(_fmt(r["regret"], 4) for r in report["regret"])
    share = _fmt(report["kendall_tau"] / perfect, 2) if perfect and report["kendall_tau"] is not None else "n/a"
    over_size = report.get("over_size", {})
    return (f"| {name} | {_fmt(report['kendall_tau'])} [{_fmt(low)}, {_fmt(high)}] | {share} | "
            f"{_margin(over_size.get('kendall_tau'))} | {_margin(report.get('over_decisions'))} | "
            f"{_fmt(report['spearman'])} | {_fmt(report['band_tau']['mean'])} | {_margin(over_size.get('band_tau'))} | "
            f"{report['top_5_recall']:.1f} | {regrets} | "
            f"{(leans(report['leans'], intervals=False) or 'none') if 'leans' in report else '-'} | {cost} |")


def _band_ceiling(truth: dict) -> str:
    ceiling = truth.get("perfect_ranker_band_tau")
    return f", and within 3 cost bands tau {_fmt(ceiling)} (from the seeds' band tau)" if ceiling is not None else ""


def table(results: dict) -> str:
    truth = results["ground_truth"]
    horizon = f", {truth['steps']:,} stand-alone steps each" if truth.get("steps") else ""  # older results lack it
    lines = [f"Ground truth: {truth['path']} ({truth['space']} {json.dumps(truth['space_options'])}), "
             f"{truth['archs']} archs{' (partial: those finished so far)' if truth.get('partial') else ''}, seeds {truth['seeds']}"
             f"{horizon}, {truth['score']}; seed-vs-seed tau "
             f"{_fmt(truth['seed_vs_seed_tau'])}, reliability of the seed mean {_fmt(truth['reliability'])}; "
             f"a ranker knowing the noise-free scores would reach tau {_fmt(truth.get('perfect_ranker_tau'))} "
             "against the seed mean (the ceiling, from the seed-vs-seed tau; `nas.rank_metrics.perfect_ranker_tau`)"
             f"{_band_ceiling(truth)}.",
             "Regret: stand-alone score of the ranker's pick vs the best within the budget (MACs quantiles "
             "0.25 / 0.5 / 0.75), in the score's unit; the perfect ranker's is its expected regret from the seed "
             "mean's noise alone (modelled, `nas.rank_metrics.perfect_ranker_regret`).",
             "Over size: the ranker's tau minus the better size ranker's, with the paired bootstrap 95% interval "
             "(`nas.rank_metrics.margin_over_size`): clearly above size when the interval's low end is above 0.",
             "Decisions: a ridge regression on the archs' decisions and log size, each arch predicted from the "
             "other archs' stand-alone runs (`nas.decision_predictor`; leave-one-out), the rival a user with "
             "these runs has without shared weights; tau over decisions is a ranker's paired margin over it.",
             "Leans: the decisions a ranker favours at equal stand-alone score and equal MACs (partial Spearman of "
             "its scores with each decision feature, `nas.rank_bias`), listed where a permutation test finds "
             "them at 5% over all the features and they exceed what one stand-alone seed shows against the others.",
             "",
             "| ranker | Kendall tau [95%] | tau / ceiling | tau over size [95%] | tau over decisions [95%] | "
             "Spearman | tau within 3 cost bands | band tau over size [95%] | top-5 recall | regret at 3 budgets | "
             "leans | training (steps, subnet passes, wall s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    perfect = truth.get("perfect_ranker_tau")
    floor = truth.get("perfect_ranker_regret")
    if perfect is not None and floor is not None:
        lines.append(f"| perfect ranker (knows the noise-free scores; modelled) | {_fmt(perfect)} | 1.00 | | | | "
                     f"{_fmt(truth.get('perfect_ranker_band_tau')) if truth.get('perfect_ranker_band_tau') else ''} | | | "
                     + " / ".join(_fmt(r, 4) for r in floor) + " | | - |")
    for name in ("params", "macs"):
        lines.append(_row(f"size: {name}", results["size_rankers"][name], "-", perfect))
    predictor = results.get("decision_predictor")  # absent in results written before it was added
    if predictor and "agreement" in predictor:
        lines.append(_row("decisions: ridge fit to the other archs' stand-alone runs", predictor["agreement"], "-",
                          perfect))
    for v in results["variants"]:
        if "error" in v:
            lines.append(f"| {v['variant']} | failed: {v['error'][:160]} | | | | | | | | | | |")
            continue
        cost = f"{v['steps']}, {v['subnet_passes']}, {_fmt(v['wall_seconds'], 0)}"
        lines.append(_row(v["variant"], v, cost, perfect))
    return "\n".join(lines) + "\n"


def plot(results: dict, reference: np.ndarray, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [v for v in results["variants"] if "error" not in v]
    if not variants:
        return
    columns = min(3, len(variants))
    rows = -(-len(variants) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    for axis, variant in zip(axes.flat, variants):
        axis.scatter(reference, variant["inherited"], s=14)
        axis.set_title(f"{variant['variant']}: tau {_fmt(variant['kendall_tau'])}", fontsize=10)
        axis.set_xlabel(f"stand-alone {results['ground_truth']['score']} (seed mean)")
        axis.set_ylabel("inherited (supernet)")
    for axis in list(axes.flat)[len(variants):]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
