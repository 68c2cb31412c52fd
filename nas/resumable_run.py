"""The resumable-run engine shared by `nas train` and `nas search-differentiable`.

A run directory (`nas.run_dir`) holds config.json, Orbax checkpoints and metrics.jsonl. The engine owns
what every stepped run does with it, so the two commands cannot drift apart:

- `open_run`: refuse another run's directory, restore the newest readable checkpoint (a damaged newest one
  falls back to the one before) before anything is written, then write the record, drop metric lines past
  the restored step, and discard the unreadable checkpoints;
- `run_steps`: the step loop with a progress bar, a metrics line every `log_every` steps, a checkpoint
  every `checkpoint_every` steps and at the end, a divergence guard judged before any line or checkpoint
  is written, and a save on Ctrl-C so the same command resumes;
- `disk_full_as_error`: a full disk ends the run with `DiskFull` naming the checkpoints that stay usable.

What a run steps is a `SteppedJob`: it holds its own state (weights, data positions) and says what a step
does, what a metrics line holds and what a checkpoint holds.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jax
from tqdm import tqdm

from nas.checkpoint import Checkpointer
from nas.disk_full import is_disk_full
from nas.errors import DiskFull, RunDirError
from nas.interrupt import HeldInterrupts
from nas.run_dir import RunDir


class SteppedJob(Protocol):
    def advance(self, step: int) -> Any:
        """Run step `step` (0-based) and keep its result as the job's state; return the step's metrics."""

    def log_record(self, completed: int, metrics: Any) -> dict:
        """The metrics.jsonl line after `completed` steps (may read the metrics' device values)."""

    def snapshot(self) -> tuple[dict, dict]:
        """(trees, metadata) to checkpoint: the state after the last completed step and, in the metadata,
        whatever else a resume needs (data positions). The engine adds "step"."""


class Guard(Protocol):
    def check(self) -> None:
        """Raise if the step held for judgement diverged (`nas.train.divergence`)."""


@dataclass
class OpenedRun:
    run: RunDir
    resumed: bool
    checkpointer: Checkpointer
    trees: dict | None        # the restored trees; None when the run starts from step 0
    metadata: dict            # the restored checkpoint's metadata; {} when it starts from step 0
    start: int                # steps already done


def open_run(run_path: str | Path, record: dict, invariant: tuple[str, ...], templates: dict, *,
             defaults: dict | None = None, legacy: Callable | None = None,
             check_resumed: Callable[[RunDir], None] | None = None,
             before_writing: Callable[[], None] | None = None, primary: bool = True) -> OpenedRun:
    """Create the run directory, or resume it from its newest readable checkpoint.

    `templates` are the checkpoint's trees as they start (their structure and dtypes restore the saved ones).
    `check_resumed(run)` may refuse a resume with settings of its own; `before_writing()` runs after every
    check and read and before the first write (a barrier between processes). Only the `primary` process
    writes the record and the metrics.
    """
    run, resumed = RunDir.check_resumable(run_path, record, invariant, defaults=defaults, legacy=legacy)
    if resumed and check_resumed is not None:
        check_resumed(run)
    trees, metadata, unreadable, start = None, {}, [], 0
    kept = run.checkpoints.is_dir() and any(p.name.isdigit() for p in run.checkpoints.iterdir())
    if resumed and run.summary_file.exists() and not kept:  # finished, then its checkpoints went: no early kill
        raise RunDirError(f"{run.path} finished its training ({run.summary_file.name}) but holds no checkpoint; "
                          "training it again from step 0 would overwrite its metrics and summary: restore its "
                          "checkpoints, or choose another --run")
    checkpointer = Checkpointer(run.checkpoints) if resumed else None
    if checkpointer is not None and checkpointer.latest_step() is not None:
        trees, metadata, unreadable = checkpointer.restore_newest_readable(templates)
        start = int(metadata["step"])
    steps = record.get("config", {}).get("steps")
    if steps is not None and start > steps:  # the record would claim fewer steps than the weights have had
        checkpointer.close()
        raise RunDirError(f"run directory {run.path} has trained {start} steps; resume it with --steps >= {start} "
                          "(a run cannot be trained back), or choose another --run")
    if before_writing is not None:
        before_writing()
    if primary:
        run.write_record(record, resumed)
        if resumed:
            truncate_metrics(run.metrics_file, start)
            print(f"resuming {run.path} from step {start}", file=sys.stderr)
    if checkpointer is None:
        checkpointer = Checkpointer(run.checkpoints)
    checkpointer.discard(unreadable)  # their steps are run and saved again
    return OpenedRun(run, resumed, checkpointer, trees, metadata, start)


def run_steps(opened: OpenedRun, job: SteppedJob, guard: Guard, *, total: int, end: int, log_every: int,
              checkpoint_every: int, progress: bool = True, primary: bool = True, description: str = "",
              postfix: Callable[[dict], dict] | None = None,
              after_save: Callable[[int], None] | None = None) -> int:
    """Steps `opened.start` .. `end` - 1 of a `total`-step run; returns the steps completed.

    Checkpoints every `checkpoint_every` steps, at `end`, and on Ctrl-C (then re-raises). The checkpointer
    is closed on the way out. `after_save(step)` runs after each checkpoint (files a run keeps beside it).
    """
    checkpointer = opened.checkpointer

    def save(completed: int) -> None:
        guard.check()  # a diverged step is never saved as progress
        if completed == checkpointer.latest_step():
            return  # resumed there and took no step since (re-running a finished run)
        trees, metadata = job.snapshot()
        checkpointer.save(completed, trees, {"step": completed, **metadata})
        if after_save is not None:
            after_save(completed)

    completed = opened.start
    try:
        with open(opened.run.metrics_file if primary else os.devnull, "a") as metrics_out, tqdm(
                total=total, initial=opened.start, disable=not (progress and primary), unit="step",
                desc=description, dynamic_ncols=True) as bar:
            with HeldInterrupts() as held:  # an interrupt mid-step would leave the donated state unsaveable
                for step in range(opened.start, end):
                    metrics = job.advance(step)
                    completed = step + 1
                    bar.update(1)
                    if completed % log_every == 0 or completed == total:
                        guard.check()  # the metrics read below wait for this step anyway
                        line = job.log_record(completed, metrics)
                        metrics_out.write(json.dumps(line) + "\n")
                        metrics_out.flush()
                        if postfix is not None:
                            bar.set_postfix(**postfix(line))
                    if completed % checkpoint_every == 0 and completed < end:
                        save(completed)
                    held.deliver()  # the step is kept, logged and (when due) saved: its interrupt may act
        save(completed)
    except KeyboardInterrupt:
        if jax.process_count() > 1:
            raise  # processes interrupted at different steps cannot save together; the last checkpoint stays
        try:
            save(completed)  # the same command resumes from here
        except RuntimeError:
            # Interrupted inside a step call whose input buffers were donated: the last periodic
            # checkpoint stays the resume point.
            pass
        raise
    finally:
        checkpointer.close()
    return completed


@contextlib.contextmanager
def disk_full_as_error(run_path: str | Path) -> Iterator[None]:
    """A full disk (however the writing library reports it) becomes `DiskFull`, naming the intact checkpoints."""
    try:
        yield
    except Exception as error:
        if not is_disk_full(error):
            raise
        run = RunDir(Path(run_path))
        kept = sorted(int(p.name) for p in run.checkpoints.glob("*") if p.name.isdigit())
        raise DiskFull(f"no space left on the device writing {run.path}; the checkpoints on disk "
                       f"({', '.join(map(str, kept)) or 'none'}) are intact: free space and run the same "
                       "command again to resume") from None


def metric_number(value) -> float | None:
    """A metric for metrics.jsonl: None (JSON null) for NaN or inf, which JSON cannot hold."""
    value = float(value)
    return value if math.isfinite(value) else None


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines past the checkpoint a run resumes from (they will be logged again).

    A line that does not parse (cut short by a kill mid-write) is dropped too.
    """
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if _metrics_step(line) <= step]
    if kept != lines:
        path.write_text("".join(line + "\n" for line in kept))


def _metrics_step(line: str) -> float:
    """The step a metrics line records; infinity for a line that is not a metrics record."""
    try:
        step = json.loads(line)["step"]
    except (ValueError, TypeError, KeyError):
        return math.inf
    return step if isinstance(step, int) else math.inf
