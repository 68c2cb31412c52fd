"""Benchmark of the latency predictors and of latency measurement. Prints one JSON line.

    python -m experiments.bench.predictor [--space mobilenetv3] [--archs 10000] [--fit RUN/fit]

  {mlp,lut,flops_counter}_archs_per_s   jitted predictor on a batch of --archs arch vectors
                                         (median of --repeats timed calls, compile excluded)
  {mlp,lut}_relaxed_ms                   one expected-latency evaluation + gradient (searcher use)
  measure_{slice,compile,timing}_s_per_arch  cost of measuring one arch: slicing the subnet,
                                         lower + compile ahead of time, warm-up + interleaved timing
Predictors come from --fit (files of `nas latency fit`) when given, else a fresh MLP and a lookup
table of synthetic entries: throughput does not depend on the values.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nas.definition import get_definition
from nas.hardware.collect import _subnet_program
from nas.hardware.counters import load_counter
from nas.hardware.device import device_info
from nas.hardware.lut_predictor import LutPredictor
from nas.hardware.mlp_predictor import MlpPredictor
from nas.hardware.predictor_io import load_predictor
from nas.hardware.tables import config_key, softmax_probs
from nas.hardware.timing import measure_group


def _throughput(function, vectors, repeats: int) -> tuple[float, float]:
    """(archs per second, first-call seconds) of a predictor called on a batch of vectors.

    The predictors and counters are jitted already, their parameters passed as arguments
    (wrapping them in another jit would bake the MLP's weights in as constants).
    """
    jitted = function
    start = time.perf_counter()
    jax.block_until_ready(jitted(vectors))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(jitted(vectors))
        times.append(time.perf_counter() - start)
    return len(vectors) / float(np.median(times)), compile_s


def _relaxed_ms(predictor, space, repeats: int) -> float:
    step = jax.jit(jax.value_and_grad(lambda logits: predictor.expected(softmax_probs(space, logits))))
    logits = jnp.zeros((space.num_decisions, max(space.choice_counts)))
    jax.block_until_ready(step(logits))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(step(logits))
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="mobilenetv3")
    parser.add_argument("--image-shape", default="28,28,1")
    parser.add_argument("--archs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--measure-archs", type=int, default=4)
    parser.add_argument("--fit", default=None, help="a `nas latency fit` output directory (lut.json, mlp.json)")
    args = parser.parse_args(argv)
    image_shape = tuple(int(x) for x in args.image_shape.split(","))

    counter = load_counter(args.space, None, image_shape)
    space = counter.space
    if args.fit:
        lut = load_predictor(Path(args.fit) / "lut.json", counter)[0]
        mlp = load_predictor(Path(args.fit) / "mlp.json", counter)[0]
    else:
        lut = LutPredictor(counter, {config_key(c): 0.01 + 3e-7 * counter.cost_model.count(c)[0]
                                     for c in counter.layers.distinct_configs()}, 1.0, 0.2)
        mlp = MlpPredictor.create(space)
    vectors = space.sample_vectors(jax.random.key(0), args.archs)
    result = {"bench": "predictor", "space": space.name, "archs": args.archs, "device": device_info()}
    for name, function in (("mlp", mlp), ("lut", lut), ("flops_counter", counter.macs)):
        per_s, compile_s = _throughput(function, vectors, args.repeats)
        result[f"{name}_archs_per_s"] = round(per_s)
        result[f"{name}_compile_s"] = round(compile_s, 3)
    result["mlp_relaxed_ms"] = round(_relaxed_ms(mlp, space, args.repeats), 4)
    result["lut_relaxed_ms"] = round(_relaxed_ms(lut, space, args.repeats), 4)

    definition = get_definition(args.space)
    supernet = definition.build(definition.resolve_options(image_shape=image_shape))[1]
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(args.measure_archs)]
    start = time.perf_counter()
    programs = [_subnet_program(supernet, arch, 1, image_shape) for arch in archs]
    slice_s = (time.perf_counter() - start) / len(archs)
    rows = measure_group(programs, repeats=21, warmup=3, min_sample_s=0.01)
    result.update(measure_slice_s_per_arch=round(slice_s, 3),
                  measure_compile_s_per_arch=round(float(np.median([r["compile_s"] for r in rows])), 3),
                  measure_timing_s_per_arch=round(float(np.median([r["timing_s"] for r in rows])), 3),
                  measured_median_ms=[round(r["median_ms"], 3) for r in rows])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
