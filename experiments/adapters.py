"""Elastic low-rank adapters (Shears) vs dense LoRA, on a dense and a 50%-sparse base (issue 25 part 4).

    nas experiment adapters --run runs/adapters [--option base=runs/lm] [--option steps=1000]

Every step is a weft run directory under the experiment's, each resumable and skipped once finished:

1. `base/`: a `transformer_lm` of one arch (`base_options`) pretrained on `pretrain_collections` of
   the fortunes (default `general`); or the run given as `base` (its largest subnet is adapted).
2. Per base sparsity in `sparsities` (`sparsity-00/`, `sparsity-50/`; Wanda prunes the frozen base's
   projections, `search_spaces.lora`), on the held-out `adapt_collections` (default `computing`):
   * `super-adapter/`: the elastic-rank super-adapter (one rank decision per group and layer over
     `ranks`), trained with the sandwich rule (largest, one random, smallest) for `steps` steps;
   * the picks, scored with the super-adapter's weights on the validation split: Shears' heuristic
     (every rank at its middle value, no search), hill climbing from it (SQFT; `hill_climbing_trials`,
     bits/char only) and NSGA-II (`nsga2_trials`, bits/char and params), both started from the
     heuristic and held to the trainable-parameter budget (the heuristic's by default, else `budget`
     times the full rank's), each a search directory (`search-hill-climbing/`, `search-nsga2/`) whose
     `pick.json` records the pick once it finished;
   * `alone-<ranks>/`: every pick and the full-rank adapter (dense LoRA: one rank, no elasticity)
     trained alone from scratch with the same steps, batch and schedule as the super-adapter.
3. `results.json`, `table.md` and `pareto.png` (test bits/char against trainable and against non-zero
   parameters): inherited and stand-alone scores, trainable parameters (the adapter entries the arch
   reads), non-zero parameters of the standalone export (merged into the base kernels over a dense
   base; kept apart over a sparse one, so its zeros stay), the base without adapters, the measured
   share of zeros in the base's projection kernels, and the training cost (seconds per step, median of
   the logged rates; archs per step). `shears` sets Shears' claim side by side: the heuristic pick over
   the sparse base against dense LoRA at full rank over the dense base.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from experiments.common import train_once, write_results
from nas.errors import ConfigError
from nas.train.config import TrainConfig

BASE_OPTIONS = {"embed_dims": [128], "depths": [2], "heads": [4], "ffn_widths": [256], "head_dim": 32, "context": 64}
PICKS = ("middle", "hill-climbing", "nsga2")
LABELS = {"largest": "full rank", "middle": "heuristic (middle)", "hill-climbing": "hill climbing",
          "nsga2": "NSGA-II"}


@dataclass(frozen=True)
class Config:
    base: str | None = None  # a trained transformer_lm run; None: pretrain one into RUN/base
    base_options: dict = dataclasses.field(default_factory=lambda: dict(BASE_OPTIONS))
    base_steps: int = 2000
    pretrain_collections: tuple = ("general",)
    adapt_collections: tuple = ("computing",)
    steps: int = 1000  # the super-adapter's, and every adapter trained alone
    ranks: tuple = (8, 12, 16)
    groups: tuple = ("qkv", "up", "down")
    sparsities: tuple = (0.0, 0.5)
    budget: float | None = None  # trainable params <= budget x the full rank's; None: the heuristic pick's
    hill_climbing_trials: int = 40
    nsga2_trials: int = 60
    isolate: bool = True  # each training in a child process (memory stays bounded); False: in this one (tests)
    nsga2_population: int = 16
    search_batch: int = 8
    batch_size: int = 32
    learning_rate: float = 0.003
    weight_decay: float = 3e-5
    warmup_steps: int = 50
    limit_train: int | None = None
    checkpoint_every: int = 250
    seed: int = 0

    def check(self) -> None:
        positive = ("base_steps", "steps", "hill_climbing_trials", "nsga2_trials", "nsga2_population",
                    "search_batch", "batch_size", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"adapters: {name} must be >= 1, got {getattr(self, name)}")
        from supernets.wanda import check_ratio

        if not self.sparsities or len(set(self.sparsities)) != len(self.sparsities):
            raise ConfigError(f"adapters: sparsities must be distinct ratios in [0, 1), got {list(self.sparsities)}")
        for ratio in self.sparsities:
            check_ratio(ratio)
        if self.budget is not None and not 0 < self.budget <= 1:
            raise ConfigError(f"adapters: budget is a share of the full rank's trainable parameters in (0, 1], "
                              f"got {self.budget}")
        if set(self.pretrain_collections) & set(self.adapt_collections):
            raise ConfigError(f"adapters: the adapted collections {list(self.adapt_collections)} must be held out "
                              f"of pretraining {list(self.pretrain_collections)}")


def _settings(config: Config) -> dict:
    """What every training of the experiment shares (text defaults of `nas train` on fortunes)."""
    return dict(data="fortunes", optimizer="adamw", label_smoothing=0.0, distillation="none",
                batch_size=config.batch_size, learning_rate=config.learning_rate, weight_decay=config.weight_decay,
                warmup_steps=config.warmup_steps, limit_train=config.limit_train,
                checkpoint_every=config.checkpoint_every, seed=config.seed)


def pretrained_base(config: Config, run_dir: Path, progress: bool) -> Path:
    if config.base is not None:
        path = Path(config.base).absolute()
        if not (path / "summary.json").exists():
            raise ConfigError(f"adapters: base {config.base} is not a finished nas train run (no summary.json)")
        return path
    path = (run_dir / "base").absolute()
    train_once(TrainConfig(space="transformer_lm", space_options=dict(config.base_options), sampling="uniform",
                           steps=config.base_steps, collections=tuple(config.pretrain_collections),
                           **_settings(config)), path, progress, config.isolate)
    return path


def arch_name(arch) -> str:
    """A directory name holding the arch's values in decision order: alone-16-16-16-12-8-16."""
    return "alone-" + "-".join(str(v) for v in dict(arch).values())


def seconds_per_step(path: Path) -> float:
    from experiments.mixtures import seconds_per_step as median_rate
    return median_rate(path)


class Adapted:
    """A trained run of the lora space: its model, scores and sizes."""

    def __init__(self, path: Path):
        from nas.run_dir import RunDir
        from nas.train.loop import restore_trained

        self.path = path
        self.session, self.state = restore_trained(RunDir.open(path))
        self.space = self.session.space
        self.model = nnx.merge(self.session.graphdef, jax.device_get(self.state.params),
                               jax.device_get(self.state.stats))

    def trainable(self, arch) -> int:
        """The adapter entries `arch` reads (the first r columns of A and rows of B at every adapted layer)."""
        return int(sum(np.sum(used) for used in self.model.param_usage(arch)))

    def nonzero(self, arch) -> int:
        """Non-zero entries of `arch`'s standalone export (merged over a dense base, kept apart over a sparse)."""
        from nas.lowering import slice_subnet

        return int(sum(np.count_nonzero(np.asarray(leaf)) for leaf in jax.tree.leaves(nnx.state(
            slice_subnet(self.model, arch)))))

    def base_nonzero(self) -> int:
        """Non-zero weights of the frozen base (every variable that is not an adapter's)."""
        return int(sum(np.count_nonzero(np.asarray(leaf)) for leaf in jax.tree.leaves(self.state.stats)))

    def base_zero_share(self) -> float:
        """The share of exact zeros over every projection kernel of the frozen base (Wanda's ratio, if pruned)."""
        from supernets.elastic_lora import ElasticLoRADense
        from supernets.frozen import FrozenDense

        zeros = total = 0
        for _, layer in nnx.iter_modules(self.model):
            if isinstance(layer, (ElasticLoRADense, FrozenDense)):
                kernel = np.asarray(layer.kernel[...])
                zeros, total = zeros + int(np.sum(kernel == 0)), total + kernel.size
        return zeros / total

    def base_bits_per_char(self) -> float:
        """Test bits/char of the frozen base alone: every adapter's B at zero (an untrained adapter adds nothing)."""
        from nas.evaluate import fixed_batches
        from nas.evaluate_text import make_batched_next_token_scorer

        params = jax.tree_util.tree_map_with_path(
            lambda path, leaf: np.zeros_like(leaf) if "lora_b" in jax.tree_util.keystr(path) else leaf,
            jax.device_get(self.state.params))
        scorer = make_batched_next_token_scorer(self.session.graphdef, self.space)
        data, config = self.session.dataset, self.session.config
        batches = fixed_batches(data.test.inputs, data.test.labels, config.eval_batch_size)
        scores = scorer(params, self.state.stats, data.train.inputs[:config.calibration_images], batches,
                        self.space.largest().to_vector()[None])
        return float(np.asarray(scores["bits_per_char"])[0])


def search_pick(name: str, super_dir: Path, directory: Path, config: Config, limit: float, progress: bool) -> dict:
    """The best feasible arch (validation bits/char) of a search from the heuristic pick; recorded in pick.json."""
    record = directory / "pick.json"
    if record.exists():
        return json.loads(record.read_text())
    from nas.search.evaluators import SupernetEvaluator
    from nas.search.loop import SearchConfig, run_search
    from nas.search.objectives import Constraint

    evaluator = SupernetEvaluator(super_dir, split="validation")
    if name == "hill-climbing":
        search = SearchConfig(searcher="hill-climbing", trials=config.hill_climbing_trials, objectives=(
            "bits_per_char:min",), options={})
    else:
        search = SearchConfig(searcher="nsga2", trials=config.nsga2_trials, objectives=(
            "bits_per_char:min", "params:min"), options={"population_size": config.nsga2_population})
    search = dataclasses.replace(search, batch=config.search_batch, constraints=(Constraint("params", limit),),
                                 initial_archs="middle", seed=config.seed)
    start = time.perf_counter()
    result = run_search(evaluator, directory, search, progress=progress)
    best = result.best()
    if best is None:  # the heuristic pick is asked first and meets its own budget; a smaller budget may not be met
        raise ConfigError(f"adapters: the {name} search in {directory} found no arch within params <= {limit:g}")
    pick = {"arch": best.arch, "validation_bits_per_char": best.metrics["bits_per_char"],
            "trials": len(result.records), "seconds": time.perf_counter() - start}
    record.write_text(json.dumps(pick, indent=2))
    return pick


def run_sparsity(config: Config, run_dir: Path, base: Path, sparsity: float, progress: bool) -> dict:
    from nas.inherited_scores import score_archs
    from searchers.middle_heuristic import middle_arch

    directory = run_dir / f"sparsity-{round(sparsity * 100):02d}"
    context = json.loads((base / "config.json").read_text())["space_options"]["context"]
    options = {"base": str(base), "context": context, "ranks": list(config.ranks), "groups": list(config.groups),
               "sparsity": sparsity}
    common = dict(space="lora", space_options=options, steps=config.steps,
                  collections=tuple(config.adapt_collections), **_settings(config))
    super_dir = directory / "super-adapter"
    train_once(TrainConfig(sampling="sandwich", num_random=1, **common), super_dir, progress, config.isolate)
    adapted = Adapted(super_dir)
    space = adapted.space
    largest, middle = space.largest(), middle_arch(space)
    full = adapted.trainable(largest)
    allowed = adapted.trainable(middle) if config.budget is None else config.budget * full
    base_params = _params(adapted, largest) - full
    picks = {"largest": {"arch": largest.to_string()}, "middle": {"arch": middle.to_string()}}
    for name in PICKS[1:]:
        picks[name] = search_pick(name, super_dir, directory / f"search-{name}", config, base_params + allowed,
                                  progress)
    archs = {name: space.from_string(pick["arch"]) for name, pick in picks.items()}
    inherited = score_archs(super_dir, np.stack([a.to_vector() for a in archs.values()]), split="test",
                            metric="bits_per_char")
    rows = []
    for (name, arch), score in zip(archs.items(), inherited):
        alone_dir = directory / arch_name(arch)
        train_once(TrainConfig(sampling="standalone", arch=arch.to_string(), **common), alone_dir, progress,
                   config.isolate)
        summary = json.loads((alone_dir / "summary.json").read_text())
        rows.append({"pick": name, "arch": arch.to_string(), "ranks": list(dict(arch).values()),
                     "trainable": adapted.trainable(arch), "nonzero": adapted.nonzero(arch),
                     "inherited_bits_per_char": float(score),
                     "alone_bits_per_char": summary["arch"]["test_bits_per_char"], "alone_run": alone_dir.name,
                     "alone_seconds_per_step": seconds_per_step(alone_dir),
                     **{k: v for k, v in picks[name].items() if k != "arch"}})
    return {"sparsity": sparsity, "directory": directory.name, "budget_trainable": allowed,
            "full_rank_trainable": full, "base_zero_share": adapted.base_zero_share(),
            "base_bits_per_char": adapted.base_bits_per_char(), "base_nonzero": adapted.base_nonzero(),
            "unigram_test_bits_per_char": json.loads((super_dir / "summary.json").read_text())[
                "unigram_test_bits_per_char"],
            "super_adapter_seconds_per_step": seconds_per_step(super_dir), "super_adapter_archs_per_step": 3,
            "rows": rows}


def _params(adapted: Adapted, arch) -> float:
    """The analytic params count of `arch` (base and adapters): the `params` metric the searches budget."""
    from nas.search.cost_metrics import hardware_metrics

    return hardware_metrics(adapted.session, adapted.state)["params"](arch)


def shears_claim(results: dict) -> dict | None:
    """Shears' heuristic over the sparsest base against dense LoRA (full rank, alone) over the dense base."""
    by_sparsity = {part["sparsity"]: part for part in results["parts"]}
    if 0.0 not in by_sparsity or max(by_sparsity) == 0:
        return None
    dense = next(r for r in by_sparsity[0.0]["rows"] if r["pick"] == "largest")
    sparse_part = by_sparsity[max(by_sparsity)]
    shears = next(r for r in sparse_part["rows"] if r["pick"] == "middle")
    lora_bits, shears_bits = dense["alone_bits_per_char"], shears["inherited_bits_per_char"]
    return {"sparsity": sparse_part["sparsity"], "dense_lora_bits_per_char": lora_bits,
            "shears_bits_per_char": shears_bits, "bits_per_char_difference": shears_bits - lora_bits,
            "relative_difference": (shears_bits - lora_bits) / lora_bits,
            "dense_lora_nonzero": dense["nonzero"], "shears_nonzero": shears["nonzero"],
            "nonzero_ratio": shears["nonzero"] / dense["nonzero"],
            "dense_lora_trainable": dense["trainable"], "shears_trainable": shears["trainable"],
            "base_bits_per_char_dense": by_sparsity[0.0]["base_bits_per_char"],
            "base_bits_per_char_sparse": sparse_part["base_bits_per_char"]}


def run(config: Config, run_dir: Path, progress: bool = True) -> dict:
    config.check()
    run_dir = Path(run_dir)
    base = pretrained_base(config, run_dir, progress)
    base_summary = json.loads((base / "summary.json").read_text())
    results = {"config": dataclasses.asdict(config), "base": str(base),
               "base_pretrain_test_bits_per_char": base_summary["largest"]["test_bits_per_char"]
               if "largest" in base_summary else base_summary["arch"]["test_bits_per_char"],
               "base_seconds_per_step": seconds_per_step(base), "parts": []}
    for sparsity in config.sparsities:
        results["parts"].append(run_sparsity(config, run_dir, base, float(sparsity), progress))
        results["shears"] = shears_claim(results)
        write_results(run_dir, results)  # after every part: a run cut short keeps what it finished
        (run_dir / "table.md").write_text(table(results))
        plot(results, run_dir / "pareto.png")
    return results


def table(results: dict) -> str:
    config = results["config"]
    lines = [f"Test bits/char on `{','.join(config['adapt_collections'])}` (lower is better) of a base pretrained on "
             f"`{','.join(config['pretrain_collections'])}` ({results['base_pretrain_test_bits_per_char']:.3f} there); "
             f"ranks {list(config['ranks'])} per group {list(config['groups'])} and layer; every adapter "
             f"{config['steps']} steps (batch {config['batch_size']}). Inherited: the super-adapter's weights; alone: "
             "that arch trained from scratch with the same steps. Ranks list "
             f"{', '.join(part.split('=')[0] for part in results['parts'][0]['rows'][0]['arch'].split(';'))}.", "",
             "| base sparsity | adapter | ranks | trainable | non-zero | inherited | alone | s/step alone | search |",
             "|---|---|---|---|---|---|---|---|---|"]
    for part in results["parts"]:
        sparsity = f"{part['sparsity']:.0%} (zeros {part['base_zero_share']:.3f})"
        lines.append(f"| {sparsity} | base, no adapter | - | 0 | {part['base_nonzero']:,} | "
                     f"{part['base_bits_per_char']:.4f} | - | - | - |")
        for row in part["rows"]:
            search = f"{row['trials']} trials, {row['seconds']:.0f} s" if "trials" in row else "-"
            label = "dense LoRA / full rank" if row["pick"] == "largest" else LABELS[row["pick"]]
            lines.append(f"| {sparsity} | {label} | {'/'.join(map(str, row['ranks']))} | {row['trainable']:,} | "
                         f"{row['nonzero']:,} | {row['inherited_bits_per_char']:.4f} | "
                         f"{row['alone_bits_per_char']:.4f} | {row['alone_seconds_per_step']:.3f} | {search} |")
        lines.append(f"| {sparsity} | super-adapter training | - | {part['full_rank_trainable']:,} | - | - | - | "
                     f"{part['super_adapter_seconds_per_step']:.3f} ({part['super_adapter_archs_per_step']} archs) | "
                     f"budget {part['budget_trainable']:,.0f} trainable |")
    shears = results.get("shears")
    if shears:
        lines += ["", f"Shears' claim: heuristic pick over the {shears['sparsity']:.0%}-sparse base (inherited) "
                      f"{shears['shears_bits_per_char']:.4f} bits/char with {shears['shears_nonzero']:,} non-zero "
                      f"parameters vs dense LoRA at full rank {shears['dense_lora_bits_per_char']:.4f} with "
                      f"{shears['dense_lora_nonzero']:,}: {shears['bits_per_char_difference']:+.4f} bits/char "
                      f"({shears['relative_difference']:+.1%}) at {shears['nonzero_ratio']:.2f}x the non-zero "
                      f"parameters. Base alone: {shears['base_bits_per_char_dense']:.4f} dense, "
                      f"{shears['base_bits_per_char_sparse']:.4f} sparse."]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = {"largest": "s", "middle": "o", "hill-climbing": "^", "nsga2": "D"}
    for color, part in zip(colors, results["parts"]):
        tag = f"{part['sparsity']:.0%} sparse"
        for axis, size in zip(axes, ("trainable", "nonzero")):
            for row in part["rows"]:
                x = row[size]
                axis.scatter(x, row["inherited_bits_per_char"], marker=markers[row["pick"]], color=color, s=50,
                             label=f"{tag}: {LABELS[row['pick']]}, inherited")
                axis.scatter(x, row["alone_bits_per_char"], marker=markers[row["pick"]], facecolors="none",
                             edgecolors=color, s=50, label=f"{tag}: {LABELS[row['pick']]}, alone")
            axis.axhline(part["base_bits_per_char"], color=color, linestyle="--", linewidth=1,
                         label=f"{tag}: base, no adapter")
            points = sorted((row[size], row[key]) for row in part["rows"]
                            for key in ("inherited_bits_per_char", "alone_bits_per_char"))
            front = [p for i, p in enumerate(points) if all(p[1] < q[1] for q in points[:i])]
            axis.step(*zip(*front), where="post", color=color, alpha=0.5, linewidth=1, label=f"{tag}: Pareto front")
    axes[0].set_xlabel("trainable parameters (adapter entries)")
    axes[1].set_xlabel("non-zero parameters of the exported model")
    for axis in axes:
        axis.set_ylabel("test bits/char (held-out collection)")
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    figure.legend(unique.values(), unique.keys(), loc="center right", fontsize=7)
    figure.tight_layout(rect=(0, 0, 0.74, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
