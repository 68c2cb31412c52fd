"""Benchmark of the supernet training step. Prints one JSON line.

    python -m experiments.bench.step [--space mobilenetv3|all|a,b] [--width-mult 1.0] [--batch 64] [--resolution 32]
                                     [--option SPACE.KEY=JSON ...]

`--option nb201.cells_per_stage=1` sets a space option for that space only (repeatable); the
figures say which options they were measured with. The full NAS-Bench-201 network (16 channels,
5 cells per stage, every op of every edge computed by the masked step) costs over half an hour of
compiles and steps on 2 CPU cores at batch 64.

`--space all` measures every shipped space (each in its own process) and prints one JSON line
with a figure set per space; image spaces get 32x32x3 random images, `transformer_lm` random
bytes of `--context` tokens with a next-byte label at every position.

Figures (milliseconds, medians of interleaved repeats, same process):
  masked_{largest,smallest}_ms   one-arch step, arch as a traced vector (one compile for all archs)
  sliced_{largest,smallest,middleI}_ms   one-arch step of the standalone (sliced) model
  masked_sandwich_ms             largest + a random + smallest, all masked (a fresh random arch each call)
  static_sandwich_ms             largest and smallest static, the middle arch masked; mean over the
                                 `--middle-archs` fixed middle archs (each timed on its own)
  switch_sandwich_ms             the same with the middle arch switched (`--execution switch`: each block or
                                 edge runs only its chosen op, width and kernel); spaces with switched execution
  sliced_sandwich_ms             the same three subnets each run sliced: the sandwich's cost floor
  {static,switch}_sandwich_over_sliced   traced sandwich / sliced sum, per middle arch, mean (target <= 1.3)
  sandwich_first_call_s          first call of each traced sandwich step: trace + cold compile + one step
  peak_rss_mb                    this process's peak resident memory (every program above compiled)
  compile_count                  backend compiles of the masked step over warm-up + timed steps (target 1)
  cold_compile_s / warm_compile_s   XLA compile of the masked step in a fresh process, with empty
                                 and then warm caches (warm: a load from the persistent cache)
  trace_s                        Python tracing of the step (cold start only: the traced program is
                                 then kept on disk, nas/traced_cache.py); traced_load_s: reading it back
  lower_s                        lowering the (loaded) program to StableHLO on a warm start
  {cold,warm}_first_step_overhead_s   trace or load + lower + compile: the wait before step 1
Same configuration as ../shared/peers/ofa by default: batch 64, 32x32x3 random input, 10 classes,
SGD Nesterov momentum 0.9, lr 0.01, weight decay 3e-5.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nas.compile_counter import count_compiles
from nas.definition import get_definition
from nas.errors import ConfigError, WeftError
from nas.hardware.inputs import deployment_shape
from nas.key_values import parse_key_values
from nas.lowering import slice_subnet, split, standalone_apply
from nas.train.losses import cross_entropy
from nas.train.step import StepOptions, init_train_state, make_train_step


SMOKE = ["--space", "mlp", "--batch", "4", "--resolution", "8", "--channels", "1", "--repeats", "2",
         "--middle-archs", "1"]


def input_shape(args) -> tuple:
    """One example's input: tokens of `--context`, images of `--resolution` and `--channels`, or, for a space
    that reads fixed inputs (a graph space's node indices) and refuses images, the input it declares."""
    definition = get_definition(args.space)
    if definition.inputs == "tokens":
        return (args.context,)
    requested = (args.resolution, args.resolution, args.channels)
    try:
        definition.resolve_options(space_options(args), requested)
    except ConfigError:
        if deployment_shape(definition) is None:
            raise
        return deployment_shape(definition)
    return requested


def parse_space_options(pairs: list[str]) -> dict[str, dict]:
    """["nb201.channels=8", ...] -> {"nb201": {"channels": 8}}; a malformed pair is one clear error."""
    options: dict[str, dict] = {}
    try:
        values = parse_key_values(pairs)
    except ConfigError as error:
        raise SystemExit(f"error: {error}; expected SPACE.KEY=VALUE, e.g. nb201.cells_per_stage=1")
    for key, value in values.items():
        space, dot, name = key.partition(".")
        if not (dot and space and name):
            raise SystemExit(f"error: --option {key}=...: expected SPACE.KEY=VALUE, e.g. nb201.cells_per_stage=1")
        options.setdefault(space, {})[name] = value
    return options


def space_options(args) -> dict:
    options = {"width_mult": args.width_mult} if args.space == "mobilenetv3" else {}
    # The train and evaluate benches take no --option: their namespaces have none.
    return {**options, **parse_space_options(getattr(args, "option", None) or []).get(args.space, {})}


def add_workload_arguments(parser, *, batch: int | None = 64) -> None:
    """Every bench's workload options, defaulting to the OFA peer's: space, width, batch and input size."""
    parser.add_argument("--space", default="mobilenetv3")
    parser.add_argument("--width-mult", type=float, default=1.0)
    if batch is not None:
        parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)


def pretrained_base(context: int) -> str:
    """A transformer_lm run for the adapter space to wrap when `--option lora.base=RUN` names none: one
    training step on the fortunes at the bench's context (a step's cost does not depend on trained weights),
    in a temporary folder removed when this process exits."""
    import atexit
    import shutil

    from nas.train.config import TrainConfig
    from nas.train.loop import train

    root = tempfile.mkdtemp(prefix="weft-bench-base-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    train(TrainConfig(space="transformer_lm", space_options={"context": context}, data="fortunes", steps=1,
                      checkpoint_every=1, batch_size=8, limit_train=256, calibration_images=16, eval_batch_size=64,
                      warmup_steps=1), os.path.join(root, "base"), progress=False)
    return os.path.join(root, "base")


def build(args):
    definition = get_definition(args.space)
    options = space_options(args)
    space, supernet = definition.build(definition.resolve_options(options, input_shape(args)))
    return space, supernet


def build_or_skip(args):
    """`build(args)`, or None after printing why this space is skipped: a space it cannot build is a line of
    the table, not the end of it."""
    try:
        if args.space == "lora" and "base" not in space_options(args):  # one base, passed on to the compile probe
            args.option += [f"lora.base={json.dumps(pretrained_base(args.context))}", f"lora.context={args.context}"]
        return build(args)
    except WeftError as error:
        print(json.dumps({"bench": "step", "space": args.space, "skipped": str(error)}))
        return None


def optimizer():
    return optax.chain(optax.add_decayed_weights(3e-5), optax.sgd(0.01, momentum=0.9, nesterov=True))


def batch(args):
    rng = np.random.default_rng(0)
    if get_definition(args.space).inputs == "tokens":
        tokens = rng.integers(0, 256, (args.batch, args.context + 1))
        return jnp.asarray(tokens[:, :-1], jnp.int32), jnp.asarray(tokens[:, 1:], jnp.int32)
    images = jnp.asarray(rng.normal(size=(args.batch, *input_shape(args))), jnp.float32)
    return images, jnp.asarray(rng.integers(0, 10, args.batch), jnp.int32)


def shipped_spaces() -> list[str]:
    from search_spaces import REGISTRY

    return sorted(REGISTRY)


def run_each_space(args, spaces: list[str]) -> None:
    """One fresh process per space (its own compiles and memory); one JSON line for all of them."""
    figures = {}
    for name in spaces:
        command = [sys.executable, "-m", "experiments.bench.step", "--space", name, "--width-mult", str(args.width_mult),
                   "--batch", str(args.batch), "--resolution", str(args.resolution), "--channels",
                   str(args.channels), "--context", str(args.context), "--repeats", str(args.repeats),
                   "--middle-archs", str(args.middle_archs)]
        command += [item for pair in args.option if pair.startswith(f"{name}.") for item in ("--option", pair)]
        if args.skip_compile_probe:
            command.append("--skip-compile-probe")
        start = time.perf_counter()
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        figures[name] = json.loads(output.strip().splitlines()[-1])
        # Each space's figures as soon as they exist: a long run cut short keeps what it measured.
        print(f"[bench step] {name} done in {time.perf_counter() - start:.0f} s: {json.dumps(figures[name])}",
              file=sys.stderr, flush=True)
    print(json.dumps({"bench": "step", "spaces": figures}))


def sliced_step(subnet, opt):
    graphdef, params, stats = split(subnet)

    def step(state, images, labels):
        params, stats, opt_state = state

        def loss(params):
            logits, new_stats = standalone_apply(graphdef, params, stats, images, train=True)
            return cross_entropy(logits, labels), new_stats
        (value, new_stats), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), new_stats, opt_state), value
    return jax.jit(step), (params, stats, opt.init(params))


def time_interleaved(runners: dict, repeats: int) -> dict:
    """Run each runner once per round, the first side alternating round by round (AB BA AB ...); median ms."""
    names, times = list(runners), {name: [] for name in runners}
    for round_index in range(repeats):
        for name in (names if round_index % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            runners[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(values)) for name, values in times.items()}


def bench_workload(args):
    """(space, supernet, graphdef, params, stats, optimizer, images, labels), or None for a skipped space."""
    built = build_or_skip(args)
    if built is None:
        return None
    space, supernet = built
    return (space, supernet, *split(supernet), optimizer(), *batch(args))


def compile_probe(args) -> None:
    """In a fresh process: what the trainer waits before its first step (trace or load, lower, compile)."""
    from nas.train.loop import enable_compilation_cache

    enable_compilation_cache(args.cache_dir)
    workload = bench_workload(args)
    if workload is None:
        return
    space, supernet, graphdef, params, stats, opt, images, labels = workload
    step = make_train_step(graphdef, space, opt, donate=False, disk_cache_key={"bench": "step"})
    state = init_train_state(params, stats, opt)
    archs = np.stack([space.largest().to_vector()])
    timings = step.prepare(state, images, labels, archs)
    start = time.perf_counter()
    jax.block_until_ready(step(state, images, labels, archs))
    timings["first_step_s"] = time.perf_counter() - start
    print(json.dumps(timings))


def probe_compile_times(args) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as cache:
        command = [sys.executable, "-m", "experiments.bench.step", "--compile-probe", "--cache-dir", cache,
                   "--space", args.space, "--width-mult", str(args.width_mult), "--batch", str(args.batch),
                   "--resolution", str(args.resolution), "--channels", str(args.channels),
                   "--context", str(args.context)]
        command += [item for pair in args.option for item in ("--option", pair)]
        environment = dict(os.environ, WEFT_TRACED_CACHE_DIR=os.path.join(cache, "traced"), WEFT_TRACED_CACHE="1")
        results = []
        for _ in range(2):  # cold (empty caches), then warm
            output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
    return results[0], results[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_arguments(parser)
    parser.add_argument("--context", type=int, default=64, help="tokens per example (token spaces)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--middle-archs", type=int, default=2,
                        help="fixed random middle subnets of the sandwich, each also compiled sliced (>= 1)")
    parser.add_argument("--option", action="append", default=[], metavar="SPACE.KEY=JSON",
                        help="a space option for one space, e.g. nb201.cells_per_stage=1 (repeatable)")
    parser.add_argument("--skip-compile-probe", action="store_true")
    parser.add_argument("--compile-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds): checks the bench runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args = parser.parse_args([*SMOKE, *(argv if argv is not None else sys.argv[1:])])
    if args.middle_archs < 1:
        raise SystemExit(f"error: --middle-archs must be >= 1, got {args.middle_archs}")
    parse_space_options(args.option)  # a malformed option stops here, before any space is measured
    if args.compile_probe:
        return compile_probe(args)
    if args.space == "all" or "," in args.space:
        return run_each_space(args, shipped_spaces() if args.space == "all" else args.space.split(","))

    workload = bench_workload(args)
    if workload is None:
        return
    space, supernet, graphdef, params, stats, opt, images, labels = workload
    largest, smallest = space.largest(), space.smallest()
    rng = np.random.default_rng(0)
    # Fixed middle archs, so the traced sandwich and the sum of its subnets sliced run the same subnets.
    middles = [space.sample(rng) for _ in range(args.middle_archs)]

    masked = make_train_step(graphdef, space, opt, donate=False)
    static = make_train_step(graphdef, space, opt, static_first=largest, static_last=smallest, donate=False)
    state = init_train_state(params, stats, opt)
    one = {name: np.stack([arch.to_vector()]) for name, arch in (("largest", largest), ("smallest", smallest))}
    sandwich_masked = lambda: np.stack([largest.to_vector(), space.sample(rng).to_vector(), smallest.to_vector()])
    switched = make_train_step(graphdef, space, opt, static_first=largest, static_last=smallest, donate=False,
                               options=StepOptions(execution="switch")) if get_definition(
        args.space).switch_execution else None
    sliced = {name: sliced_step(slice_subnet(supernet, arch), opt) for name, arch in
              (("largest", largest), ("smallest", smallest), *((f"middle{i}", a) for i, a in enumerate(middles)))}

    def run_sliced(name):
        return lambda: jax.block_until_ready(sliced[name][0](sliced[name][1], images, labels))

    runners = {
        "masked_largest_ms": lambda: jax.block_until_ready(masked(state, images, labels, one["largest"])),
        "masked_smallest_ms": lambda: jax.block_until_ready(masked(state, images, labels, one["smallest"])),
        "masked_sandwich_ms": lambda: jax.block_until_ready(masked(state, images, labels, sandwich_masked())),
        **{f"sliced_{name}_ms": run_sliced(name) for name in sliced},
    }
    traced = {"static": static, **({"switch": switched} if switched is not None else {})}
    for kind, step in traced.items():
        for i, arch in enumerate(middles):
            runners[f"{kind}_sandwich{i}_ms"] = functools.partial(
                lambda step, vector: jax.block_until_ready(step(state, images, labels, vector)),
                step, np.stack([arch.to_vector()]))
    first_call_s = {}
    for kind, step in traced.items():  # each traced sandwich step's first call: trace + cold compile + one step
        start = time.perf_counter()
        runners[f"{kind}_sandwich0_ms"]()
        first_call_s[kind] = round(time.perf_counter() - start, 1)
    with count_compiles() as masked_compiles:
        for name in ("masked_largest_ms", "masked_smallest_ms"):
            runners[name]()
    time_interleaved({"warm": lambda: [run() for run in runners.values()]}, 1)  # warm up everything
    figures = time_interleaved(runners, args.repeats)
    with count_compiles() as later:
        time_interleaved({k: runners[k] for k in ("masked_largest_ms", "masked_smallest_ms", "masked_sandwich_ms")}, 3)
    result = {"bench": "step", "space": args.space, "options": space_options(args), "batch": args.batch,
              "input": list(input_shape(args)), "backend": jax.default_backend(),
              "repeats": args.repeats, **{k: round(v, 1) for k, v in figures.items()},
              "compile_count": masked_compiles.count + later.count,
              "middle_archs": [arch.to_string() for arch in middles], "sandwich_first_call_s": first_call_s,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    # The same subnets sliced (each its own exact-shape program): the cost floor of the sandwich.
    sliced_sum = [figures["sliced_largest_ms"] + figures[f"sliced_middle{i}_ms"] + figures["sliced_smallest_ms"]
                  for i in range(len(middles))]
    result["sliced_sandwich_ms"] = round(float(np.mean(sliced_sum)), 1)
    for kind in traced:
        sandwich = [figures[f"{kind}_sandwich{i}_ms"] for i in range(len(middles))]
        result[f"{kind}_sandwich_ms"] = round(float(np.mean(sandwich)), 1)
        result[f"{kind}_sandwich_over_sliced"] = round(float(np.mean(np.divide(sandwich, sliced_sum))), 2)
        result[f"{kind}_vs_masked_sandwich_speedup"] = round(figures["masked_sandwich_ms"] / float(np.mean(sandwich)), 2)
    if not args.skip_compile_probe:
        cold, warm = probe_compile_times(args)
        overhead = lambda t: t.get("trace_s", 0) + t.get("load_s", 0) + t["lower_s"] + t["compile_s"]
        result.update(cold_compile_s=round(cold["compile_s"], 1), warm_compile_s=round(warm["compile_s"], 1),
                      trace_s=round(cold["trace_s"], 2), traced_load_s=round(warm["load_s"], 2),
                      lower_s=round(warm["lower_s"], 2),
                      cold_first_step_overhead_s=round(overhead(cold), 1),
                      warm_first_step_overhead_s=round(overhead(warm), 1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
