"""Latency of compiled programs: ahead-of-time compile, warm-up, interleaved repeats.

A group of programs is compiled first (compile time recorded apart), then each is
warmed up, then the timed repeats go round the group: program 1, 2, ..., k, 1, 2, ...
so that slow drifts of the machine (other jobs, frequency) spread over every program
instead of biasing one. No compile happens while any program is being timed.

Samples are single calls by default (`min_sample_s` 0): on a machine shared with other jobs
a short sample often runs undisturbed, so the minimum and low percentiles stay meaningful.
With an `anchor` (one compiled program kept for a whole collection), each sample of a
program is taken right after a sample of the anchor, and `anchor_ratio` (the median of
program/anchor per round) is a latency relative to the anchor that cancels a machine
that slows down or speeds up between groups.

A compiled program's speed also depends on the compile itself (where its weights and buffers land in
memory): `combine_sessions` pools an arch measured in several independent compiles (sessions), its
`anchor_ratio` the geometric mean of theirs, so that this per-compile part averages out as well.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import numpy as np


@dataclass
class Program:
    """A function and example arguments; `compile()` lowers and compiles it ahead of time."""

    function: Callable
    args: tuple

    def compile(self) -> "Compiled":
        start = time.perf_counter()
        executable = jax.jit(self.function).lower(*self.args).compile()
        return Compiled(executable, self.args, time.perf_counter() - start)


@dataclass
class Compiled:
    executable: Callable
    args: tuple
    compile_s: float
    calls: int = 1  # back-to-back calls per timed sample

    def start(self):
        """Launch one call (it may still be running when this returns)."""
        return self.executable(*self.args)

    def finish(self, out) -> None:
        """Wait for a call `start` launched."""
        jax.block_until_ready(out)

    def warm_up(self, warmup: int, min_sample_s: float) -> None:
        for _ in range(warmup):
            self.finish(self.start())
        began = time.perf_counter()
        self.finish(self.start())
        once = max(time.perf_counter() - began, 1e-6)
        self.calls = max(1, int(np.ceil(min_sample_s / once)))

    def sample_ms(self) -> float:
        began = time.perf_counter()
        for _ in range(self.calls):
            out = self.start()
        self.finish(out)
        return (time.perf_counter() - began) / self.calls * 1e3


def sample_figures(sample) -> dict:
    """Median, spread (IQR / median), min and 10th percentile of per-call latencies (ms), and the samples."""
    sample = np.asarray(sample, float)
    median = float(np.median(sample))
    q1, q3 = np.percentile(sample, [25, 75])
    return {"median_ms": median, "spread": float((q3 - q1) / median), "min_ms": float(sample.min()),
            "p10_ms": float(np.percentile(sample, 10)), "samples_ms": [round(float(s), 5) for s in sample]}


def measure_group(programs: Sequence[Program], *, repeats: int = 41, warmup: int = 3,
                  min_sample_s: float = 0.0, anchor: Compiled | None = None) -> list[dict]:
    """Per program: median and spread (IQR/median) of the per-call latency in ms, compile seconds."""
    compiled = [program.compile() for program in programs]
    gc.collect()
    for c in compiled:
        c.warm_up(warmup, min_sample_s)
    samples = [[] for _ in compiled]
    ratios = [[] for _ in compiled]
    anchor_samples = []
    timing_start = time.perf_counter()
    for _ in range(repeats):
        for i, c in enumerate(compiled):
            reference = anchor.sample_ms() if anchor is not None else None
            samples[i].append(c.sample_ms())
            if reference is not None:
                ratios[i].append(samples[i][-1] / reference)
                anchor_samples.append(reference)
    timing_s = (time.perf_counter() - timing_start) / max(1, len(compiled))
    results = []
    for c, sample, ratio in zip(compiled, samples, ratios):
        row = {**sample_figures(sample), "calls_per_sample": c.calls, "compile_s": c.compile_s, "timing_s": timing_s}
        if ratio:
            row["anchor_ratio"] = float(np.median(ratio))
            row["anchor_min_ms"] = float(np.min(anchor_samples))
        results.append(row)
    return results


def combine_sessions(rows: Sequence[dict]) -> dict:
    """One arch's `measure_group` rows from independent compiles, as one row: the samples pooled,
    `anchor_ratio` the geometric mean of the sessions' (each kept in `session_anchor_ratios`)."""
    if len(rows) == 1:
        return dict(rows[0])
    row = {**sample_figures(np.concatenate([row["samples_ms"] for row in rows])),
           "calls_per_sample": rows[0]["calls_per_sample"],
           "compile_s": float(np.median([r["compile_s"] for r in rows])),
           "timing_s": float(sum(r["timing_s"] for r in rows)), "sessions": len(rows)}
    if all("anchor_ratio" in r for r in rows):
        ratios = [r["anchor_ratio"] for r in rows]
        row["anchor_ratio"] = float(np.exp(np.mean(np.log(ratios))))
        row["session_anchor_ratios"] = ratios
        row["anchor_min_ms"] = float(min(r["anchor_min_ms"] for r in rows))
    return row
