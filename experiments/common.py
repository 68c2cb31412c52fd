"""What the experiments share: resumable sub-runs, fixed archs, result files.

An experiment writes everything under its run directory: one sub-run per
training (each resumable by `nas.train.loop.train`), `results.json` and PNG
plots. Re-running the same experiment skips finished trainings and scores.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np

from experiments.experiment_config import ExperimentConfig
from nas.config import changed_settings, to_dict
from nas.errors import ConfigError
from nas.option_bounds import Bounds
from nas.run_dir import RunDir
from nas.train.child import train_in_child
from nas.train.config import RESUME_INVARIANT, TrainConfig, saved_settings
from nas.train.loop import train

# The archs a ranking experiment trains alone: the smallest, the largest and at least one between.
RankedArchs = Annotated[int, Bounds(low=3)]


@dataclass(frozen=True)
class Budget(ExperimentConfig):
    """Data and optimisation settings every experiment's trainings share."""
    data: str = "fashion-mnist"  # synthetic: for tests
    isolate: bool = True  # each training in a child process (memory stays bounded); False: in this one (tests)
    limit_train: int | None = None
    batch_size: int = 128
    learning_rate: float = 0.1
    warmup_steps: int = 50

    def train_settings(self) -> dict:
        return {name: getattr(self, name) for name in
                ("data", "limit_train", "batch_size", "learning_rate", "warmup_steps")}


def train_once(config: TrainConfig, path: Path, progress: bool, isolate: bool = True) -> None:
    """Train (or finish, or skip) the sub-run at `path`. `isolate`: in a child process, so an experiment
    that trains many keeps its memory bounded (each run's compiled programs go with its process)."""
    if (path / "summary.json").exists():
        check_same_training(config, path)
        return
    if isolate:
        train_in_child(config, path, progress=progress)
    else:
        train(config, path, progress=progress)


def check_same_training(config: TrainConfig, path: Path) -> None:
    """A finished sub-run is reused only for the training it did: an experiment re-run with other options
    (steps, seed, space options, ...) would otherwise score the old training under the new settings."""
    saved = saved_settings(RunDir(path).read_config().get("config", {}))
    wanted, defaults = to_dict(config), to_dict(TrainConfig())
    # What resuming a run must keep, plus what the finished run's scores depend on; not how it was run
    # (devices, execution, checkpoint and log intervals), which a resume may change too.
    changed = changed_settings(saved, wanted, (*RESUME_INVARIANT, "steps", "calibration_images"), defaults=defaults)
    if changed:
        key = changed[0]
        raise ConfigError(f"{path} was trained with {key}={saved.get(key, defaults.get(key))!r}, and this experiment "
                          f"asks for {key}={wanted.get(key)!r}; run it with the options it was started with, or into "
                          "another --run")


def fixed_archs(space, count: int, seed: int) -> list:
    """`count` distinct archs drawn uniformly with a fixed seed, none the smallest or largest."""
    rng = np.random.default_rng(seed)
    endpoints = {space.smallest(), space.largest()}
    archs = []
    while len(archs) < count:
        arch = space.sample(rng)
        if arch not in endpoints and arch not in archs:
            archs.append(arch)
    return archs


def write_results(run_dir: Path, results: dict) -> None:
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=float))
