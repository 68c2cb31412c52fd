"""`nas latency collect|import|fit|adapt|retest` and `nas cost` (registered lazily by nas/cli.py)."""
from __future__ import annotations

import json
import math

import click

from nas.cli import _one_line_errors
from nas.errors import ConfigError
from nas.hardware.backends import BACKENDS
from nas.hardware.mlp_predictor import MlpSettings
from nas.key_values import parse_key_values

INPUT_SHAPE_HELP = ("one example's input: H,W,C for an image space (default: the space's deployment input, e.g. "
                    "224,224,3 for mobilenetv3, else 28,28,1), T tokens for a token space (default: its context "
                    "option)")
COST_INPUT_SHAPE_HELP = ("one example's input: H,W,C for an image space, T tokens for a token space (default: the "
                         "predictor's, else the space's deployment input (mobilenetv3: 224,224,3), else 28,28,1 or "
                         "the space's context option)")


def _input_shape(space: str, text: str | None, options: dict | None, default: tuple | None = None) -> tuple:
    """--input-shape, else `default` (a predictor's), else the space's deployment input, else its training one."""
    from nas.definition import get_definition
    from nas.hardware.inputs import deployment_shape, input_shape

    definition = get_definition(space)
    return input_shape(definition, text, options, default if default is not None else deployment_shape(definition))


@click.group(help="Measure the latency of sliced compiled subnets and fit latency predictors.")
def latency():
    pass


@latency.command(help="Measure archs of a space into a run directory (re-run the same command to resume).")
@click.option("--space", default="mobilenetv3", show_default=True, help="mlp, mobilenetv3, or package.module:attr")
@click.option("--n", type=int, default=200, show_default=True, help="number of sampled archs")
@click.option("--run", "run_path", required=True, help="run directory, e.g. runs/latency-NAME")
@click.option("--batch", type=int, default=1, show_default=True)
@click.option("--input-shape", "--image-shape", "input_shape", default=None, help=INPUT_SHAPE_HELP)
@click.option("--option", "options", multiple=True, help="space option key=value (JSON value), repeatable")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--group", type=int, default=4, show_default=True, help="archs compiled, then timed interleaved")
@click.option("--repeats", type=int, default=41, show_default=True, help="timed samples (single calls) per arch")
@click.option("--threads", type=int, default=None,
              help="pin to this many cores (1: also single-threaded XLA); 0: all. [default: 1, the setting "
                   "measured to retest at tau >= 0.9 (experiments/results/latency-retest-quiet); 0 where JAX "
                   "already runs in this process, as when called from Python]")
@click.option("--sessions", type=int, default=None,
              help="independent compiles (onnxruntime: sessions) of each arch, each timed --repeats times; an "
                   "arch's figure is their geometric mean, which averages out what differs from one compile to "
                   "the next. [default: 3 on onnxruntime, 1 on xla (a compile there takes seconds)]")
@click.option("--no-layers", is_flag=True, help="skip timing each layer config (the lookup table)")
@click.option("--backend", type=click.Choice(BACKENDS), default="xla", show_default=True,
              help="where the model runs: xla (the sliced subnet compiled by XLA) or onnxruntime (its ONNX export "
                   "in an InferenceSession, intra-op threads = --threads; times whole models only, so no lookup "
                   "table); a collection holds one backend")
@click.option("--quiet", is_flag=True, help="no progress bar")
@_one_line_errors
def collect(space, n, run_path, batch, input_shape, options, seed, group, repeats, threads, sessions, no_layers,
            backend, quiet):
    from nas.hardware.device import default_threads, pin_threads

    threads = default_threads() if threads is None else threads
    if threads:
        pin_threads(threads)
    from nas.hardware.backends import LAYER_BACKENDS, check_backend
    from nas.hardware.collect import CollectConfig, collect as run_collect, default_sessions

    sessions = default_sessions(backend) if sessions is None else sessions
    for flag, value, least in (("--n", n, 1), ("--batch", batch, 1), ("--group", group, 1), ("--sessions", sessions, 1),
                               ("--repeats", repeats, 3)):
        if value < least:
            raise ConfigError(f"{flag} must be >= {least}, got {value}")
    check_backend(backend)
    options = parse_key_values(options) or None
    shape = _input_shape(space, input_shape, options)
    config = CollectConfig(space=space, n=n, batch=batch, input_shape=shape, options=options, seed=seed, group=group,
                           repeats=repeats, layers=not no_layers, backend=backend, threads=threads, sessions=sessions)
    run = run_collect(config, run_path, progress=not quiet)
    layers = (True if backend in LAYER_BACKENDS and not no_layers else
              f"not timed ({'--no-layers' if no_layers else f'backend {backend} times whole models only'}): "
              "nas latency fit offers no lookup table")
    click.echo(json.dumps({"run": str(run), "space": space, "n": n, "backend": backend, "input_shape": list(shape),
                           "batch": batch, "threads": threads, "sessions": sessions, "layers": layers}))


@latency.command("import", help="Build a collection from a CSV of latencies measured anywhere (columns arch: JSON "
                                 "object or canonical arch string, latency_ms); nas latency fit, retest and nas search "
                                 "--latency-predictor use it like any other collection.")
@click.option("--space", required=True, help="the space the archs belong to: mlp, nb201, ..., or package.module:attr")
@click.option("--csv", "csv_path", required=True, help="the CSV file")
@click.option("--run", "run_path", required=True, help="a new directory for the collection, e.g. runs/latency-pixel3")
@click.option("--device", default=None, help="the device's name, stored with the collection and its predictors "
                                             "(default: the CSV's file name)")
@click.option("--batch", type=int, default=1, show_default=True, help="the batch size the latencies were measured at")
@click.option("--input-shape", "--image-shape", "input_shape", default=None, help=INPUT_SHAPE_HELP)
@click.option("--option", "options", multiple=True, help="space option key=value (JSON value), repeatable")
@_one_line_errors
def import_(space, csv_path, run_path, device, batch, input_shape, options):
    from nas.hardware.csv_import import import_csv

    if batch < 1:
        raise ConfigError(f"--batch must be >= 1, got {batch}")
    options = parse_key_values(options) or None
    summary = import_csv(csv_path, run_path, space=space, options=options,
                         input_shape=_input_shape(space, input_shape, options), batch=batch, device=device)
    click.echo(json.dumps(summary))


def _int_list(text: str, what: str) -> tuple[int, ...]:
    """Comma-separated ints >= 1, or one line naming the option (`what`: its name, meaning and an example)."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise ConfigError(f"{what}; got {text!r}")
    return values


def _hidden(text: str) -> tuple[int, ...]:
    return _int_list(text, "--mlp-hidden must be comma-separated layer widths >= 1, e.g. 64,64")


def _alpha(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"--ridge-alpha must be auto or a number > 0, got {text!r}")
    return value


@latency.command(help="Fit the predictors on part of a collection, choose the best on a validation split and "
                      "report all on held-out archs.")
@click.option("--run", "run_path", required=True, help="a run directory of nas latency collect or nas latency import")
@click.option("--out", "out_dir", default=None, help="default: RUN/fit")
@click.option("--train-fraction", type=float, default=0.8, show_default=True,
              help="share of the archs fitted on; the rest are the test archs")
@click.option("--validation-fraction", type=float, default=0.2, show_default=True,
              help="share of the training archs held out to choose the best predictor")
@click.option("--target", type=click.Choice(["anchored", "median", "min", "anchored_min"]), default=None,
              help="anchored (default; imported measurements: median): median ratio to the reference arch timed "
              "beside each arch, times the reference's median latency over the collection; median: raw median; min: fastest call; anchored_min: min over "
              "the anchor's min")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--mlp-hidden", default=",".join(map(str, MlpSettings.hidden)), show_default=True,
              help="the MLP's hidden layer widths")
@click.option("--mlp-steps", type=int, default=MlpSettings.steps, show_default=True, help="full-batch training steps")
@click.option("--mlp-learning-rate", type=float, default=MlpSettings.learning_rate, show_default=True,
              help="Adam peak learning rate (cosine decay)")
@click.option("--weight-decay", type=float, default=MlpSettings.weight_decay, show_default=True,
              help="L2 penalty on the MLP's weights, added to its loss")
@click.option("--ridge-alpha", default="auto", show_default=True,
              help="the linear models' ridge strength; auto: chosen by leave-one-out on the training archs")
@_one_line_errors
def fit(run_path, out_dir, train_fraction, validation_fraction, target, seed, mlp_hidden, mlp_steps,
        mlp_learning_rate, weight_decay, ridge_alpha):
    from nas.hardware.report import fit as run_fit

    _check_seed(seed)
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"--train-fraction must be in (0, 1), got {train_fraction}")
    if not 0.0 < validation_fraction < 1.0:
        raise ConfigError(f"--validation-fraction must be in (0, 1), got {validation_fraction}")
    if mlp_steps < 1:
        raise ConfigError(f"--mlp-steps must be >= 1, got {mlp_steps}")
    if not (math.isfinite(mlp_learning_rate) and mlp_learning_rate > 0):
        raise ConfigError(f"--mlp-learning-rate must be a finite number > 0, got {mlp_learning_rate}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ConfigError(f"--weight-decay must be a finite number >= 0, got {weight_decay}")
    mlp = MlpSettings(hidden=_hidden(mlp_hidden), steps=mlp_steps, learning_rate=mlp_learning_rate,
                      weight_decay=weight_decay)
    report = run_fit(run_path, out_dir, train_fraction=train_fraction, validation_fraction=validation_fraction,
                     target=target, seed=seed, mlp=mlp, ridge_alpha=_alpha(ridge_alpha))
    click.echo(json.dumps({"best": report["best"], "backend": report["backend"], "target": report["target"],
                           "n_test": report["n_test"],
                           "results": report["results"], "skipped": report["skipped"], "noise": report["noise"]}))


def _check_seed(seed: int) -> None:
    if seed < 0:  # numpy's generators take no negative seed, and say so only in a traceback
        raise ConfigError(f"--seed must be >= 0, got {seed}")


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(sorted(set(_int_list(text, "--curve must be comma-separated numbers of archs >= 1, e.g. 5,10,20,50"))))


@latency.command(help="Adapt predictors of other devices to a new one from a few of its measured archs "
                      "(and measure how tau grows with them).")
@click.option("--source", "source_paths", multiple=True, required=True,
              help="a predictor file of nas latency fit for another device (same space and input), repeatable")
@click.option("--run", "run_path", required=True, help="the new device's collection (nas latency collect or import)")
@click.option("--out", "out_dir", default=None, help="default: RUN/adapt")
@click.option("--samples", type=int, default=None, help="fit on this many of RUN's archs, drawn at random "
                                                        "(default: all); the rest score it")
@click.option("--curve", "curve_text", default=None,
              help="also measure Kendall tau on the other archs after k = these numbers of archs, e.g. 5,10,20,50")
@click.option("--repeats", type=int, default=10, show_default=True, help="random draws per k of --curve")
@click.option("--seed", type=int, default=0, show_default=True)
@_one_line_errors
def adapt(source_paths, run_path, out_dir, samples, curve_text, repeats, seed):
    from nas.hardware.adapt import adapt as run_adapt

    _check_seed(seed)
    if repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {repeats}")
    click.echo(json.dumps(run_adapt(source_paths, run_path, out_dir, samples=samples,
                                    curve=_sizes(curve_text) if curve_text else (), repeats=repeats, seed=seed)))


@latency.command(help="Test-retest: score a second collection of the same archs against the first "
                      "(the ceiling any predictor can reach on this machine).")
@click.option("--run", "run_path", required=True, help="the first collection (nas latency collect --run)")
@click.option("--against", "second_path", required=True,
              help="a second collection of the same space, input and batch, collected with the same --seed")
@_one_line_errors
def retest(run_path, second_path):
    from pathlib import Path

    from nas.hardware.retest import retest as run_retest

    if Path(run_path).resolve() == Path(second_path).resolve():  # it would agree with itself perfectly
        raise ConfigError(f"--against names {run_path} itself; allowed: a second collection of the same archs "
                          "(nas latency collect with the first's --seed, in a new --run)")
    click.echo(json.dumps(run_retest(Path(run_path), Path(second_path))))


@click.command(help="FLOPs (multiply-adds), params and predicted latency of one arch.")
@click.option("--space", default="mobilenetv3", show_default=True)
@click.option("--arch", "arch_spec", required=True, help="largest, smallest, a JSON object, a .json file or a canonical string")
@click.option("--input-shape", "--image-shape", "input_shape", default=None, help=COST_INPUT_SHAPE_HELP)
@click.option("--option", "options", multiple=True, help="space option key=value (JSON value), repeatable")
@click.option("--predictor", "predictor_paths", multiple=True, help="a predictor JSON of nas latency fit, repeatable")
@click.option("--layers", "show_layers", is_flag=True, help="also print per-layer MACs and params")
@_one_line_errors
def cost(space, arch_spec, input_shape, options, predictor_paths, show_layers):
    from nas.export import parse_arch
    from nas.hardware.counters import load_counter
    from nas.hardware.inputs import input_kind
    from nas.hardware.predictor_io import load_predictor, read_document

    options = parse_key_values(options) or None
    stored = [tuple(read_document(p)["space"]["input_shape"]) for p in predictor_paths]
    shape = _input_shape(space, input_shape, options, stored[0] if stored else None)
    counter = load_counter(space, options, shape)
    arch = parse_arch(counter.space, arch_spec)
    counts = counter.count(arch)
    # "image_shape" is kept for images, as before token spaces; "input_shape" and "inputs" say it for both kinds.
    result = {"space": counter.space.name, "version": counter.space.version, "arch": arch.to_string(),
              "inputs": input_kind(shape), "input_shape": list(shape),
              **({"image_shape": list(shape)} if input_kind(shape) == "images" else {}),
              "flops_multiply_adds": counts["macs"], "params": counts["params"]}
    if predictor_paths:
        vector = arch.to_vector()[None]
        result["latency_ms"] = {}
        for path in predictor_paths:
            predictor, document = load_predictor(path, counter)
            result["latency_ms"][f"{document['kind']}:{path}"] = float(predictor(vector)[0])
            result["latency_batch"] = document["batch"]
            result.setdefault("latency_backend", {})[f"{document['kind']}:{path}"] = document.get("backend")
    if show_layers:
        result["layers"] = {name: {"macs": m, "params": p} for name, (m, p) in counts["layers"].items()}
    click.echo(json.dumps(result))
