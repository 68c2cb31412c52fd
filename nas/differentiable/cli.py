"""`nas search-differentiable` (registered lazily by nas/cli.py): its options are DifferentiableConfig's settings."""
from __future__ import annotations

import json

import click

from nas.cli import _one_line_errors
from nas.config_cli import click_options, config_from_options
from nas.differentiable.search_run import DifferentiableConfig
from nas.key_values import parse_key_values


@click.command(help="Differentiable search (weights and architecture trained together) into a run directory: "
                    "TangleNAS superposition (tangle), DARTS mixed ops (darts), GDAS (gdas) or Single-Path NAS "
                    "(single-path: thresholds on the norms of nested weight subsets, no alpha). Writes the "
                    "derived arch to RUN/result.json (export it with nas export --run RUN --arch "
                    "RUN/result.json); re-running the same command resumes.")
@click.option("--run", "run_path", required=True, help="run directory, e.g. runs/NAME")
@click_options(DifferentiableConfig)
@click.option("--option", "options", multiple=True, help="space option key=value (JSON value), repeatable")
@click.option("--quiet", is_flag=True, help="no progress bar")
@_one_line_errors
def search_differentiable(run_path, options, quiet, **fields):
    from nas.differentiable.search_run import search

    config = config_from_options(DifferentiableConfig, fields, "nas search-differentiable",
                                 space_options=parse_key_values(options))
    result = search(config, run_path, progress=not quiet)
    click.echo(json.dumps({k: result[k] for k in result if k not in ("probabilities", "thresholds", "ring_rms")}))
