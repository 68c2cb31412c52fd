"""Benchmark of a differentiable search step: TangleNAS superposition vs DARTS mixed ops. Prints one JSON line.

    python -m experiments.bench.differentiable [--space mobilenetv3] [--width-mult 0.5] [--batch 32]
                                               [--resolution 32] [--channels 3] [--option kernels=[3,5]] [--repeats 5]

One search step = a weight step on a training batch and an alpha step on a validation batch
(`searchers.differentiable.make_search_step`), on the MobileNetV3 space (or `--space`) with random inputs, the same
weights, alpha and batches for both forms, measured in the same process:

  superposition_step_ms / mixed_op_step_ms   median of interleaved repeats (ms)
  step_speedup                               mixed_op_step_ms / superposition_step_ms
  superposition_memory_mb / mixed_op_memory_mb   peak memory as XLA plans it for the compiled step:
                                             `compiled.memory_analysis()` temp + argument + output bytes
                                             (on CPU the only peak figure there is; on a GPU also the
                                             device's peak_bytes_in_use after the runs)
  memory_ratio                               mixed_op_memory_mb / superposition_memory_mb
  {superposition,mixed_op}_compile_s         lowering + XLA compile of each step
"""
from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.bench.step import time_interleaved
from nas.definition import get_definition
from nas.key_values import parse_key_values
from nas.differentiable import arch_params
from nas.lowering import split
from searchers.differentiable import init_search_state, make_search_step

FORMS = {"superposition": "tangle", "mixed_op": "darts"}


def memory_bytes(compiled) -> dict:
    analysis = compiled.memory_analysis()
    parts = {name: int(getattr(analysis, f"{name}_size_in_bytes")) for name in ("temp", "argument", "output")}
    return {**parts, "total": sum(parts.values())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="mobilenetv3", help="a shipped space with choice decisions")
    parser.add_argument("--width-mult", type=float, default=0.5, help="mobilenetv3's width multiplier")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--option", action="append", default=[], help="space option key=JSON, repeatable")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    definition = get_definition(args.space)
    image_shape = (args.resolution, args.resolution, args.channels)
    options = {**({"width_mult": args.width_mult} if args.space == "mobilenetv3" else {}), **parse_key_values(args.option)}
    space, supernet = definition.build(definition.resolve_options(options, image_shape))
    graphdef, params, stats = split(supernet)
    rng = np.random.default_rng(0)
    images = [jnp.asarray(rng.normal(size=(args.batch, *image_shape)), jnp.float32) for _ in range(2)]
    labels = [jnp.asarray(rng.integers(0, 10, args.batch), jnp.int32) for _ in range(2)]
    weights, alpha_optimizer = optax.sgd(0.01, momentum=0.9), arch_params.make_optimizer()
    state = init_search_state(params, stats, arch_params.init(space, jax.random.key(0)), weights, alpha_optimizer)
    arguments = (state, images[0], labels[0], images[1], labels[1], jax.random.key(1), np.float32(1.0))

    compiled, compile_s, memory = {}, {}, {}
    for form, method in FORMS.items():
        start = time.perf_counter()
        compiled[form] = make_search_step(graphdef, space, method, weights, alpha_optimizer).lower(*arguments).compile()
        compile_s[form] = time.perf_counter() - start
        memory[form] = memory_bytes(compiled[form])
    runners = {form: (lambda step=step: jax.block_until_ready(step(*arguments))) for form, step in compiled.items()}
    time_interleaved(runners, 1)  # warm up
    step_ms = time_interleaved(runners, args.repeats)
    mb = {form: memory[form]["total"] / 2**20 for form in FORMS}
    result = {"bench": "differentiable", "space": args.space, "options": options, "decisions": space.num_decisions,
              "batch": args.batch, "input": list(image_shape), "backend": jax.default_backend(),
              "repeats": args.repeats,
              **{f"{form}_step_ms": round(step_ms[form], 1) for form in FORMS},
              "step_speedup": round(step_ms["mixed_op"] / step_ms["superposition"], 2),
              **{f"{form}_memory_mb": round(mb[form], 1) for form in FORMS},
              "memory_ratio": round(mb["mixed_op"] / mb["superposition"], 2),
              "memory_figure": "compiled.memory_analysis(): temp + argument + output bytes",
              **{f"{form}_temp_mb": round(memory[form]["temp"] / 2**20, 1) for form in FORMS},
              **{f"{form}_compile_s": round(compile_s[form], 1) for form in FORMS}}
    device = jax.devices()[0]
    if device.platform == "gpu" and device.memory_stats():
        result["device_peak_mb_after_both"] = round(device.memory_stats().get("peak_bytes_in_use", 0) / 2**20, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
