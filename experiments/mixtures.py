"""Mixtures of supernets vs one supernet: ranking quality and the best arch under a cost budget (issue 9).

    nas experiment mixtures --run runs/mixtures [--option space=mobilenetv3|transformer_lm]
        [--option reuse=runs/ranking] [--option latency_predictor=RUNS/latency/fit-min/lut.json]

Trains one sandwich supernet per variant (`kind:E`: `single`, `few-shot:K` split on `split_decision`,
`mixture:K` learned assignment, `mos-layer:E`, `mos-neuron:E`), all with the same steps, batch and
schedule (the same total training budget), then `archs` fixed archs (the ranking experiment's: 22 random
with seed 4321, the smallest, the largest) each alone from scratch. Per variant, each arch's inherited
score (test accuracy, BN recalibrated; test bits per character for the LM) against its stand-alone score:
Kendall tau and Spearman; the arch the variant picks under the budget (best inherited score among the
archs whose cost is within `budget_quantile` of theirs) and that arch's stand-alone score, beside the
best stand-alone score under the same budget (the oracle); the training cost (seconds per step, median of
the logged rates) and the parameters the variant holds.

The cost is the latency a `nas latency fit` predictor gives (`latency_predictor`, same space and options)
or else the analytic multiply-adds (`macs`). With `reuse`, a sub-run (the single supernet, a stand-alone
arch) of another experiment directory whose saved training config equals the one this experiment would
train is read from there instead of trained again: the ranking experiment (issue 4) trains the same
single supernet and the same 24 stand-alone archs on MobileNetV3.

Writes results.json, table.md and scatter.png (inherited vs stand-alone, one panel per variant) after
every variant, so a run cut short keeps what it finished. Re-running resumes.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from experiments.common import Budget, RankedArchs, fixed_archs, train_once, write_results
from nas.config import from_dict
from nas.data import stored_input_shape
from nas.definition import get_definition
from nas.errors import ConfigError
from nas.inherited_scores import score_archs
from nas.option_bounds import NonNegativeInt, PositiveInt, Probability
from nas.rank_metrics import kendall_tau, ranking_report, size_rankers, spearman
from nas.train.config import SUPERNETS, TrainConfig, saved_settings

SPLIT_DECISION = {"mobilenetv3": "s1.b0.expand", "transformer_lm": "embed_dim"}
OPTIONS = {"mobilenetv3": {"width_mult": 0.5}}
# Token spaces train as `nas train` does on text (as the sortednet experiment).
TEXT_TRAINING = {"data": "fortunes", "batch_size": 32, "learning_rate": 0.003, "optimizer": "adamw",
                 "label_smoothing": 0.0}


@dataclass(frozen=True)
class Config(Budget):
    space: str = "mobilenetv3"
    variants: tuple = ("single", "few-shot:2", "few-shot:3", "mos-layer:2", "mos-neuron:2", "mixture:2")
    split_decision: str | None = None  # few-shot; None: SPLIT_DECISION's for the space
    archs: RankedArchs = 24
    supernet_steps: PositiveInt = 1000
    standalone_steps: PositiveInt = 400
    space_options: tuple = ()  # (name, value) pairs; empty: OPTIONS' for the space
    latency_predictor: str | None = None
    budget_quantile: Probability = 0.5
    reuse: str | None = None
    seed: NonNegativeInt = 0
    # Image defaults of `Budget` for image spaces; None: the text defaults (TEXT_TRAINING) for the LM.
    data: str | None = None
    batch_size: int | None = None
    learning_rate: float | None = None


def parse_variant(variant: str) -> tuple[str, int | None]:
    kind, _, experts = variant.partition(":")
    if kind not in SUPERNETS or (kind == "single") != (experts == ""):
        raise ConfigError(f"mixtures experiment: variant {variant!r} must be 'single' or KIND:E with KIND one of "
                          f"{', '.join(k for k in SUPERNETS if k != 'single')}")
    try:
        return kind, int(experts) if experts else None
    except ValueError:
        raise ConfigError(f"mixtures experiment: variant {variant!r}: E must be an integer") from None


def reusable(config: TrainConfig, path: Path, reuse: str | None) -> Path:
    """`path`, or the same-named finished sub-run under `reuse` when its saved config equals `config`."""
    if reuse is None or (path / "summary.json").exists():
        return path
    other = Path(reuse) / path.name
    if not (other / "summary.json").exists():
        return path
    saved = json.loads((other / "config.json").read_text())["config"]
    return other if from_dict(TrainConfig, saved_settings(saved), str(other)) == config else path


def seconds_per_step(path: Path) -> float:
    """Median of the logged rates; the first log holds the compile, so it counts only when it is the one log."""
    rates = [json.loads(line).get("steps_per_second") for line in (path / "metrics.jsonl").read_text().splitlines()
             if line.strip()]
    rates = [r for r in (rates[1:] or rates) if r]
    return float(1.0 / np.median(rates)) if rates else float("nan")


def parameter_count(path: Path) -> int:
    from nas.run_dir import RunDir
    from nas.train.loop import restore_trained

    _, state = restore_trained(RunDir.open(path))
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(state.params)))


def pick_under_budget(inherited, standalone, cost, budget: float, lower_is_better: bool) -> dict:
    """The arch with the best inherited score among those within the budget, and the oracle's."""
    sign = -1.0 if lower_is_better else 1.0
    feasible = np.flatnonzero(cost <= budget)
    chosen = feasible[np.argmax(sign * inherited[feasible])]
    oracle = feasible[np.argmax(sign * standalone[feasible])]
    return {"index": int(chosen), "cost": float(cost[chosen]), "inherited": float(inherited[chosen]),
            "standalone": float(standalone[chosen]), "oracle_standalone": float(standalone[oracle]),
            "regret": float(sign * (standalone[oracle] - standalone[chosen])), "feasible": int(len(feasible))}


def run(config: Config, run_dir: Path, progress: bool = True) -> dict:
    variants = [parse_variant(v) for v in config.variants]
    definition = get_definition(config.space)
    options = dict(config.space_options) or OPTIONS.get(config.space, {})
    space = definition.make_space(**definition.resolve_options(options))
    text = definition.inputs == "tokens"
    split_decision = config.split_decision or SPLIT_DECISION.get(config.space)
    if any(kind == "few-shot" for kind, _ in variants) and split_decision is None:
        raise ConfigError(f"mixtures experiment: space {config.space!r} has no default split decision; "
                          f"give --option split_decision=NAME (one of {', '.join(d.name for d in space.free)})")
    settings = {**config.train_settings(), **({"optimizer": "adamw", "label_smoothing": 0.0} if text else {})}
    defaults = TEXT_TRAINING if text else {"data": "fashion-mnist", "batch_size": 128, "learning_rate": 0.1}
    settings.update({name: value for name, value in defaults.items() if settings.get(name) is None})
    common = dict(space=config.space, space_options=options, seed=config.seed, **settings)
    archs = fixed_archs(space, config.archs - 2, seed=4321) + [space.smallest(), space.largest()]
    vectors = np.stack([a.to_vector() for a in archs])
    score = dict(split="test", metric="bits_per_char" if text else "accuracy")
    key = "test_bits_per_char" if text else "test_accuracy"

    standalone = []
    for index, arch in enumerate(archs):
        train = TrainConfig(steps=config.standalone_steps, sampling="standalone", arch=arch.to_string(),
                            distillation="none", **common)
        path = reusable(train, run_dir / f"standalone-{index:02d}", config.reuse)
        train_once(train, path, progress, config.isolate)
        standalone.append(json.loads((path / "summary.json").read_text())["arch"][key])
    standalone = np.array(standalone)
    record = json.loads((path / "config.json").read_text())
    cost_name, cost = arch_costs(config, space, archs, record)
    budget = float(np.quantile(cost, config.budget_quantile))
    sizes = arch_sizes(config, space, archs, record)

    results = {"config": dataclasses.asdict(config), "space_options": options, "split_decision": split_decision,
               "score": key, "cost": cost_name, "budget": budget, "archs": [a.to_string() for a in archs],
               "standalone": standalone.tolist(), "costs": cost.tolist(), **sizes,
               "size_rankers": size_rankers(standalone, higher_is_better=not text, **sizes),
               "variants": []}
    for (kind, experts), name in zip(variants, config.variants):
        train = TrainConfig(steps=config.supernet_steps, sampling="sandwich", num_random=1,
                            distillation="none" if text else "alpha", supernet=kind, experts=experts,
                            split_decision=split_decision if kind == "few-shot" else None, **common)
        path = reusable(train, run_dir / ("supernet" if kind == "single" else f"supernet-{kind}-{experts}"),
                        config.reuse)
        train_once(train, path, progress, config.isolate)
        inherited = score_archs(path, vectors, **score)
        results["variants"].append({
            "variant": name, "run": str(path), "inherited": inherited.tolist(),
            "kendall_tau": kendall_tau(inherited, standalone), "spearman": spearman(inherited, standalone),
            "agreement": ranking_report(inherited, standalone, higher_is_better=not text, size_rows=False,
                                        **sizes)["ranker"],
            "under_budget": pick_under_budget(inherited, standalone, cost, budget, lower_is_better=text),
            "seconds_per_step": seconds_per_step(path), "parameters": parameter_count(path)})
        # After every variant, so a run stopped between variants keeps its table and plot too.
        write_results(run_dir, results)
        (run_dir / "table.md").write_text(table(results))
        plot(results, run_dir / "scatter.png")
    return results


def arch_sizes(config: Config, space, archs, record: dict) -> dict:
    """{"params": [...], "macs": [...]} of the archs: the size rankers every table shows beside the variants."""
    from nas.hardware.cost_model import resolve_cost_model
    from nas.hardware.counters import CostCounter

    definition = get_definition(config.space)
    counter = CostCounter(space, resolve_cost_model(definition, record["space_options"], stored_input_shape(record)))
    counts = [counter.count(a) for a in archs]
    return {"params": [c["params"] for c in counts], "macs": [c["macs"] for c in counts]}


def arch_costs(config: Config, space, archs, record: dict) -> tuple[str, np.ndarray]:
    """Each arch's cost, counted at the resolved options and input shape a trained sub-run saved (`record`)."""
    from nas.hardware.cost_model import resolve_cost_model
    from nas.hardware.counters import CostCounter

    definition = get_definition(config.space)
    counter = CostCounter(space, resolve_cost_model(definition, record["space_options"], stored_input_shape(record)))
    if config.latency_predictor is None:
        return "macs", np.array([counter.count(a)["macs"] for a in archs], float)
    from nas.hardware.predictor_io import load_predictor

    predictor, _ = load_predictor(config.latency_predictor, counter)
    return "latency_ms", np.asarray(predictor(np.stack([a.to_vector() for a in archs])), float)


def _fmt(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def table(results: dict) -> str:
    better = "lower" if results["score"].endswith("bits_per_char") else "higher"
    lines = [f"Score: {results['score']} ({better} is better); budget: {results['cost']} <= {results['budget']:.4g} "
             f"(quantile {results['config']['budget_quantile']} of the {len(results['archs'])} archs).", "",
             "| variant | Kendall tau [95%] | Spearman | picked under budget: stand-alone (oracle) | s/step | parameters |",
             "|---|---|---|---|---|---|"]
    for name, size in results.get("size_rankers", {}).items():
        low, high = size["kendall_tau_interval"]
        lines.append(f"| size: {name} | {_fmt(size['kendall_tau'])} [{_fmt(low)}, {_fmt(high)}] | "
                     f"{_fmt(size['spearman'])} | - | - | - |")
    for v in results["variants"]:
        pick = v["under_budget"]
        low, high = v["agreement"]["kendall_tau_interval"] if "agreement" in v else (float("nan"),) * 2
        lines.append(f"| {v['variant']} | {_fmt(v['kendall_tau'])} [{_fmt(low)}, {_fmt(high)}] | {_fmt(v['spearman'])} | "
                     f"{pick['standalone']:.4f} ({pick['oracle_standalone']:.4f}) | {v['seconds_per_step']:.3f} | "
                     f"{v['parameters']:,} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = results["variants"]
    columns = min(3, len(variants))
    rows = -(-len(variants) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    standalone = np.array(results["standalone"])
    for axis, variant in zip(axes.flat, variants):
        axis.scatter(standalone, variant["inherited"], s=14)
        chosen = variant["under_budget"]["index"]
        axis.scatter(standalone[chosen], variant["inherited"][chosen], marker="*", s=120, color="tab:red",
                     label="picked under budget")
        axis.set_title(f"{variant['variant']}: tau {variant['kendall_tau']:.3f}")
        axis.set_xlabel(f"stand-alone {results['score']}")
        axis.set_ylabel(f"inherited {results['score']}")
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(variants):]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
