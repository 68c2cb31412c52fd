"""`nas search-differentiable` (registered lazily by nas/cli.py)."""
from __future__ import annotations

import json

import click

from nas.cli import _one_line_errors
from nas.key_values import parse_key_values


@click.command(help="Differentiable search (weights and architecture trained together) into a run directory: "
                    "TangleNAS superposition (tangle), DARTS mixed ops (darts), GDAS (gdas) or Single-Path NAS "
                    "(single-path: thresholds on the norms of nested weight subsets, no alpha). Writes the "
                    "derived arch to RUN/result.json (export it with nas export --run RUN --arch "
                    "RUN/result.json); re-running the same command resumes.")
@click.option("--space", default="nb201", show_default=True, help="a shipped space or package.module:attr")
@click.option("--method", default="tangle", show_default=True,
              help="tangle (superposed entangled weights), darts (one op per choice), gdas (Gumbel, hard samples), "
                   "single-path (a trainable threshold per nested choice decides; needs nested decisions)")
@click.option("--steps", type=int, default=1000, show_default=True, help="search steps (a weight and an alpha step each)")
@click.option("--run", "run_path", required=True, help="run directory, e.g. runs/NAME")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", "learning_rate", type=float, default=0.025, show_default=True,
              help="weights: SGD momentum 0.9, cosine decay")
@click.option("--weight-decay", type=float, default=3e-4, show_default=True)
@click.option("--grad-clip", type=float, default=5.0, show_default=True)
@click.option("--alpha-lr", "alpha_learning_rate", type=float, default=3e-4, show_default=True,
              help="architecture: Adam (0.5, 0.999)")
@click.option("--alpha-weight-decay", type=float, default=1e-3, show_default=True)
@click.option("--temperature-start", type=float, default=10.0, show_default=True, help="gdas: linear schedule")
@click.option("--temperature-end", type=float, default=0.1, show_default=True)
@click.option("--latency-predictor", default=None, help="predictor file from `nas latency fit`: penalise expected latency")
@click.option("--latency-weight", type=float, default=1.0, show_default=True,
              help="penalty per ms of expected latency (per ms above the budget, with --latency-budget); "
                   "single-path: lambda in lambda * log(expected ms)")
@click.option("--latency-budget", type=float, default=None,
              help="ms: a hinge penalty above this expected latency (single-path: lambda * max(log(E / budget), 0))")
@click.option("--threshold-lr", "threshold_learning_rate", type=float, default=0.01, show_default=True,
              help="single-path: Adam on the thresholds")
@click.option("--warmup-steps", type=int, default=None,
              help="single-path: steps without the latency term, thresholds held  [default: half of --steps]")
@click.option("--indicator-dropout", type=float, default=0.4, show_default=True,
              help="single-path: during the warm-up, the weight step drops each indicator with this probability")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--data", default="fashion-mnist", show_default=True, help="fashion-mnist or synthetic")
@click.option("--validation-size", type=int, default=5000, show_default=True,
              help="fashion-mnist: training images held out for the architecture steps")
@click.option("--limit-train", type=int, default=None, help="use only the first N training images")
@click.option("--checkpoint-every", type=int, default=100, show_default=True)
@click.option("--log-every", type=int, default=10, show_default=True)
@click.option("--option", "options", multiple=True, help="space option key=value (JSON value), repeatable")
@click.option("--quiet", is_flag=True, help="no progress bar")
@_one_line_errors
def search_differentiable(run_path, options, quiet, **fields):
    from nas.config import from_dict
    from nas.differentiable.search_run import DifferentiableConfig, search

    config = from_dict(DifferentiableConfig, {**fields, "space_options": parse_key_values(options)},
                       "nas search-differentiable")
    result = search(config, run_path, progress=not quiet)
    click.echo(json.dumps({k: result[k] for k in result if k not in ("probabilities", "thresholds", "ring_rms")}))
