"""Benchmark of the sandwich training step against the Once-for-All PyTorch peer. Prints one JSON line.

    python -m experiments.bench.train [--repeats 10] [--skip-peer] [--skip-compile-probe]

Workload, as ../shared/peers/ofa (section a): MobileNetV3 supernet, width 1.0,
batch 64 of 32x32x3 random images, 10 classes; per step the largest, 2 random
and the smallest subnet, the largest trained on the labels and the others
distilled from it (KL), one SGD-Nesterov update (lr 0.01, momentum 0.9, weight
decay 3e-5 off biases and norms). Our step also freezes unused slices.

Execution strategies measured in the same process (median ms per step, interleaved):
  masked_ms           all 4 subnets masked (largest shapes), one compile (labels only: no static teacher)
  static_masked_ms    largest and smallest sliced inside the jit, the 2 random ones masked
  static_switch_ms    largest and smallest sliced, the random ones per-block `lax.switch`
                      over their expand widths (each runs near its sliced cost), one compile
Then the peer's `bench.py --skip b,c,d` (its sandwich_step_ms median), and
speedup_vs_peer = peer / ours per strategy. compile_count: compiles during the
timed steps (target 0). cold_compile_s: each static strategy's step compiled in
a fresh process with empty caches (target <= 60 s). `nas train` defaults to
static_masked (within the compile target); --execution switch picks static_switch.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import optax

from experiments.bench.step import batch, build, time_interleaved
from nas.compile_counter import count_compiles
from nas.definition import get_definition
from nas.lowering import split
from nas.train.masked_updates import freeze_unused
from nas.train.optim import decay_mask
from nas.train.sampling import SandwichSampling
from nas.train.step import StepOptions, init_train_state, make_train_step

PEER_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "peers" / "ofa"
STRATEGIES = ("masked", "static_masked", "static_switch")


def optimizer():
    return freeze_unused(optax.chain(optax.add_decayed_weights(3e-5, mask=decay_mask),
                                     optax.sgd(0.01, momentum=0.9, nesterov=True)))


def make_step(strategy: str, graphdef, space, opt):
    if strategy == "masked":  # all four in the scan: cross-entropy, as no static teacher exists
        return make_train_step(graphdef, space, opt, options=StepOptions(execution="masked"), donate=False)
    execution = "switch" if strategy == "static_switch" else "masked"
    return make_train_step(graphdef, space, opt, static_first=space.largest(), static_last=space.smallest(),
                           options=StepOptions(distillation="kl", execution=execution), donate=False)


def archs_for(strategy: str, space, step: int) -> np.ndarray:
    middle = SandwichSampling(num_random=2).archs(space, seed=0, step=step)
    if strategy == "masked":
        return np.concatenate([space.largest().to_vector()[None], middle, space.smallest().to_vector()[None]])
    return middle


def compile_probe(args) -> None:
    from nas.train.loop import enable_compilation_cache

    enable_compilation_cache(args.cache_dir)
    space, supernet = build(args)
    graphdef, params, stats = split(supernet)
    opt = optimizer()
    step = make_step(args.strategy, graphdef, space, opt)
    state = init_train_state(params, stats, opt)
    images, labels = batch(args)
    start = time.perf_counter()
    compiled = step.lower(state, images, labels, archs_for(args.strategy, space, 0)).compile()
    del compiled
    print(json.dumps({"cold_compile_s": time.perf_counter() - start}))


def peer_python() -> Path:
    """The peer's venv interpreter, set up by its own script when missing."""
    python = Path(os.environ.get("PEER_VENV", Path.home() / ".cache" / "weft" / "ofa-peer-venv")) / "bin" / "python"
    if not python.exists():
        subprocess.run(["bash", str(PEER_DIR / "setup.sh")], check=True, capture_output=True)
    return python


def run_peer_bench(*arguments: str) -> dict:
    """The peer's bench.py (../shared/peers/ofa) with `arguments`, in its own venv: its last JSON line."""
    output = subprocess.run([str(peer_python()), str(PEER_DIR / "bench.py"), *arguments], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def run_peer(args) -> dict:
    return run_peer_bench("--skip", "b,c,d", "--batch", str(args.batch), "--steps", str(args.peer_steps))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="mobilenetv3")
    parser.add_argument("--width-mult", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--peer-steps", type=int, default=20)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-compile-probe", action="store_true")
    parser.add_argument("--compile-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="static_switch", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compile_probe:
        return compile_probe(args)

    space, supernet = build(args)
    graphdef, params, stats = split(supernet)
    opt = optimizer()
    images, labels = batch(args)
    state = init_train_state(params, stats, opt)
    # Switched strategies need a space with switched execution (MobileNetV3, macro_chain, NB201).
    strategies = [name for name in args.strategies.split(",")
                  if "switch" not in name or get_definition(args.space).switch_execution]
    steps = {name: make_step(name, graphdef, space, opt) for name in strategies}
    counters = {name: 0 for name in strategies}

    def runner(name):
        def run():
            counters[name] += 1
            jax.block_until_ready(steps[name](state, images, labels, archs_for(name, space, counters[name])))
        return run

    runners = {f"{name}_ms": runner(name) for name in strategies}
    compile_seconds = {}
    for name, run in runners.items():  # compile + one warm-up each
        start = time.perf_counter()
        run()
        compile_seconds[name] = round(time.perf_counter() - start, 1)
    with count_compiles() as compiles:
        figures = time_interleaved(runners, args.repeats)
    best = min(figures, key=figures.get)
    result = {"bench": "train", "space": args.space, "width_mult": args.width_mult, "batch": args.batch,
              "input": [args.resolution, args.resolution, args.channels], "backend": jax.default_backend(),
              "subnets_per_step": 4, "distillation": "kl", "repeats": args.repeats,
              **{k: round(v, 1) for k, v in figures.items()}, "best": best.removesuffix("_ms"),
              "compile_count": compiles.count, "first_call_s": compile_seconds}
    if not args.skip_compile_probe:
        result["cold_compile_s"] = {}
        for strategy in (s for s in strategies if s != "masked"):
            with tempfile.TemporaryDirectory() as cache:
                command = [sys.executable, "-m", "experiments.bench.train", "--compile-probe", "--cache-dir", cache,
                           "--strategy", strategy, "--batch", str(args.batch),
                           "--width-mult", str(args.width_mult), "--resolution", str(args.resolution),
                           "--channels", str(args.channels), "--space", args.space]
                output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                seconds = json.loads(output.strip().splitlines()[-1])["cold_compile_s"]
                result["cold_compile_s"][strategy] = round(seconds, 1)
    if not args.skip_peer:
        peer = run_peer(args)
        peer_ms = peer["summary_median_ms"]["sandwich_step_ms"]
        result.update(peer_sandwich_ms=round(peer_ms, 1),
                      speedup_vs_peer={name.removesuffix("_ms"): round(peer_ms / ms, 2) for name, ms in figures.items()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
