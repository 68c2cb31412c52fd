"""Benchmark of the sandwich training step, side by side with the Once-for-All PyTorch peer. One JSON line.

    python -m experiments.bench.train [--rounds 3] [--steps 20] [--warmup 5] [--strategies static_masked,static_switch]
                                      [--skip-peer] [--smoke]

Workload, as ../shared/peers/ofa section (a): MobileNetV3 supernet, width 1.0, batch 64 of
32x32x3 random images, 10 classes; per step the largest, 2 random and the smallest subnet, the
largest trained on the labels and the others distilled from it (KL), one SGD-Nesterov update (lr
0.01, momentum 0.9, weight decay 3e-5 off biases and norms). Our step also freezes unused slices.
The 2 random subnets of step s are the peer's own (OFA's per-step seeding, `experiments.bench.peer`),
and both sides time the same step indices (warm-up steps 0..W-1, timed steps W..W+N-1).

Rounds (`--rounds`, ABAB): each round runs our timed block in this process (every strategy, steps
interleaved strategy by strategy; median ms per strategy) and the peer's `bench.py --skip b,c,d` in a
child process (its median sandwich_step_ms), ours first in odd rounds, the peer first in even ones.
Per round and strategy ratio = peer ms / our ms; the JSON gives the per-round ratios, their median
and [min, max].

Strategies (the random subnets' lowering; largest and smallest are sliced inside the jit):
  static_masked   the random subnets masked at the largest shapes (`nas train` default)
  static_switch   the random subnets per-block `lax.switch` over their widths (`--execution switch`)
  masked          all 4 masked, trained on the labels (no static teacher: not the peer's workload)

compile_count counts every backend compile from the first call on (first call, warm-up, rounds):
one per strategy is the target. cold_compile_s is XLA's compile time of each strategy's first
call in this process, with the persistent compilation cache off (nothing on disk is read);
first_call_s adds tracing, lowering and the first step. gflops_per_step: multiply-adds of the 4
subnets from the analytic cost model (nas.hardware) x 2 FLOPs x 3 (forward + backward) x batch;
sgemm_peak_fraction: that over our median step time, as a share of --peak-gflops (131: this CPU's
measured sgemm peak on 2 cores). peak_rss_mb: ours (getrusage) and the peer child's (wait4).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import jax
import numpy as np
import optax

from experiments.bench import peer as peer_side
from experiments.bench.step import add_workload_arguments, batch, build, time_interleaved
from nas.compile_counter import count_compiles
from nas.definition import get_definition
from nas.lowering import split
from nas.train.masked_updates import freeze_unused
from nas.train.optim import decay_mask
from nas.train.sampling import SandwichSampling
from nas.train.step import StepOptions, init_train_state, make_train_step

STRATEGIES = ("static_masked", "static_switch")
SMOKE = ["--space", "mlp", "--batch", "4", "--resolution", "8", "--channels", "1", "--steps", "2", "--warmup", "1",
         "--rounds", "2", "--peak-gflops", "131"]


def optimizer():
    return freeze_unused(optax.chain(optax.add_decayed_weights(3e-5, mask=decay_mask),
                                     optax.sgd(0.01, momentum=0.9, nesterov=True)))


def make_step(strategy: str, graphdef, space, opt):
    if strategy == "masked":  # all four in the scan: cross-entropy, as no static teacher exists
        return make_train_step(graphdef, space, opt, options=StepOptions(execution="masked"), donate=False)
    execution = "switch" if strategy == "static_switch" else "masked"
    return make_train_step(graphdef, space, opt, static_first=space.largest(), static_last=space.smallest(),
                           options=StepOptions(distillation="kl", execution=execution), donate=False)


def middle_archs(space, space_name: str, step: int) -> np.ndarray:
    """The 2 random subnets of step `step`: the peer's own on MobileNetV3, else our sandwich sampler's."""
    if space_name == "mobilenetv3":
        return np.stack([space.to_vector(peer_side.to_weft(arch)) for arch in peer_side.ofa_sandwich_archs(step)])
    return SandwichSampling(num_random=2).archs(space, seed=0, step=step)


def archs_for(strategy: str, space, middle: np.ndarray) -> np.ndarray:
    if strategy == "masked":
        return np.concatenate([space.largest().to_vector()[None], middle, space.smallest().to_vector()[None]])
    return middle


def step_gflops(args, space, middles: list[np.ndarray]) -> float | None:
    """Mean FLOPs of one sandwich step over the timed steps (4 subnets, forward + backward ~ 3x forward)."""
    from nas.hardware.counters import load_counter

    try:
        counter = load_counter(args.space, {"width_mult": args.width_mult} if args.space == "mobilenetv3" else {},
                               (args.resolution, args.resolution, args.channels))
    except Exception as error:  # a space without a cost model: no FLOPs figure, said so in the JSON
        print(f"[bench train] no cost model for {args.space}: {error}", file=sys.stderr, flush=True)
        return None
    ends = sum(int(counter.count(arch)["macs"]) for arch in (space.largest(), space.smallest()))
    middle = np.mean([sum(int(counter.count(space.from_vector(v))["macs"]) for v in m) for m in middles])
    return 2 * 3 * args.batch * (ends + middle) / 1e9


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3, help="ABAB rounds of ours and the peer (>= 3 for a report)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round, each side")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before round 1 (ours) / each run (peer)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    peer_side.add_peer_arguments(parser)
    args = peer_side.parse_bench_arguments(parser, argv, SMOKE)
    start_machine = peer_side.machine()

    space, supernet = build(args)
    graphdef, params, stats = split(supernet)
    opt = optimizer()
    images, labels = batch(args)
    state = init_train_state(params, stats, opt)
    # Switched strategies need a space with switched execution (MobileNetV3, macro_chain, NB201).
    strategies = [name for name in args.strategies.split(",")
                  if "switch" not in name or get_definition(args.space).switch_execution]
    steps = {name: make_step(name, graphdef, space, opt) for name in strategies}
    middles = {s: middle_archs(space, args.space, s) for s in range(args.warmup + args.steps)}

    def run(name: str, step: int) -> None:
        jax.block_until_ready(steps[name](state, images, labels, archs_for(name, space, middles[step])))

    with count_compiles() as every_compile:  # from the very first call to the last round
        first_call_s, cold_compile_s, first_compiles = {}, {}, {}
        for name in strategies:
            with count_compiles() as compiles:
                start = time.perf_counter()
                run(name, 0)
                first_call_s[name] = round(time.perf_counter() - start, 1)
            cold_compile_s[name], first_compiles[name] = round(compiles.seconds, 1), compiles.count
        for step in range(1, args.warmup):
            for name in strategies:
                run(name, step)

        def ours() -> dict[str, float]:
            position = {name: args.warmup for name in strategies}

            def runner(name):
                def go():
                    run(name, position[name])
                    position[name] += 1
                return go
            figures = time_interleaved({f"{name}_ms": runner(name) for name in strategies}, args.steps)
            return {name.removesuffix("_ms"): ms for name, ms in figures.items()}

        def peer() -> dict:
            report = peer_side.run_peer("--skip", "b,c,d", "--batch", str(args.batch), "--steps", str(args.steps),
                                        "--warmup", str(args.warmup), "--threads", str(args.threads), "--seed", "0")
            line = report["json"]
            return {"ms": line["summary_median_ms"]["sandwich_step_ms"], "peak_rss_mb": report["peak_rss_mb"],
                    "wall_s": report["wall_s"], "other_cpu_share": line["contention"]["a"]["other_cpu_share"],
                    "last_losses": line.get("sandwich_last_losses")}

        if args.skip_peer:
            per_round = [ours() for _ in range(args.rounds)]
            sides = {"ours_ms_per_round": {k: [round(r[k], 1) for r in per_round] for k in per_round[0]},
                     "ours_ms": {k: round(statistics.median(r[k] for r in per_round), 1) for k in per_round[0]},
                     "peer": "skipped" + (" (smoke: the peer has only MobileNetV3)" if args.smoke else "")}
        else:
            if args.space != "mobilenetv3":
                parser.error("the peer runs OFA MobileNetV3 only: use --space mobilenetv3 or --skip-peer")
            sides = peer_side.alternate(ours, peer, args.rounds)
    gflops = step_gflops(args, space, [middles[s] for s in range(args.warmup, args.warmup + args.steps)])
    result = {"bench": "train", "space": args.space, "width_mult": args.width_mult, "batch": args.batch,
              "input": [args.resolution, args.resolution, args.channels], "backend": jax.default_backend(),
              "subnets_per_step": 4, "distillation": "kl", "subnets": "the peer's (OFA per-step seeding)"
              if args.space == "mobilenetv3" else "weft sandwich sampler", "warmup_steps": args.warmup,
              "timed_steps": args.steps, **sides,
              "compile_count": {"total": every_compile.count, "first_call": first_compiles,
                                "after_first_call": every_compile.count - sum(first_compiles.values())},
              "cold_compile_s": cold_compile_s, "first_call_s": first_call_s,
              "peak_rss_mb": {"ours": peer_side.own_peak_rss_mb()}}
    if "peer_per_round" in sides:
        result["peak_rss_mb"]["peer"] = max(r["peak_rss_mb"] for r in sides["peer_per_round"])
    if gflops is not None:
        result["gflops_per_step"] = round(gflops, 2)
        result["physical_limit_ms"] = round(gflops / args.peak_gflops * 1e3, 1)
        result["sgemm_peak_fraction"] = {name: round(gflops / (ms / 1e3) / args.peak_gflops, 3)
                                         for name, ms in sides["ours_ms"].items()}
    if "ratio_median" in sides:
        result["target"] = {"ratio": 3.0, "met": {k: v >= 3.0 for k, v in sides["ratio_median"].items()}}
    result["machine"] = {"start": start_machine, "end": peer_side.machine()}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
