"""Benchmark of batched subnet scoring (what every searcher calls). Prints one JSON line.

    python -m experiments.bench.evaluate [--subnets 16] [--skip-peer]

Per subnet: BN recalibration on 2000 images (one batch, momentum 1), then
accuracy over 1024 evaluation images in batches of 256; 32x32x3 random images,
MobileNetV3 width 1.0, as section (c) of ../shared/peers/ofa. All subnets of a
call go through one `lax.map` (one compile per number of subnets).

  {masked,switch}_ms_per_subnet   our scorer, median of interleaved repeats / subnets
  peer_ms_per_subnet              the peer's eval_per_subnet_ms + bn_recal_per_subnet_ms
                                  (its set_running_statistics on 2000 images + a 1024-image forward)
"""
from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from experiments.bench.step import build, time_interleaved
from experiments.bench.train import run_peer_bench
from nas.definition import get_definition
from nas.evaluate import fixed_batches, make_batched_scorer
from nas.lowering import split


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="mobilenetv3")
    parser.add_argument("--width-mult", type=float, default=1.0)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--subnets", type=int, default=16)
    parser.add_argument("--calibration-images", type=int, default=2000)
    parser.add_argument("--eval-images", type=int, default=1024)
    parser.add_argument("--eval-batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args(argv)

    space, supernet = build(args)
    graphdef, params, stats = split(supernet)
    rng = np.random.default_rng(0)
    shape = (args.resolution, args.resolution, args.channels)
    calibration = rng.normal(size=(args.calibration_images, *shape)).astype(np.float32)
    batches = fixed_batches(rng.normal(size=(args.eval_images, *shape)).astype(np.float32),
                            rng.integers(0, 10, args.eval_images).astype(np.int32), args.eval_batch)
    archs = np.stack([space.sample(rng).to_vector() for _ in range(args.subnets)])
    executions = ("masked", "switch") if get_definition(args.space).switch_execution else ("masked",)
    scorers = {name: make_batched_scorer(graphdef, space, execution=name) for name in executions}
    runners = {f"{name}_ms_per_subnet": (lambda s=scorer: jax.block_until_ready(
        s(params, stats, calibration, batches, archs))) for name, scorer in scorers.items()}
    for run in runners.values():  # compile
        run()
    figures = {k: v / args.subnets for k, v in time_interleaved(runners, args.repeats).items()}
    result = {"bench": "evaluate", "space": args.space, "width_mult": args.width_mult, "input": list(shape),
              "subnets": args.subnets, "calibration_images": args.calibration_images,
              "eval_images": args.eval_images, "backend": jax.default_backend(),
              **{k: round(v, 1) for k, v in figures.items()}}
    if not args.skip_peer:
        peer = run_peer_bench("--skip", "a,b,d", "--eval-subnets", str(args.subnets),
                              "--bn-subnets", str(min(args.subnets, 8)))["summary_median_ms"]
        peer_ms = peer["eval_per_subnet_ms"] + peer["bn_recal_per_subnet_ms"]
        best = min(figures.values())
        result.update(peer_ms_per_subnet=round(peer_ms, 1), speedup_vs_peer=round(peer_ms / best, 2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
