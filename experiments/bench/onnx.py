"""ONNX export of every shipped space: does it export, does onnxruntime compute what JAX computes, and
how fast is it at batch 1. Prints one JSON line; `--out DIR` also writes results.json and table.md.

    python -m experiments.bench.onnx [--spaces mlp,vit] [--threads 1] [--out DIR] [--smoke]

Per space, the largest and the smallest subnet of a supernet at the space's default options for
its data: Fashion-MNIST 28x28x1 for the image spaces, 64-byte windows of the fortunes for
transformer_lm. Untrained, but not at its init: the params are moved off it by 0.05 x N(0, 1) (as
tests/search_spaces/test_lowering.py does: an init with zero gammas or heads gives constant logits,
which would make equality trivial) and BN statistics are recalibrated on 500 training images for
each subnet, as `nas export` does (without it a fresh NB201 gives logits of 1e8). Each is lowered
as `nas export --format onnx` does (preprocessing included, traced with the portable depthwise
conv) and checked on the real test split: raw Fashion-MNIST pixels as stored (uint8 values as
float32), or the fortunes' test windows, against the jitted JAX forward as XLA:CPU runs it (its
own depthwise taps). Figures:

  lower_s            trace + lowering to ONNX (+ onnx.checker)
  check_s            the check: onnxruntime and jax over the whole test split
  max_abs_diff       max |onnxruntime - jax| over every logit of the test split
  argmax_agreement   fraction of predictions (images; LM: every position) whose argmax agrees
  ort_ms, xla_ms     batch-1 latency: median of interleaved rounds, the side going first alternating
                     each round; onnxruntime CPUExecutionProvider vs the jitted JAX forward
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SPACES = ("mlp", "mobilenetv3", "macro_chain", "nb201", "vit", "transformer_lm")
# --smoke: sizes a test can afford (the figures then mean nothing).
SMOKE_OPTIONS = {
    "mlp": {"max_width": 32, "max_layers": 2},
    "mobilenetv3": {"width_mult": 0.25, "depths": [1, 2], "kernels": [3, 7], "expands": [3, 6]},
    "macro_chain": {"init_channels": 8, "head_channels": 32},
    "nb201": {"channels": 4, "cells_per_stage": 1},
    "vit": {"embed_dims": [16, 32], "depths": [1, 2], "heads": [1, 2], "mlp_ratios": [1, 2], "head_dim": 8,
            "patch_size": 7},
    "transformer_lm": {"embed_dims": [32, 64], "depths": [1, 2], "heads": [1, 2], "ffn_widths": [32, 64],
                       "head_dim": 16, "context": 16},
}
CONTEXT = 64


def test_data(tokens: bool, context: int):
    """(raw test inputs, preprocessing record): raw Fashion-MNIST pixels, or the fortunes' test windows."""
    import numpy as np

    from nas import preprocessing
    from nas.data import DEFAULT_ROOT, _locate_fashion_mnist_files, load_fashion_mnist, read_idx

    if tokens:
        from nas.text_data import load_fortunes

        return np.asarray(load_fortunes(context=context).test.images, np.int32), {"kind": preprocessing.TOKENS}
    pixels = read_idx(_locate_fashion_mnist_files(Path(DEFAULT_ROOT))["test_images"])  # uint8 [N, 28, 28]
    record = preprocessing.describe(load_fashion_mnist())  # the training split's statistics
    return pixels[..., None].astype(np.float32), record


def measure(name: str, options: dict, examples: int | None, rounds: int, threads: int) -> list[dict]:
    import jax
    import numpy as np
    import onnxruntime
    from flax import nnx

    import nas.onnx
    from nas.data import load_fashion_mnist
    from nas.errors import WeftError
    from nas.definition import get_definition
    from nas.evaluate import make_recalibrate
    from nas.export import float64_forward, raw_forward
    from nas.lowering import count_params, slice_subnet, split
    from experiments.bench.step import time_interleaved
    from supernets.ops import portable_depthwise

    definition = get_definition(name)
    tokens = definition.inputs == "tokens"
    resolved = definition.resolve_options(options, None if tokens else (28, 28, 1))
    context = resolved.get("context", CONTEXT)
    raw, record = test_data(tokens, context)
    raw = raw[:examples] if examples else raw
    shape = raw.shape[1:]
    space, supernet = definition.build(resolved)
    graphdef, params, stats = split(supernet)
    keys = iter(jax.random.split(jax.random.key(0), len(jax.tree.leaves(params))))
    params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(next(keys), p.shape, p.dtype), params)
    recalibrate = make_recalibrate(graphdef, space) if jax.tree.leaves(stats) else None
    calibration = None if recalibrate is None else load_fashion_mnist().train.images[:500]
    rows = []
    for which, arch in (("largest", space.largest()), ("smallest", space.smallest())):
        arch_stats = stats if recalibrate is None else recalibrate(params, stats, calibration, arch.to_vector())
        sub_graphdef, sub_params, sub_stats = split(slice_subnet(nnx.merge(graphdef, params, arch_stats), arch))
        forward = raw_forward(sub_graphdef, sub_params, sub_stats, record)
        start = time.perf_counter()
        with portable_depthwise():  # as nas.export.write_onnx
            model = nas.onnx.to_onnx(forward, shape, np.int32 if tokens else np.float32)
        lower_s = time.perf_counter() - start
        try:
            check = nas.onnx.check(model, jax.jit(forward), raw,
                                   exact=float64_forward(sub_graphdef, sub_params, sub_stats, record))
        except WeftError as error:  # a failed check is a row of the table, not the end of it
            rows.append({"space": name, "subnet": which, "options": options, "error": str(error)})
            continue
        check_s = time.perf_counter() - start - lower_s
        session_options = onnxruntime.SessionOptions()
        if threads:
            session_options.intra_op_num_threads = session_options.inter_op_num_threads = threads
        runner = onnxruntime.InferenceSession(model.SerializeToString(), session_options,
                                              providers=["CPUExecutionProvider"])
        one = raw[:1]
        jitted = jax.jit(forward)
        runners = {"ort_ms": lambda: runner.run(None, {"inputs": one}),
                   "xla_ms": lambda: jax.block_until_ready(jitted(one))}
        for run in runners.values():  # warm up: compile, allocate
            run(), run()
        times = time_interleaved(runners, rounds)
        rows.append({"space": name, "subnet": which, "options": options, "input": list(shape),
                     "params": count_params(sub_params), "onnx_nodes": len(model.graph.node),
                     "onnx_mb": round(model.ByteSize() / 2 ** 20, 2), "lower_s": round(lower_s, 2),
                     "check_s": round(check_s, 2),
                     "max_abs_diff": check["max_abs_diff_vs_jax"], "max_abs_logit": check["max_abs_logit"],
                     "allowed_diff": check["allowed_diff"], "argmax_agreement": check["argmax_agreement"],
                     "checked_examples": check["checked_examples"],
                     "float64_reference": check.get("float64_reference"),
                     "ort_ms": round(times["ort_ms"], 4), "xla_ms": round(times["xla_ms"], 4),
                     "xla_over_ort": round(times["xla_ms"] / times["ort_ms"], 2)})
    return rows


def _float64_note(row: dict) -> str:
    reference = row.get("float64_reference")
    if not reference:
        return ""
    return (f"; beyond it, vs float64: ORT {reference['onnxruntime_error']:.1e}, "
            f"JAX {reference['jax_float32_error']:.1e}")


def table(rows: list[dict]) -> str:
    lines = ["| space | subnet | params | ONNX export | max abs diff (bar) | max abs logit | argmax agreement "
             "(examples) | ORT ms | XLA ms | XLA / ORT |",
             "| --- | --- | ---: | --- | --- | ---: | --- | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['space']} | {r['subnet']} | | failed: {r['error']} | | | | | | |")
            continue
        lines.append(f"| {r['space']} | {r['subnet']} | {r['params']:,} | ok ({r['onnx_nodes']} nodes, "
                     f"lowered in {r['lower_s']:.1f} s) | {r['max_abs_diff']:.2e} ({r['allowed_diff']:.1e}"
                     f"{_float64_note(r)}) | "
                     f"{r['max_abs_logit']:.3g} | "
                     f"{r['argmax_agreement']:.4f} ({r['checked_examples']:,}) | {r['ort_ms']:.3f} | "
                     f"{r['xla_ms']:.3f} | {r['xla_over_ort']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default=",".join(SPACES))
    parser.add_argument("--examples", type=int, default=0, help="test examples checked (0: the whole split)")
    parser.add_argument("--rounds", type=int, default=200, help="latency rounds (each side once per round)")
    parser.add_argument("--threads", type=int, default=1,
                        help="cores for both runtimes (0: their defaults); set before JAX starts")
    parser.add_argument("--out", default=None, help="also write results.json and table.md here")
    parser.add_argument("--smoke", action="store_true", help="tiny options, 16 examples, 3 rounds")
    args = parser.parse_args(argv)
    if args.threads:
        from nas.hardware.device import pin_threads

        pin_threads(args.threads)
    import jax
    import onnxruntime

    from nas.errors import WeftError

    examples, rounds = (16, 3) if args.smoke else (args.examples or None, args.rounds)
    rows = []
    for name in args.spaces.split(","):
        options = SMOKE_OPTIONS[name] if args.smoke else {}
        try:
            rows += measure(name, options, examples, rounds, args.threads)
        except WeftError as error:  # an export that fails is a row of the table, not the end of it
            rows += [{"space": name, "subnet": subnet, "options": options, "error": str(error)}
                     for subnet in ("largest", "smallest")]
    result = {"bench": "onnx", "threads": args.threads, "jax": jax.__version__,
              "onnxruntime": onnxruntime.__version__, "smoke": args.smoke, "rows": rows}
    print(json.dumps(result))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "table.md").write_text(table(rows))


if __name__ == "__main__":
    main()
