"""Fine-tuned scores: each arch's score after a short stand-alone fine-tune from a trained run's shared weights.

An inherited score ranks archs by how well the shared weights serve each of them; the supernet gave each
subnet only a share of its steps, so archs that need more of their own training are ranked low. A short
fine-tune of each candidate alone (its exact sliced shapes, as `--sampling standalone` trains) before
scoring is the usual remedy for a shortlist: it costs `steps` training steps per arch, so it re-ranks the
few archs a decision is between (a ground truth's, a search's finalists), not a whole search.

Each arch starts from the run's latest weights with a fresh optimiser of the run's kind (warm-up over a tenth
of the steps, then cosine; learning rate a third of the run's unless given) and the run's batch size and data
order; the fine-tuned weights are scored as `nas.inherited_scores` scores (BN recalibrated) and then dropped.
Scores (and each arch's fine-tune wall seconds) are cached in the run directory per (steps, learning rate,
split, metric), keyed by arch, and written after every arch, so an interrupted scoring resumes.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nas import data as data_lib
from nas.atomic_write import write_json_atomically
from nas.errors import ConfigError
from nas.evaluate import check_example_limit
from nas.inherited_scores import arch_key, check_metric, make_scorer, score_with
from nas.run_dir import RunDir
from nas.train.loop import restore_trained, step_options, trained_config
from nas.train.optim import make_optimizer
from nas.train.step import init_train_state, make_train_step, static_arch_usage


def default_learning_rate(run_learning_rate: float) -> float:
    return run_learning_rate / 3


def cache_path(path: Path, steps: int, learning_rate: float, split: str, metric: str,
               limit: int | None = None) -> Path:
    scored = split if limit is None else f"{split}-first{limit}"
    return path / f"scores-finetuned-{steps}-lr{learning_rate:g}-{scored}-{metric}.json"


def finetuned_scores(path: Path, vectors: np.ndarray, *, steps: int, learning_rate: float | None = None,
                     split: str = "test", metric: str = "accuracy", limit: int | None = None,
                     progress: bool = False) -> dict:
    """`metric` on `split` (its first `limit` examples when given) of each arch (int32 [n, D]) after `steps`
    stand-alone steps from the run's weights.

    {"scores": array [n], "learning_rate": the rate used, "seconds": fine-tune and scoring wall seconds summed
    over the distinct archs (when they were computed, cached or not)}.
    """
    check_metric(metric, "finetuned_scores")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"fine-tuned scores: steps must be an integer >= 1, got {steps!r}")
    if learning_rate is not None and not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
        raise ConfigError(f"fine-tuned scores: learning_rate must be a number > 0, got {learning_rate!r}")
    check_example_limit(limit, "fine-tuned scores: limit")
    path = Path(path)
    run = RunDir.open(path)
    rate = float(learning_rate) if learning_rate is not None else default_learning_rate(trained_config(run).learning_rate)
    cache_file = cache_path(path, steps, rate, split, metric, limit)
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    vectors = np.asarray(vectors)
    keys = [arch_key(v) for v in vectors]
    todo = {}  # each uncached arch once: key -> its first position
    for index, key in enumerate(keys):
        if key not in cache:
            todo.setdefault(key, index)
    if todo:  # the weights and data are loaded only when some arch is not cached yet
        session, trained = restore_trained(run)
        # The run's own optimiser and step options, over `steps` steps and without distillation (one arch alone).
        config = dataclasses.replace(session.config, steps=steps, learning_rate=rate, warmup_steps=max(steps // 10, 1),
                                     distillation="none")
        optimizer, options = make_optimizer(config), step_options(config, session)
        no_random = np.zeros((0, session.space.num_decisions), np.int32)
        scorer = make_scorer(session, metric=metric, limit=limit)
        for index in tqdm(todo.values(), desc=f"fine-tune {steps} steps", unit="arch", disable=not progress):
            started = time.monotonic()
            arch = session.space.from_vector(vectors[index])
            step = make_train_step(session.graphdef, session.space, optimizer, static_first=arch, options=options,
                                   input_shape=session.dataset.input_shape, donate=False,
                                   static_usage=static_arch_usage(session.graphdef, trained.params, trained.stats,
                                                                  [arch]))
            state = init_train_state(trained.params, trained.stats, optimizer)
            stream = data_lib.BatchStream(session.dataset.train, config.batch_size, seed=config.seed)
            for _ in range(steps):
                images, labels = stream.next()
                state, _ = step(state, images, labels, no_random, 1.0)
            score = score_with(scorer, state.params, state.stats, vectors[index][None], split=split, chunk=1)[0]
            cache[keys[index]] = {"score": score, "seconds": time.monotonic() - started}
            write_json_atomically(cache_file, cache, indent=1)  # an interrupted write keeps the archs already scored
    return {"scores": np.array([cache[key]["score"] for key in keys]), "learning_rate": rate,
            "seconds": sum(cache[key]["seconds"] for key in dict.fromkeys(keys))}
