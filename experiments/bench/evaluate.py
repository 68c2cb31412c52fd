"""Benchmark of batched subnet scoring (what every searcher calls), side by side with the OFA peer. One JSON line.

    python -m experiments.bench.evaluate [--rounds 3] [--subnets 64] [--peer-bn-subnets 64] [--skip-peer] [--smoke]

Workload, as ../shared/peers/ofa section (c): MobileNetV3 width 1.0, 32x32x3 random images; per
subnet BN recalibration on 2000 images, then a forward of 1024 evaluation images. The subnets are
the peer's own (its `random.Random(seed + 1234)` draws, `experiments.bench.peer`).

Our side is the scorer `nas search` uses by default (`nas.search.evaluators.SupernetEvaluator`):
`make_batched_scorer` with execution `auto` (switch where the space has switched execution, else
masked), archs in fixed chunks of the evaluator's default size (the last chunk padded), one call per
chunk; inside, per arch, recalibration with momentum 1 on all calibration images in one batch, then
the evaluation batches (`--eval-batch`, 1024 as the peer's). The peer recalibrates with OFA's
`set_running_statistics` (deep copy of the supernet, 10 batches of 200, averaged) and forwards the
1024 images in one batch; with `--peer-bn-subnets` equal to `--subnets` (default) every subnet's
recalibration is timed, so its `eval_pass_with_bn_recal_ms_est` is a measured total, not an estimate.

Rounds (`--rounds`, ABAB): each round times one scoring pass of all subnets here and one peer run
(`bench.py --skip a,b,d`), the side going first alternating; per round ratio = peer ms / our ms,
then the median and [min, max]. compile_count counts every backend compile from the first call on
(the target is one: the chunk shape never changes); cold_compile_s is XLA's compile time of that
first call with the persistent compilation cache off. gflops_per_pass: multiply-adds of every
subnet from the cost model x 2 x (calibration + evaluation images), forward only.
"""
from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time

import jax
import numpy as np

from experiments.bench import peer as peer_side
from experiments.bench.step import add_workload_arguments, build
from nas.compile_counter import count_compiles
from nas.definition import get_definition
from nas.search.evaluators import scoring_execution
from nas.evaluate import fixed_batches, make_batched_scorer
from nas.lowering import split

SMOKE = ["--space", "mlp", "--resolution", "8", "--channels", "1", "--subnets", "3", "--calibration-images", "16",
         "--eval-images", "16", "--eval-batch", "8", "--rounds", "2"]


def search_defaults() -> tuple[str, int]:
    """`SupernetEvaluator`'s default execution and chunk: what `nas search` scores with."""
    from nas.search.evaluators import SupernetEvaluator

    parameters = inspect.signature(SupernetEvaluator.__init__).parameters
    return parameters["execution"].default, parameters["chunk"].default


def subnet_vectors(args, space) -> np.ndarray:
    if args.space == "mobilenetv3":
        return np.stack([space.to_vector(peer_side.to_weft(arch)) for arch in peer_side.ofa_eval_archs(0, args.subnets)])
    rng = np.random.default_rng(0)
    return np.stack([space.sample(rng).to_vector() for _ in range(args.subnets)])


def pass_gflops(args, space, vectors) -> float | None:
    from nas.hardware.counters import load_counter

    try:
        counter = load_counter(args.space, {"width_mult": args.width_mult} if args.space == "mobilenetv3" else {},
                               (args.resolution, args.resolution, args.channels))
    except Exception as error:  # a space without a cost model: no FLOPs figure
        print(f"[bench evaluate] no cost model for {args.space}: {error}", file=sys.stderr, flush=True)
        return None
    macs = sum(int(counter.count(space.from_vector(v))["macs"]) for v in vectors)
    return 2 * macs * (args.calibration_images + args.eval_images) / 1e9


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_arguments(parser, batch=None)
    parser.add_argument("--subnets", type=int, default=64)
    parser.add_argument("--calibration-images", type=int, default=2000)
    parser.add_argument("--eval-images", type=int, default=1024)
    parser.add_argument("--eval-batch", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3, help="ABAB rounds of ours and the peer (>= 3 for a report)")
    parser.add_argument("--peer-bn-subnets", type=int, default=None,
                        help="subnets whose BN recalibration the peer times [default: all]; fewer: it extrapolates")
    peer_side.add_peer_arguments(parser)
    args = peer_side.parse_bench_arguments(parser, argv, SMOKE)
    start_machine = peer_side.machine()

    space, supernet = build(args)
    graphdef, params, stats = split(supernet)
    rng = np.random.default_rng(0)
    shape = (args.resolution, args.resolution, args.channels)
    calibration = rng.normal(size=(args.calibration_images, *shape)).astype(np.float32)
    batches = fixed_batches(rng.normal(size=(args.eval_images, *shape)).astype(np.float32),
                            rng.integers(0, 10, args.eval_images).astype(np.int32), args.eval_batch)
    vectors = subnet_vectors(args, space)
    execution, chunk = search_defaults()
    execution = scoring_execution(execution, get_definition(args.space))  # as SupernetEvaluator resolves it
    scorer = make_batched_scorer(graphdef, space, execution=execution)
    pad = (-len(vectors)) % chunk  # fixed-size chunks, as SupernetEvaluator._scores_with: one compile
    padded = np.concatenate([vectors, np.repeat(vectors[:1], pad, axis=0)])

    def score_all() -> np.ndarray:
        chunks = [jax.device_get(scorer(params, stats, calibration, batches, padded[i:i + chunk]))
                  for i in range(0, len(padded), chunk)]
        return np.concatenate(chunks)[:len(vectors)]

    with count_compiles() as every_compile:
        start = time.perf_counter()
        jax.block_until_ready(scorer(params, stats, calibration, batches, padded[:chunk]))  # compile + one chunk
        first_call_s, cold_compile_s, first_compiles = (round(time.perf_counter() - start, 1),
                                                        round(every_compile.seconds, 1), every_compile.count)

        def ours() -> dict[str, float]:
            start = time.perf_counter()
            score_all()
            return {"score_all": (time.perf_counter() - start) * 1e3}

        bn_subnets = args.subnets if args.peer_bn_subnets is None else args.peer_bn_subnets

        def peer() -> dict:
            report = peer_side.run_peer("--skip", "a,b,d", "--eval-subnets", str(args.subnets), "--eval-batch",
                                        str(args.eval_images), "--bn-calib-images", str(args.calibration_images),
                                        "--bn-subnets", str(bn_subnets), "--threads", str(args.threads), "--seed", "0")
            line = report["json"]
            summary = line["summary_median_ms"]
            return {"ms": summary["eval_pass_with_bn_recal_ms_est"], "eval_pass_ms": summary["eval_pass_ms"],
                    "bn_recal_per_subnet_ms": summary["bn_recal_per_subnet_ms"],
                    "peak_rss_mb": report["peak_rss_mb"], "wall_s": report["wall_s"],
                    "other_cpu_share": line["contention_max_other_cpu_share"]}

        if args.skip_peer:
            per_round = [ours()["score_all"] for _ in range(args.rounds)]
            sides = {"ours_ms_per_round": {"score_all": [round(v, 1) for v in per_round]},
                     "ours_ms": {"score_all": round(statistics.median(per_round), 1)},
                     "peer": "skipped" + (" (smoke: the peer has only MobileNetV3)" if args.smoke else "")}
        else:
            if args.space != "mobilenetv3":
                parser.error("the peer runs OFA MobileNetV3 only: use --space mobilenetv3 or --skip-peer")
            sides = peer_side.alternate(ours, peer, args.rounds)
    ours_ms = sides["ours_ms"]["score_all"]
    result = {"bench": "evaluate", "space": args.space, "width_mult": args.width_mult, "input": list(shape),
              "subnets": args.subnets, "calibration_images": args.calibration_images,
              "eval_images": args.eval_images, "eval_batch": args.eval_batch, "backend": jax.default_backend(),
              "scorer": {"function": "nas.evaluate.make_batched_scorer (SupernetEvaluator default)",
                         "execution": execution, "chunk": chunk},
              "subnet_source": "the peer's (random.Random(seed + 1234))" if args.space == "mobilenetv3"
              else "weft space.sample", **sides,
              "ours_ms_per_subnet": round(ours_ms / args.subnets, 1),
              "compile_count": {"total": every_compile.count, "first_call": first_compiles,
                                "after_first_call": every_compile.count - first_compiles},
              "cold_compile_s": cold_compile_s, "first_call_s": first_call_s,
              "peak_rss_mb": {"ours": peer_side.own_peak_rss_mb()}}
    if "peer_per_round" in sides:
        result["peer_ms_per_subnet"] = round(sides["peer_ms"] / args.subnets, 1)
        result["peer_bn_subnets_timed"] = bn_subnets
        result["peak_rss_mb"]["peer"] = max(r["peak_rss_mb"] for r in sides["peer_per_round"])
        result["target"] = {"ratio": 5.0, "met": sides["ratio_median"]["score_all"] >= 5.0}
    gflops = pass_gflops(args, space, vectors)
    if gflops is not None:
        result["gflops_per_pass"] = round(gflops, 1)
        result["sgemm_peak_fraction"] = round(gflops / (ours_ms / 1e3) / args.peak_gflops, 3)
    result["machine"] = {"start": start_machine, "end": peer_side.machine()}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
