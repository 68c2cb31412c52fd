"""`nas search` and `nas plot` (registered lazily by nas/cli.py)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from nas.cli import _one_line_errors
from nas.config_cli import click_options, config_from_options
from nas.errors import ConfigError
from nas.key_values import parse_key_values
from nas.search.loop import SearchConfig
from nas.search.scoring_network import CHOICES as SUPERNET_CHOICES
from nas.user_code import import_attribute


def resolve_space(spec: str):
    """A shipped space name, or module:attribute naming a Space, a SearchSpaceDefinition or a function -> Space."""
    from nas.definition import SearchSpaceDefinition, get_definition
    from nas.space import Space

    if ":" not in spec:
        definition = get_definition(spec)
        return definition.make_space(**definition.default_options)
    value = import_attribute(spec, "space")  # also from the current folder
    if isinstance(value, SearchSpaceDefinition):
        value = value.make_space(**value.default_options)
    elif callable(value) and not isinstance(value, Space):
        value = value()
    if not isinstance(value, Space):
        raise ConfigError(f"{spec!r} is not a Space, a SearchSpaceDefinition or a function returning a Space")
    return value


def resolve_function(spec: str):
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"--objective must look like package.module:function, got {spec!r}")
    function = import_attribute(spec, "objective")  # also from the current folder
    if not callable(function):
        raise ConfigError(f"objective {spec!r} is not callable")
    return function


def _split_list(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@click.command(help="Search a trained run (or a black-box --objective) for the best archs; re-running resumes.")
@click.option("--run", "run_path", required=True,
              help="trained run directory (supernet search), or any directory for a black-box search")
@click.option("--space", default=None, help="with --objective: the space (name or module:attr); else checked against the run")
@click.option("--objective", "objective_spec", default=None,
              help="black-box mode: module:function of an Arch returning a number or a dict of metrics")
@click.option("--outputs", default="accuracy", show_default=True, help="black-box: metrics the objective returns")
@click_options(SearchConfig)
@click.option("--option", "options", multiple=True, help="searcher option key=value (JSON value), repeatable")
@click.option("--reference", "references", multiple=True, help="hypervolume reference METRIC=VALUE, repeatable")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--execution", default="auto", show_default=True, type=click.Choice(["auto", "masked", "switch"]))
@click.option("--limit", type=int, default=None, help="score only the first N examples of the split (images or byte windows)")
@click.option("--latency-predictor", default=None, help="predictor file from `nas latency fit`: adds the latency metric")
@click.option("--supernet", default="auto", show_default=True, type=click.Choice(SUPERNET_CHOICES),
              help="network scoring archs: the run's own (auto), the plain supernet inside it (single), its "
                   "Mixture-of-Supernets (mos) or its few-shot/learned mixture (mixture)")
@click.option("--cost-repeats", type=click.IntRange(min=0), default=2, show_default=True,
              help="scoring-cost report of a mixture run (none for a plain supernet): at least N timed calls "
                   "per network, more while under 0.5 s in all (0: no report)")
@click.option("--sharing", default="none", show_default=True,
              help="weight-shared evaluation that trains: none (the trained supernet scores every arch), all (each "
                   "arch trains --sharing-steps steps from one shared store, then writes back), homogeneous (one "
                   "store per group of homogeneous archs, Auto-GNN), or module:function (arch -> group key)")
@click.option("--sharing-steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="with --sharing all|homogeneous: training steps of each arch from its group's weights")
@click.option("--sharing-start", default="trained", show_default=True, type=click.Choice(["trained", "initial"]),
              help="a new group's weights: the run's trained supernet, or the supernet as initialised")
@click.option("--finetune-top", type=int, default=None,
              help="after the search, fine-tune the best K feasible archs (by the first objective) alone from the "
                   "shared weights and pick among them by their fine-tuned scores (the whole split, RUN/finetuned."
                   "STUDY.json) [default: no fine-tune]")
@click.option("--finetune-steps", type=int, default=100, show_default=True,
              help="with --finetune-top: stand-alone training steps of each shortlisted arch")
@click.option("--quiet", is_flag=True)
@_one_line_errors
def search(run_path, space, objective_spec, outputs, options, references, split, execution, limit, latency_predictor,
           supernet, cost_repeats, sharing, sharing_steps, sharing_start, finetune_top, finetune_steps, quiet,
           **settings):
    from nas.search import BlackBoxEvaluator, SupernetEvaluator, run_search
    from nas.search.objectives import canonical_metric, parse_number
    from nas.errors import RunDirError

    if objective_spec:
        if space is None:
            raise ConfigError("--objective needs --space (a space name or module:attr)")
        if supernet != "auto":
            raise ConfigError(f"--supernet {supernet} picks the network of a trained run; a black-box search "
                              "(--objective) has none: leave --supernet out")
        if sharing != "none":
            raise ConfigError(f"--sharing {sharing} trains a run's shared weights; a black-box search (--objective) "
                              "has none: leave --sharing out")
        if finetune_top is not None:
            raise ConfigError("--finetune-top fine-tunes a run's shared weights; a black-box search (--objective) has "
                              "none: leave --finetune-top out")
        evaluator = BlackBoxEvaluator(resolve_space(space), resolve_function(objective_spec),
                                      outputs=_split_list((outputs,)))
    else:
        from nas.search.shared_weights import Sharing

        rule = Sharing(sharing, steps=sharing_steps, start=sharing_start, seed=settings["seed"])
        rule.check()
        evaluator = SupernetEvaluator(run_path, split=split, execution=execution, limit=limit,
                                      latency_predictor=latency_predictor, supernet=supernet, sharing=rule,
                                      sharing_dir=Path(run_path) / f"sharing-{settings['study']}.{settings['worker']}"
                                      if rule.active else None)
        if space is not None and resolve_space(space).fingerprint() != evaluator.space.fingerprint():
            raise RunDirError(f"run directory {run_path} holds space {evaluator.space.name!r}, not {space!r}")
    reference = {}
    for pair in references:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--reference must look like METRIC=VALUE, got {pair!r}")
        reference[canonical_metric(key)] = parse_number(value, f"--reference {key}", key)
    config = config_from_options(SearchConfig, settings, "nas search", options=parse_key_values(options),
                                 reference=reference)
    if finetune_steps < 1:  # refused even without --finetune-top: a typo there should not pass silently
        raise ConfigError(f"--finetune-steps must be >= 1, got {finetune_steps}")
    if finetune_top is not None:
        from nas.search.finetune_shortlist import check_shortlist
        from nas.search.loop import default_objectives
        from nas.search.objectives import parse_objective

        check_shortlist(finetune_top, finetune_steps, family=evaluator.network.family,
                        objective=parse_objective(default_objectives(evaluator, config.objectives)[0]).metric)
    result = run_search(evaluator, run_path, config, progress=not quiet)
    best = result.best()
    if result.constraints and not result.feasible:
        click.echo(f"warning: none of the {len(result.records)} trials satisfies "
                   f"{', '.join(map(str, result.constraints))}; relax the budgets or search longer", err=True)
    summary = {"trials": len(result.records), "feasible": len(result.feasible), "front": len(result.front()),
               "hypervolume": result.hypervolume(), "evaluated_here": result.evaluated,
               "duplicates": result.duplicates,
               "best": None if best is None else {"arch": best.arch, **best.metrics}}
    if isinstance(evaluator, SupernetEvaluator) and is_mixture_run(evaluator) and cost_repeats:
        summary["scoring_cost"] = report_scoring_cost(evaluator, result, run_path, config.study, cost_repeats)
    if finetune_top is not None:
        summary["finetuned"] = report_finetuned(evaluator, result, run_path, config.study, finetune_top,
                                                finetune_steps, progress=not quiet)
    click.echo(json.dumps(summary))


def is_mixture_run(evaluator) -> bool:
    """A run trained as a mixture (mos-*, few-shot, mixture): only its searches time and report the scoring cost;
    a plain supernet run has no mixture to compare with."""
    from nas.search.scoring_network import family

    return family(evaluator.trained_supernet) != "single"


def report_scoring_cost(evaluator, result, run_path, study: str, repeats: int) -> dict:
    """Time the scoring network and the plain supernet on the search's first archs (one chunk); write
    RUN/search-cost.STUDY.json and print one line."""
    from nas.atomic_write import write_json_atomically
    from nas.search.scoring_network import cost_line, sample_archs

    archs = sample_archs(evaluator.space, [evaluator.space.from_string(r.arch) for r in result.records],
                         evaluator.chunk)
    report = evaluator.scoring_cost(archs, repeats=repeats)
    write_json_atomically(Path(run_path) / f"search-cost.{study}.json", report, indent=2)
    click.echo(cost_line(report), err=True)
    return report


def report_finetuned(evaluator, result, run_path, study: str, top: int, steps: int, *, progress: bool) -> dict | None:
    """The shortlist fine-tuned and re-ranked (`nas.search.finetune_shortlist`), written to
    RUN/finetuned.STUDY.json; the summary line gets its pick."""
    from nas.atomic_write import write_json_atomically
    from nas.search.finetune_shortlist import finetune_shortlist

    report = finetune_shortlist(run_path, result, evaluator.space, top=top, steps=steps, split=evaluator.split,
                                limit=evaluator.limit, progress=progress)
    if report is None:
        return None
    write_json_atomically(Path(run_path) / f"finetuned.{study}.json", report, indent=2)
    return {"best": report["best"], "changed_pick": report["changed_pick"], "shortlist": len(report["shortlist"])}


@click.command(help="Plot a search: accuracy vs each cost metric (front, exported archs), hypervolume per trial.")
@click.option("--run", "run_path", required=True)
@click.option("--storage", default=None, help="SQLAlchemy URL or journal file [default: RUN/search.journal]")
@click.option("--study", default="search", show_default=True)
@click.option("--out", "out_dir", default=None, help="[default: RUN/plots]")
@_one_line_errors
def plot(run_path, storage, study, out_dir):
    from nas.errors import RunDirError
    from nas.search.plot import plot_search
    from nas.search.study import load_front_inputs, search_constraints, search_split

    records, objectives, reference = load_front_inputs(run_path, storage, study)
    if not records:
        raise RunDirError(f"study {study!r} of {run_path} holds no finished trial, so there is nothing to plot; "
                          "run (or resume) nas search first")
    constraints = search_constraints(run_path, storage, study)
    split = search_split(run_path, storage, study)
    for path in plot_search(Path(run_path), records, objectives, reference, out_dir, constraints, split):
        click.echo(str(path))
