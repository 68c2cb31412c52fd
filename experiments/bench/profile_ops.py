"""Where the time goes: XLA's cost analysis and a jax profiler trace, of the sandwich step or the scorer. One JSON line.

    python -m experiments.bench.profile_ops [--what train|evaluate] [--strategy static_switch] [--steps 5] [--smoke]

`--what train`: the step and workload of `experiments.bench.train` (the peer's subnets, batch 64,
32x32x3); `--what evaluate`: one call of the default scorer of `experiments.bench.evaluate` (a chunk of
8 of the peer's subnets, BN recalibration on 2000 images, 1024 evaluation images). Reports
XLA's own count of the compiled step's FLOPs and bytes beside the cost model's useful FLOPs (masked
subnets compute at the largest shapes, so XLA counts more), then the wall time of `--steps` steps
under `jax.profiler.trace` split by XLA operation: the trace's events on the executing threads,
grouped by operation name with its numeric suffix dropped (`fusion.12` -> `fusion`), and for the
slowest single operations the HLO instruction they run (from the compiled module's text), so a
convolution's kind (depthwise: feature_group_count > 1) and shapes are visible.
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import sys
import tempfile
import time

import jax
import numpy as np

from experiments.bench.step import add_workload_arguments, batch, build
from experiments.bench.train import archs_for, make_step, middle_archs, optimizer, step_gflops
from nas.lowering import split
from nas.train.step import init_train_state

# Tiny sizes for `make test`: a broken profiler fails CI (the mlp has no switched execution).
SMOKE = ["--space", "mlp", "--batch", "4", "--resolution", "8", "--channels", "1", "--strategy", "static_masked",
         "--warmup", "1", "--steps", "1", "--top", "3"]


def hlo_lines(text: str) -> dict[str, str]:
    """HLO instruction name -> its line (with the called computation's root for fusions)."""
    lines, computations, current = {}, {}, None
    for line in text.splitlines():
        header = re.match(r"\s*(?:ENTRY\s+)?%?([\w.\-]+)\s*\(.*\)\s*->.*\{\s*$", line)
        if header:
            current = header.group(1)
            continue
        match = re.match(r"\s*(ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*)$", re.sub(r", (metadata|backend_config)=.*$", "", line))
        if match:
            lines[match.group(2)] = match.group(3)[:300]
            if match.group(1) and current:
                computations[current] = match.group(3)[:300]
    for name, line in list(lines.items()):
        called = re.search(r"calls=%?([\w.\-]+)", line)
        if called and called.group(1) in computations:
            lines[name] = line[:160] + "  ROOT: " + computations[called.group(1)][:200]
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_arguments(parser)
    parser.add_argument("--what", choices=("train", "evaluate"), default="train")
    parser.add_argument("--strategy", default="static_switch")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--trace-dir", default=None)
    parser.add_argument("--smoke", action="store_true", help="tiny mlp sizes, seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args = parser.parse_args([*SMOKE, *(sys.argv[1:] if argv is None else argv)])

    space, supernet = build(args)
    graphdef, params, stats = split(supernet)
    if args.what == "train":
        opt = optimizer()
        images, labels = batch(args)
        state = init_train_state(params, stats, opt)
        step = make_step(args.strategy, graphdef, space, opt)
        middles = [middle_archs(space, args.space, s) for s in range(args.warmup + args.steps)]
        arguments = lambda s: (state, images, labels, archs_for(args.strategy, space, middles[s]))
        compiled = step.lower(*arguments(0)).compile()
        useful = step_gflops(args, space, middles[args.warmup:])
    else:
        from experiments.bench.evaluate import pass_gflops, search_defaults, subnet_vectors
        from nas.evaluate import fixed_batches, make_batched_scorer

        rng = np.random.default_rng(0)
        shape = (args.resolution, args.resolution, args.channels)
        calibration = rng.normal(size=(2000, *shape)).astype(np.float32)
        batches = fixed_batches(rng.normal(size=(1024, *shape)).astype(np.float32),
                                rng.integers(0, 10, 1024).astype(np.int32), 1024)
        from nas.definition import get_definition
        from nas.search.evaluators import scoring_execution

        execution, chunk = search_defaults()
        execution = scoring_execution(execution, get_definition(args.space))  # as SupernetEvaluator resolves it
        vectors = subnet_vectors(argparse.Namespace(space=args.space, subnets=chunk), space)
        step = make_batched_scorer(graphdef, space, execution=execution)
        arguments = lambda s: (params, stats, calibration, batches, vectors)
        compiled = step.lower(*arguments(0)).compile()
        useful = pass_gflops(argparse.Namespace(**{**vars(args), "calibration_images": 2000, "eval_images": 1024}),
                             space, vectors)
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    instructions = hlo_lines(compiled.as_text())
    run = lambda s: jax.block_until_ready(step(*arguments(s)))
    for s in range(args.warmup):
        run(s)
    trace_dir = args.trace_dir or tempfile.mkdtemp(prefix="weft-profile-")
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
        start = time.perf_counter()
        for s in range(args.warmup, args.warmup + args.steps):
            run(s)
        wall_ms = (time.perf_counter() - start) * 1e3 / args.steps
    trace = json.load(gzip.open(sorted(glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True))[-1]))
    events = [e for e in trace["traceEvents"] if e.get("ph") == "X" and "dur" in e]
    # XLA's operations: events named like HLO instructions (known to the compiled module) or the CPU
    # runtime's own kernels (e.g. ynn_fusion); host-side Python and PjRt bookkeeping are left out.
    by_name, by_kind, counts = collections.Counter(), collections.Counter(), collections.Counter()
    for event in events:
        name = event["name"]
        if name in instructions or name.startswith(("ynn_", "xnn_", "onednn")):
            by_name[name] += event["dur"] / 1e3 / args.steps
            counts[name] += 1
            by_kind[re.sub(r"[.\d]+$", "", name)] += event["dur"] / 1e3 / args.steps
    total = sum(by_name.values())
    gflops = useful
    result = {"bench": "profile_ops", "what": args.what, "strategy": args.strategy, "batch": args.batch,
              "wall_ms_per_step": round(wall_ms, 1), "xla_op_ms_per_step": round(total, 1),
              "xla_flops_per_step_g": round(cost.get("flops", 0) / 1e9, 2),
              "xla_bytes_accessed_per_step_gb": round(cost.get("bytes accessed", 0) / 1e9, 2),
              "useful_gflops_per_step": round(gflops, 2) if gflops else None,
              "ms_by_kind": {k: round(v, 1) for k, v in by_kind.most_common(args.top)},
              "slowest_ops": [{"name": name, "ms_per_step": round(ms, 2), "calls_per_step": counts[name] / args.steps,
                               "hlo": instructions.get(name, "")} for name, ms in by_name.most_common(args.top)],
              "trace_dir": trace_dir}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
