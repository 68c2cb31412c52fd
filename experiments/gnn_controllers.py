"""Controllers and constrained weight sharing on the GNN space (issue 26 part 3: Auto-GNN).

    nas experiment gnn_controllers --run runs/gnn-controllers

Every searcher (`conservative-rl`, Auto-GNN's conservative controller; the TuNAS-style `rl`; regularized
`evolution`; `random`) searches the GNN space (`search_spaces/gnn.py`, node classification on the k-NN
graph of Fashion-MNIST) for `trials` trials on each of `seeds` paired seeds, under each weight-sharing
rule (`nas.search.sharing_rule`): `all` (one weight store for every arch) and `homogeneous` (one store per
group of homogeneous archs: Auto-GNN's constrained sharing). A trial is the weight-shared evaluation of
`nas search --sharing RULE`: the arch trains `sharing_steps` steps from its group's store (a new group
starts from one supernet trained here, `sharing_start`), writes back, and is scored on the validation
split. Searchers run as `nas search` composes them (the endpoints first, repeats answered without a trial),
one arch evaluated at a time, single objective (validation accuracy).

Reported per searcher and rule, over the seeds (results.json, table.md, controllers.png):
* the final pick (the best shared score of the search) trained alone (`standalone_steps` steps from the
  supernet's initialisation with seed 0; the masked lowering of that arch alone, which computes the sliced
  network's function) and scored on the test split; stand-alone scores are cached by arch across runs;
* Kendall tau between shared scores and stand-alone test accuracy on `archs` archs stratified over log
  multiply-adds: each arch's shared score is what the search would have given it next (trained from its
  group's store as the search left it, nothing written back), the stand-alone score the mean of
  `standalone_seeds` trainings alone;
* how often a trial inherited weights an earlier trial of its group had trained, and the groups used.

Resumable: the supernet run, `standalone.json` (one entry per arch and seed) and `runs.jsonl` (one line per
searcher, rule and seed) are kept; a re-run does only what is missing.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nas.atomic_write import write_json_atomically
from nas.errors import ConfigError

SEARCHERS = ("conservative-rl", "rl", "evolution", "random")
SHARINGS = ("all", "homogeneous")


@dataclass(frozen=True)
class Config:
    space: str = "gnn"
    space_options: dict = field(default_factory=lambda: {"max_layers": 2, "widths": [8, 16, 32], "heads": [1, 2]})
    data: str = "fashion-mnist-knn"
    searchers: tuple = SEARCHERS
    sharings: tuple = SHARINGS
    seeds: int = 5
    first_seed: int = 0
    trials: int = 12
    batch: int = 4
    initial_archs: str = "endpoints"
    # Per searcher, options of its constructor (`nas search --option`). Evolution's default population (20)
    # would exceed a small trial budget and leave it a random search: by default it holds a third of the trials.
    searcher_options: dict = field(default_factory=dict)
    sharing_steps: int = 5
    isolate: bool = True  # the supernet's training in a child process (bounded memory); False: in this one (tests)
    sharing_start: str = "trained"
    supernet_steps: int = 150
    standalone_steps: int = 60
    standalone_seeds: tuple = (0, 1)  # stand-alone trainings of each of the archs ranked; a pick gets the first
    archs: int = 16
    strata: int = 4
    arch_seed: int = 4321
    batch_size: int = 200
    optimizer: str = "adamw"
    learning_rate: float = 0.01
    weight_decay: float = 5e-4
    warmup_steps: int = 10
    grad_clip: float | None = 1.0  # the GNN supernet diverged without it (a sum aggregation's NaN at step 43)
    limit: int | None = None  # score only the first N validation examples in the search (tests)
    limit_test: int | None = None  # stand-alone: only the first N test examples (tests)

    def options_of(self, searcher: str) -> dict:
        if searcher in self.searcher_options:
            return dict(self.searcher_options[searcher])
        if searcher == "evolution":
            population = max(2, self.trials // 3)
            return {"population_size": population, "sample_size": max(2, population // 2)}
        return {}

    def check(self) -> None:
        from searchers.registry import SEARCHERS as KNOWN, searcher_options

        unknown = [s for s in self.searchers if s not in KNOWN]
        if unknown:
            raise ConfigError(f"gnn_controllers: unknown searcher(s) {unknown}; allowed: {', '.join(KNOWN)}")
        for name, options in self.searcher_options.items():
            if name not in KNOWN or not isinstance(options, dict):
                raise ConfigError(f"gnn_controllers: searcher_options maps a searcher ({', '.join(KNOWN)}) to an "
                                  f"object of its options, got {name!r}: {options!r}")
            wrong = sorted(set(options) - set(searcher_options(name)))
            if wrong:
                raise ConfigError(f"gnn_controllers: searcher {name!r} has no option(s) {', '.join(wrong)}; "
                                  f"allowed: {', '.join(searcher_options(name))}")
        if not self.sharings or any(s not in SHARINGS for s in self.sharings):
            raise ConfigError(f"gnn_controllers: sharings must be some of {', '.join(SHARINGS)}, got "
                              f"{list(self.sharings)}")
        if self.seeds < 1 or self.trials < 2 or self.archs < 4 or not self.standalone_seeds:
            raise ConfigError(f"gnn_controllers: need seeds >= 1, trials >= 2, archs >= 4 and a stand-alone seed, got "
                              f"seeds={self.seeds}, trials={self.trials}, archs={self.archs}, "
                              f"standalone_seeds={list(self.standalone_seeds)}")

    def training(self, **overrides):
        from nas.train.config import TrainConfig

        return TrainConfig(space=self.space, space_options=dict(self.space_options), data=self.data,
                           batch_size=self.batch_size, optimizer=self.optimizer, learning_rate=self.learning_rate,
                           weight_decay=self.weight_decay, warmup_steps=self.warmup_steps, grad_clip=self.grad_clip,
                           **overrides)


class StandAlone:
    """Test accuracy of an arch trained alone, cached in `standalone.json` by (arch, seed).

    One compiled masked step serves every arch (the arch is a traced vector, so nothing compiles per arch);
    each (arch, seed) starts from the supernet initialised with that seed and runs the run's schedule
    (warm-up, cosine) on a stream seeded likewise. Under the masked lowering only the arch's own slices have
    gradients, and the optimizer freezes the rest, so this is that arch's network trained by itself.
    """

    def __init__(self, config: Config, path: Path):
        self.config, self.path = config, path
        self.cache = json.loads(path.read_text()) if path.exists() else {}
        self._ready = False

    def prepare(self) -> None:
        if self._ready:
            return
        from nas.evaluate import fixed_batches, make_batched_scorer
        from nas.train.loop import build_session
        from nas.train.optim import make_optimizer
        from nas.train.step import make_train_step

        training = self.config.training(steps=self.config.standalone_steps)
        self.session = build_session(training)
        self.optimizer = make_optimizer(training)
        self.step = make_train_step(self.session.graphdef, self.session.space, self.optimizer, donate=False)
        self.scorer = make_batched_scorer(self.session.graphdef, self.session.space)
        test = self.session.dataset.test
        inputs, labels = test.inputs[:self.config.limit_test], test.labels[:self.config.limit_test]
        self.batches = fixed_batches(inputs, labels, min(500, len(inputs)))
        self.calibration = self.session.dataset.train.inputs[:64]
        self._ready = True

    @staticmethod
    def key(arch: str, seed: int) -> str:
        return f"{arch}|seed{seed}"

    def score(self, arch, seed: int) -> float:
        import jax

        from nas.data import BatchStream
        from nas.definition import get_definition
        from nas.lowering import split
        from nas.train.step import init_train_state

        key = self.key(arch.to_string(), seed)
        if key not in self.cache:
            self.prepare()
            started = time.perf_counter()
            definition = get_definition(self.config.space)
            options = self.session.options
            _, supernet = definition.build(options, seed=seed)
            _, params, stats = split(supernet)
            state = init_train_state(params, stats, self.optimizer)
            stream = BatchStream(self.session.dataset.train, min(self.config.batch_size,
                                                                  len(self.session.dataset.train)), seed=seed)
            vector = np.asarray(arch.to_vector(), np.int32)[None]
            for _ in range(self.config.standalone_steps):
                images, labels = stream.next()
                state, _ = self.step(state, images, labels, vector)
            accuracy = float(jax.device_get(self.scorer(state.params, state.stats, self.calibration, self.batches,
                                                        vector))[0])
            # Another process of the same run may have added scores since this one read the file: merge, so a
            # rewrite never drops them (the window between the read and the rename is milliseconds).
            on_disk = json.loads(self.path.read_text()) if self.path.exists() else {}
            self.cache = {**on_disk, **self.cache,
                          key: {"test_accuracy": accuracy, "seconds": time.perf_counter() - started}}
            write_json_atomically(self.path, self.cache, indent=1)
        return float(self.cache[key]["test_accuracy"])


def ranked_archs(config: Config, session):
    from nas.hardware.counters import load_counter
    from nas.stratified import stratified_archs

    counter = load_counter(config.space, config.space_options, input_shape=session.dataset.input_shape)
    return stratified_archs(counter.space, lambda v: np.asarray(counter.macs(v), float), config.archs,
                            strata=config.strata, seed=config.arch_seed)


def search_once(evaluator, name: str, seed: int, config: Config) -> dict:
    """One search under the evaluator's sharing rule; its trials, pick and what it inherited."""
    from searchers.composed import composed
    from searchers.registry import make_searcher

    space = evaluator.space
    evaluator.shared.reset(seed)
    searcher = composed(make_searcher(name, space, 1, seed=seed, options=config.options_of(name)),
                        initial=config.initial_archs, seed=seed)
    archs, scores, inherited = [], [], []
    started = time.perf_counter()
    while len(archs) < config.trials:
        asked = searcher.ask(min(config.batch, config.trials - len(archs)))
        if not asked:
            break
        values = []
        for arch in asked:  # one at a time: whether it inherits depends on the trials before it
            inherited.append(evaluator.shared.inherited(arch))
            values.append(evaluator.evaluate([arch])[0]["accuracy"])
        searcher.tell(asked, np.array([[-v] for v in values]))
        archs += [a.to_string() for a in asked]
        scores += values
    best = int(np.argmax(scores))
    return {"archs": archs, "scores": scores, "inherited": inherited, "pick": archs[best],
            "pick_shared": scores[best], "groups": len(evaluator.shared.children),
            "seconds": time.perf_counter() - started}


def run(config: Config, run_dir: str | Path, progress: bool = True) -> dict:
    from nas.search import SupernetEvaluator
    from nas.search.shared_weights import Sharing

    from experiments.common import train_once

    from nas.standalone_truth import check_plan

    config.check()
    run_dir = Path(run_dir)
    # Which searchers, rules and seeds run may change between runs of one directory (each is its own row);
    # everything else decides what a row means.
    free = ("searchers", "sharings", "seeds", "first_seed", "isolate")
    check_plan(run_dir / "plan.json",
               {"config": {k: v for k, v in dataclasses.asdict(config).items() if k not in free}},
               "gnn_controllers")
    say = print if progress else (lambda *a, **k: None)
    supernet = run_dir / "supernet"
    # A step whose loss or gradients are not finite (any subnet of the sandwich) is skipped, not fatal.
    train_once(config.training(steps=config.supernet_steps, checkpoint_every=max(config.supernet_steps // 2, 1),
                               on_nonfinite="skip"), supernet, progress, config.isolate)
    standalone = StandAlone(config, run_dir / "standalone.json")
    standalone.prepare()
    ranked = ranked_archs(config, standalone.session)
    truth = []
    for index, arch in enumerate(ranked):
        truth.append(float(np.mean([standalone.score(arch, s) for s in config.standalone_seeds])))
        say(f"stand-alone {index + 1}/{len(ranked)}: {truth[-1]:.4f}", flush=True)

    partial = run_dir / "runs.jsonl"

    def finished() -> dict:  # re-read before each search: another process of this run may have done it
        rows = [json.loads(line) for line in partial.read_text().splitlines()] if partial.exists() else []
        return {(row["searcher"], row["sharing"], row["seed"]): row for row in rows}

    done = finished()
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    for sharing in config.sharings:
        jobs = [(name, sharing, seed) for seed in seeds for name in config.searchers]
        if all(job in done for job in jobs):
            continue
        evaluator = SupernetEvaluator(supernet, limit=config.limit, metrics={},
                                      sharing=Sharing(sharing, steps=config.sharing_steps, start=config.sharing_start))
        with partial.open("a") as handle:
            for job in jobs:
                done.update(finished())
                if job in done:
                    continue
                name, _, seed = job
                row = {"searcher": name, "sharing": sharing, "seed": seed, **search_once(evaluator, name, seed, config)}
                row["ranked_shared"] = evaluator.scores(ranked, write_back=False)["accuracy"].tolist()
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                done[job] = row
                say(f"{name} / {sharing} / seed {seed}: pick {row['pick_shared']:.4f} shared, "
                    f"{np.mean(row['inherited']):.0%} inherited, {row['seconds']:.0f} s", flush=True)
    rows = [done[(name, sharing, seed)] for sharing in config.sharings for seed in seeds for name in config.searchers]
    for row in rows:
        row["pick_standalone"] = standalone.score(standalone.session.space.from_string(row["pick"]),
                                                  config.standalone_seeds[0])
    results = summarise(config, rows, ranked, truth, standalone)
    write_json_atomically(run_dir / "results.json", results, indent=1)
    (run_dir / "table.md").write_text(table(results))
    plot(results, run_dir / "controllers.png")
    return {"table": str(run_dir / "table.md"), "runs": len(rows)}


def _mean_sem(values) -> dict:
    values = np.asarray(values, float)
    sem = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return {"mean": float(values.mean()), "sem": sem}


def _paired(first, second) -> dict:
    from scipy.stats import wilcoxon

    difference = np.asarray(second, float) - np.asarray(first, float)
    p = float(wilcoxon(difference).pvalue) if np.any(difference) and len(difference) > 1 else None
    return {"mean_difference": float(difference.mean()), "wins": int((difference > 0).sum()),
            "losses": int((difference < 0).sum()), "wilcoxon_p": p}


def summarise(config: Config, rows: list[dict], ranked, truth: list[float], standalone: StandAlone) -> dict:
    from nas.rank_metrics import kendall_tau

    for row in rows:
        row["kendall_tau"] = float(kendall_tau(np.asarray(row["ranked_shared"]), np.asarray(truth)))
    cells = {}
    for sharing in config.sharings:
        for name in config.searchers:
            mine = sorted((r for r in rows if r["searcher"] == name and r["sharing"] == sharing),
                          key=lambda r: r["seed"])
            cells[f"{name}/{sharing}"] = {
                "pick_standalone": _mean_sem([r["pick_standalone"] for r in mine]),
                "pick_shared": _mean_sem([r["pick_shared"] for r in mine]),
                "kendall_tau": _mean_sem([r["kendall_tau"] for r in mine]),
                "inherited": float(np.mean([np.mean(r["inherited"]) for r in mine])),
                "groups": float(np.mean([r["groups"] for r in mine])),
                "seconds": float(np.mean([r["seconds"] for r in mine]))}
    paired = {}
    if set(SHARINGS) <= set(config.sharings):
        for name in config.searchers:
            rows_of = {s: sorted((r for r in rows if r["searcher"] == name and r["sharing"] == s),
                                 key=lambda r: r["seed"]) for s in SHARINGS}
            paired[name] = {key: _paired([r[key] for r in rows_of["all"]], [r[key] for r in rows_of["homogeneous"]])
                            for key in ("pick_standalone", "kendall_tau")}
    seed_pairs = None
    if len(config.standalone_seeds) > 1:
        a, b = config.standalone_seeds[:2]
        first = [standalone.cache[standalone.key(arch.to_string(), a)]["test_accuracy"] for arch in ranked]
        second = [standalone.cache[standalone.key(arch.to_string(), b)]["test_accuracy"] for arch in ranked]
        seed_pairs = {"seeds": [a, b], "kendall_tau": float(kendall_tau(np.asarray(first), np.asarray(second)))}
    return {"config": dataclasses.asdict(config), "runs": rows, "summary": cells, "homogeneous_minus_all": paired,
            "ranked": [{"arch": arch.to_string(), "standalone": value} for arch, value in zip(ranked, truth)],
            "standalone_seed_agreement": seed_pairs, "best_ranked_standalone": float(max(truth))}


def _cell(entry: dict, digits: int = 4) -> str:
    return f"{entry['mean']:.{digits}f} ± {entry['sem']:.{digits}f}"


def _p(value) -> str:
    return "–" if value is None else f"{value:.2g}"


def table(results: dict) -> str:
    config, summary = results["config"], results["summary"]
    agreement = results["standalone_seed_agreement"]
    lines = [f"GNN controllers ({config['space']} {json.dumps(config['space_options'])}, data {config['data']}): "
             f"{config['seeds']} paired seeds, {config['trials']} trials each in batches of {config['batch']}; "
             f"a trial trains {config['sharing_steps']} steps from its group's weights (new groups from a "
             f"{config['supernet_steps']}-step supernet: start {config['sharing_start']}), then scores on the "
             f"validation split. Pick: the best shared score, trained alone {config['standalone_steps']} steps, "
             f"test accuracy. Tau: shared scores vs stand-alone (mean of seeds {list(config['standalone_seeds'])}) on "
             f"{config['archs']} archs stratified over multiply-adds. Mean ± standard error over seeds.", ""]
    if agreement:
        lines += [f"Stand-alone seeds agree at Kendall tau {agreement['kendall_tau']:.3f} on those archs; the best "
                  f"of them reaches {results['best_ranked_standalone']:.4f} test accuracy.", ""]
    lines += ["| searcher | sharing | pick trained alone (test acc) | pick's shared score (val) | Kendall tau "
              "(16 archs) | trials inheriting | groups |", "|---|---|---|---|---|---|---|"]
    for sharing in config["sharings"]:
        for name in config["searchers"]:
            e = summary[f"{name}/{sharing}"]
            lines.append(f"| {name} | {sharing} | {_cell(e['pick_standalone'])} | {_cell(e['pick_shared'])} | "
                         f"{_cell(e['kendall_tau'], 3)} | {e['inherited']:.0%} | {e['groups']:.1f} |")
    if results["homogeneous_minus_all"]:
        lines += ["", "Homogeneous minus all, paired by seed (mean difference, wins/losses, Wilcoxon p):", "",
                  "| searcher | pick trained alone | Kendall tau |", "|---|---|---|"]
        for name, paired in results["homogeneous_minus_all"].items():
            cells = [f"{p['mean_difference']:+.4f}, {p['wins']}/{p['losses']}, {_p(p['wilcoxon_p'])}"
                     for p in (paired["pick_standalone"], paired["kendall_tau"])]
            lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config, summary = results["config"], results["summary"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(config["sharings"])
    positions = np.arange(len(config["searchers"]))
    for offset, sharing in enumerate(config["sharings"]):
        for axis, key, label in ((axes[0], "pick_standalone", "pick trained alone: test accuracy"),
                                 (axes[1], "kendall_tau", "Kendall tau, shared vs stand-alone")):
            entries = [summary[f"{name}/{sharing}"][key] for name in config["searchers"]]
            axis.bar(positions + offset * width, [e["mean"] for e in entries], width,
                     yerr=[e["sem"] for e in entries], label=f"sharing {sharing}", capsize=3)
            axis.set_ylabel(label)
    for axis in axes:
        axis.set_xticks(positions + width * (len(config["sharings"]) - 1) / 2, config["searchers"])
        axis.grid(alpha=0.3, axis="y")
    axes[0].set_ylim(max(0.0, min(e["pick_standalone"]["mean"] for e in summary.values()) - 0.05), None)
    axes[0].axhline(results["best_ranked_standalone"], color="grey", linestyle=":", linewidth=1)
    axes[1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
