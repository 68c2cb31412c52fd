"""What scores candidate archs: a trained supernet run, or any Python function of an Arch.

An evaluator has a `space`, the `metric_names` it produces, `cheap_metrics` (metric ->
function of one Arch, computed without the network: budgets are checked with them
before anything is evaluated) and `evaluate(archs) -> list[dict[metric, float]]`; it may
have a `reference` (metric -> hypervolume reference value) for metrics only it knows how to bound.

Cost metrics are injectable callables (`metrics={"macs": fn, "latency": fn}`); by
default a supernet run gets `macs` and `params` from `nas.hardware`'s analytic counters
(params of the sliced subnet for a space without a cost model) and `latency` from a
predictor file (`nas.search.cost_metrics`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from nas.errors import ConfigError
from nas.search.objectives import canonical_metric, canonical_metrics
from nas.space import Arch, Space

MetricFunction = Callable[[Arch], float]


class BlackBoxEvaluator:
    """`objective(arch)` returns a number (the first of `outputs`) or a mapping metric -> number.

    Unless told otherwise a search optimises every output (accuracy maximised, any other minimised) and,
    where a `params` metric is given, params minimised (`default_objectives`).
    """

    def __init__(self, space: Space, objective: Callable[[Arch], float | Mapping[str, float]], *,
                 outputs: Sequence[str] = ("accuracy",), metrics: Mapping[str, MetricFunction] | None = None):
        # A metric's former name (`flops`) reads as its current one here as in objectives and budgets.
        self.space, self.objective = space, objective
        self.outputs = tuple(canonical_metric(name) for name in outputs)
        self.cheap_metrics = dict(metrics or {})
        self.metric_names = [*self.outputs, *(m for m in self.cheap_metrics if m not in self.outputs)]
        self.default_objectives = (*self.outputs, *(("params:min",) if "params" in self.metric_names
                                                     and "params" not in self.outputs else ()))

    def evaluate(self, archs: Sequence[Arch]) -> list[dict[str, float]]:
        results = []
        for arch in archs:
            value = self.objective(arch)
            measured = canonical_metrics(value) if isinstance(value, Mapping) else {self.outputs[0]: value}
            missing = [m for m in self.outputs if m not in measured]
            if missing:
                raise ConfigError(f"the objective returned {sorted(measured)} for {arch}; it must return "
                                  f"{', '.join(self.outputs)}")
            for name, function in self.cheap_metrics.items():
                measured.setdefault(name, function(arch))
            results.append({k: float(v) for k, v in measured.items()})
        return results


def scoring_execution(execution: str, definition) -> str:
    """`auto` resolved for a space: `switch` (each block at its chosen width) where it has switched
    execution, else `masked`; `switch` on a space without it is refused."""
    if execution == "auto":
        return "switch" if definition.switch_execution else "masked"
    if execution == "switch" and not definition.switch_execution:
        raise ConfigError(f"space {definition.name!r} has no switch execution; allowed: --execution auto or masked")
    return execution


def sliced_params(graphdef, params, stats) -> MetricFunction:
    """Parameter count of an arch's sliced standalone subnet (cached per arch)."""
    from flax import nnx

    from nas.lowering import count_params, slice_subnet, split

    supernet = nnx.merge(graphdef, params, stats)
    cache: dict[str, float] = {}

    def count(arch: Arch) -> float:
        key = arch.to_string()
        if key not in cache:
            cache[key] = float(count_params(split(slice_subnet(supernet, arch))[1]))
        return cache[key]
    return count


class SupernetEvaluator:
    """Accuracy with the supernet's inherited weights, BN recalibrated per subnet, in fixed-size batches.

    A run on token windows (a language model) gets the next-byte accuracy over every
    position as `accuracy` (higher is better, as for images) and `bits_per_char` beside it.
    `execution="auto"` runs each block at its chosen width (`switch`) where the space's
    definition supports it, else the masked lowering. `split` is the data split scored
    (validation by default: the test split stays for the final report). `supernet` picks the
    network scoring a mixture run's archs: its own (`auto`) or the plain supernet inside it
    (`single`); see `nas.search.scoring_network`.

    `sharing` (`nas.search.shared_weights.Sharing`) other than `none` trains before it scores: each arch is
    trained briefly from the weights of its group under the sharing rule (`all`: one store for every arch;
    `homogeneous`: one per group of homogeneous archs, Auto-GNN) and writes them back; with `sharing_dir`
    the stores are saved there after every evaluated batch and restored when it is opened again.
    """

    def __init__(self, run_path: str | Path, *, split: str = "validation", execution: str = "auto", chunk: int = 8,
                 metrics: Mapping[str, MetricFunction] | None = None, limit: int | None = None,
                 latency_predictor: str | Path | None = None, supernet: str = "auto", sharing=None,
                 sharing_dir: str | Path | None = None):
        from nas.definition import get_definition
        from nas.evaluate import check_example_limit, fixed_batches, make_batched_scorer
        from nas.evaluate_text import make_batched_next_token_scorer
        from nas.run_dir import RunDir
        from nas.search.scoring_network import family, scoring_network
        from nas.train.loop import enable_compilation_cache, restore_trained

        if split not in ("train", "validation", "test"):
            raise ConfigError(f"unknown split {split!r}; allowed: train, validation, test")
        check_example_limit(limit, "--limit")
        enable_compilation_cache()
        self.run = RunDir.open(run_path)
        self.session, self.state = restore_trained(self.run)
        self.space = self.session.space
        self.trained_supernet = self.session.config.supernet
        self.network = scoring_network(self.session, self.state, supernet)
        # A study scored by another network than the run's own records which (nas.search.study).
        self.scoring_record = None if self.network.family == family(self.trained_supernet) else self.network.family
        execution = scoring_execution(execution, get_definition(self.session.config.space))
        self.execution, self.chunk, self.split, self.limit = execution, chunk, split, limit
        data = getattr(self.session.dataset, split)
        inputs, labels = data.inputs[:limit], data.labels[:limit]
        if len(inputs) == 0:
            raise ConfigError(f"the {split} split of {self.run.path} is empty; choose another split (train, validation, test)")
        text = self.session.dataset.inputs == "tokens"
        make_scorer = make_batched_next_token_scorer if text else make_batched_scorer
        self._make_scorer = make_scorer
        self._scorer = make_scorer(self.network.graphdef, self.space, execution=execution)
        self.scored_metrics = ["accuracy", "bits_per_char"] if text else ["accuracy"]
        # Hypervolume reference of bits per character: the uniform model over the vocabulary (8 bits for
        # bytes); subnets no better than guessing add nothing to the front's volume.
        self.reference = {"bits_per_char": math.log2(self.session.dataset.num_classes)} if text else {}
        self._batches = fixed_batches(inputs, labels, min(self.session.config.eval_batch_size, len(inputs)))
        self._calibration = self.session.dataset.train.inputs[:self.session.config.calibration_images]
        if metrics is None:
            from nas.search.cost_metrics import hardware_metrics
            metrics = hardware_metrics(self.session, self.state, latency_predictor)
        self.cheap_metrics = dict(metrics)
        self.metric_names = [*self.scored_metrics, *self.cheap_metrics]
        self.shared, self.sharing_dir = None, None if sharing_dir is None else Path(sharing_dir)
        if sharing is not None and sharing.active:
            self.shared = self._shared_weights(sharing)

    def _shared_weights(self, sharing):
        from nas.search.shared_weights import SharedWeights

        if self.network.family != "single":
            raise ConfigError(f"--sharing {sharing.rule} trains a plain supernet's weights; this run scores with "
                              f"its {self.network.family} network: use --supernet single or --sharing none")
        sharing.check()
        start = (self.state.params, self.state.stats) if sharing.start == "trained" else (
            self.session.params, self.session.stats)
        shared = SharedWeights(self.session, *start, sharing, execution=self.execution)
        if self.sharing_dir is not None:
            shared.load(self.sharing_dir)
        return shared

    def scores(self, archs: Sequence[Arch], *, write_back: bool = True) -> dict[str, np.ndarray]:
        """Each of `scored_metrics` for every arch, in the order given.

        Under a sharing rule each arch is first trained from its group's weights, in the order given; with
        `write_back=False` the stores are left as they were (what the search would score now)."""
        if self.shared is None:
            return self._scores_with(self._scorer, self.network.params, self.network.stats, archs)
        rows = [self._scores_with(self._scorer, *self.shared.train(arch, write_back=write_back), [arch], chunk=1)
                for arch in archs]
        return {name: np.concatenate([row[name] for row in rows]) for name in self.scored_metrics}

    def _scores_with(self, scorer, params, stats, archs: Sequence[Arch], chunk: int | None = None
                     ) -> dict[str, np.ndarray]:
        import jax

        chunk = chunk or self.chunk
        vectors = np.stack([arch.to_vector() for arch in archs])
        pad = (-len(vectors)) % chunk  # fixed-size chunks: one compile for every batch
        padded = np.concatenate([vectors, np.repeat(vectors[:1], pad, axis=0)])
        chunks = [jax.device_get(scorer(params, stats, self._calibration, self._batches, padded[i:i + chunk]))
                  for i in range(0, len(padded), chunk)]
        if not isinstance(chunks[0], dict):  # the image scorer returns accuracy alone
            chunks = [{"accuracy": chunk} for chunk in chunks]
        return {name: np.concatenate([np.asarray(chunk[name]) for chunk in chunks])[:len(archs)]
                for name in self.scored_metrics}

    def accuracy(self, archs: Sequence[Arch]) -> np.ndarray:
        return self.scores(archs)["accuracy"]

    def evaluate(self, archs: Sequence[Arch]) -> list[dict[str, float]]:
        scores = self.scores(archs)
        if self.shared is not None and self.sharing_dir is not None:
            self.shared.save(self.sharing_dir)
        return [{**{name: float(values[index]) for name, values in scores.items()},
                 **{name: float(f(arch)) for name, f in self.cheap_metrics.items()}}
                for index, arch in enumerate(archs)]

    def scoring_cost(self, archs: Sequence[Arch], *, repeats: int = 2) -> dict:
        """Seconds per arch of scoring `archs` with this evaluator's network and with the plain supernet inside
        the run (`nas.search.scoring_network.measure_scoring_cost`), plus which networks they are."""
        from nas.search.scoring_network import measure_scoring_cost, plain_pieces

        archs = list(archs)
        mixture = None
        if self.network.family == "single":
            single = lambda: self._scores_with(self._scorer, self.network.params, self.network.stats, archs)
        else:
            graphdef, params, stats = plain_pieces(self.session, self.state)
            plain = self._make_scorer(graphdef, self.space, execution=self.execution)
            single = lambda: self._scores_with(plain, params, stats, archs)
            mixture = lambda: self._scores_with(self._scorer, self.network.params, self.network.stats, archs)
        report = measure_scoring_cost(mixture, single, len(archs), repeats=repeats)
        return {"scoring": self.network.family, "trained_supernet": self.trained_supernet, **report}
