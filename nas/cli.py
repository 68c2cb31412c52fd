"""The `nas` command line. Errors a user can fix print one line and exit with status 2."""
from __future__ import annotations

import functools
import json
import os
import sys

import click

from nas.audit_config import AuditConfig
from nas.config_cli import click_options, config_from_options
from nas.errors import ConfigError, WeftError
from nas.interrupt import Terminated, exit_code, sigterm_as_interrupt
from nas.key_values import parse_key_values
from nas.train.config import TrainConfig


def _one_line_errors(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except WeftError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except KeyboardInterrupt as interrupt:
            how = "terminated (SIGTERM)" if isinstance(interrupt, Terminated) else "interrupted"
            click.echo(f"{how}; run the same command again to resume (trainings, searches, audits and "
                       "collections go on from what they saved)", err=True)
            sys.exit(exit_code(interrupt))
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as error:
            click.echo(f"error: {_misplaced_path(error)}", err=True)
            sys.exit(2)
        except MemoryError as error:  # numpy names the size it could not allocate
            click.echo(f"error: out of memory ({str(error) or 'an allocation failed'}); ask for a smaller model, batch "
                       "or input", err=True)
            sys.exit(2)
        except Exception as error:
            if type(error).__name__ in ("JaxRuntimeError", "XlaRuntimeError") and "RESOURCE_EXHAUSTED" in str(error):
                click.echo(f"error: the device ran out of memory ({str(error).splitlines()[0][:200]}); ask for a "
                           "smaller model, batch or input", err=True)
                sys.exit(2)
            raise
    return wrapper


def _misplaced_path(error: OSError) -> str:
    """A path of the wrong kind (a file where a directory belongs, or the reverse), which the user can move."""
    path = error.filename
    if path is None:  # raised without naming a path: its own words are all there is
        return f"{error.strerror or error}; a path of the wrong kind (a file where a directory belongs, or the " \
               "reverse): move it away or name another path"
    if isinstance(error, IsADirectoryError):
        return f"{path} is a directory where a file belongs; move it away or name a file"
    if isinstance(error, NotADirectoryError):
        return f"{path}: part of this path is a file where a directory belongs; move it away or name another path"
    if path is not None and os.path.isdir(path):
        return f"{path} already exists; name a new path"
    return f"{path} already exists as a file where a directory (or a new file) belongs; move it away or name " \
           "another path"


class _LazyGroup(click.Group):
    """Commands that live in their own module (`nas.hardware.cli`, `nas.search.cli`), imported on use.

    Keeps `nas --help` and every other command free of those modules' imports.
    """

    lazy_commands: dict[str, str] = {}

    def main(self, *args, **kwargs):
        """Click's own usage errors (a value of the wrong type, a missing or unknown flag) as one line, as every
        other error: click prints its usage block above them."""
        if kwargs.get("standalone_mode", True) is False:  # the caller handles click's exceptions itself
            return super().main(*args, **kwargs)
        try:
            # A scheduler's SIGTERM (preemption, a time limit) stops a run as Ctrl-C does: a training saves its step.
            with sigterm_as_interrupt():
                result = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.UsageError as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # `nas` or `nas latency` alone: the help it asks for
                error.show()
                sys.exit(error.exit_code)
            where = f" (see {error.ctx.command_path} --help)" if error.ctx is not None else ""
            click.echo(f"error: {error.format_message()}{where}", err=True)
            sys.exit(2)
        except click.Abort as error:
            if isinstance(error.__cause__, KeyboardInterrupt):  # outside a command (click's parsing): no run to resume
                sys.exit(exit_code(error.__cause__))
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        sys.exit(result if isinstance(result, int) else 0)

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            import importlib

            module_name, _, attribute = self.lazy_commands[name].partition(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, help="weft: weight-sharing neural architecture search on JAX.")
def main():
    pass


# name -> "module:attribute" of a click command defined outside this file.
_LazyGroup.lazy_commands.update({"search": "nas.search.cli:search", "plot": "nas.search.cli:plot",
                                  "latency": "nas.hardware.cli:latency", "cost": "nas.hardware.cli:cost",
                                  "search-differentiable": "nas.differentiable.cli:search_differentiable"})


@main.command(help="Train a supernet into a run directory (re-run the same command to resume).")
@click.option("--run", "run_path", required=True, help="run directory, e.g. runs/NAME")
@click_options(TrainConfig)
@click.option("--num-processes", type=int, default=1, show_default=True,
              help="train with this many local processes (multi-process JAX, each with --devices devices); "
                   "on several hosts set WEFT_COORDINATOR, WEFT_NUM_PROCESSES and WEFT_PROCESS_ID instead")
@click.option("--base", default=None,
              help="space lora: the trained transformer_lm run whose frozen subnet the adapters wrap (the space "
                   "option base)")
@click.option("--option", "options", multiple=True, help="space option key=value (JSON value), repeatable")
@click.option("--quiet", is_flag=True, help="no progress bar")
@_one_line_errors
def train(run_path, options, quiet, num_processes, base, **fields):
    from nas.train.distributed import join, member_from_environment

    space_options = parse_key_values(options)
    if base is not None:
        space_options["base"] = base
    config = config_from_options(TrainConfig, fields, "nas train", space_options=space_options)
    member = member_from_environment()
    if num_processes < 1 or (member and num_processes not in (1, member.num_processes)):
        allowed = f"1 or {member.num_processes} (WEFT_NUM_PROCESSES)" if member else "an integer >= 1"
        raise ConfigError(f"--num-processes must be {allowed}, got {num_processes}")
    if member is None and num_processes > 1:
        from pathlib import Path

        from nas.train.launch import launch

        code = launch(config, run_path, num_processes, progress=not quiet)
        if code:
            sys.exit(code)
        summary = json.loads((Path(run_path) / "summary.json").read_text())
    else:
        if member is not None:
            join(member)  # one process of a multi-host run: before anything starts a JAX backend
        from nas.train.loop import train as run_training

        summary = run_training(config, run_path, progress=not quiet)
        if summary is None:
            return  # not process 0: it alone evaluates and reports
    click.echo(json.dumps({k: _headline(v) for k, v in summary.items()}))


def _headline(result):
    """An endpoint's test accuracy (and bits per character, for text); other summary values as they are."""
    if not isinstance(result, dict):
        return result
    if "test_bits_per_char" in result:
        return {"test_bits_per_char": result["test_bits_per_char"], "test_accuracy": result["test_accuracy"]}
    return result.get("test_accuracy")


EXPERIMENTS = ("distillation", "sortednet", "ranking", "search_budgets", "differentiable_search", "mixtures",
               "ground_truth", "supernet_ranking", "searchers", "adapters", "gnn_controllers", "latency_retest")


@main.command(help="Run an experiment (experiments/NAME.py) into a run directory; re-running resumes.")
@click.argument("name", type=click.Choice(EXPERIMENTS))
@click.option("--run", "run_path", required=True)
@click.option("--option", "options", multiple=True, help="experiment config key=value (JSON value), repeatable")
@click.option("--quiet", is_flag=True)
@_one_line_errors
def experiment(name, run_path, options, quiet):
    import importlib
    from pathlib import Path

    from nas.config import from_dict

    module = importlib.import_module(f"experiments.{name}")
    config = from_dict(module.Config, parse_key_values(options), f"experiment {name}")
    run_dir = Path(run_path)
    if (run_dir / "config.json").is_file():  # an experiment's files would mix with the run's, and be listed as its
        raise ConfigError(f"{run_dir} is a run of nas train (it holds config.json); allowed: a directory of its own "
                          "for the experiment (new, or one it wrote before)")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        results = module.run(config, run_dir, progress=not quiet)
    except WeftError:
        if created and not any(run_dir.iterdir()):  # refused before it wrote anything: leave no empty directory
            run_dir.rmdir()
        raise
    # One line: where the results are and the top-level figures; the tables and per-arch lists stay in the
    # run directory's files (every experiment writes results.json) rather than flooding the terminal.
    written = sorted(path.name for path in run_dir.iterdir()
                     if path.is_file() and path.suffix in (".json", ".md", ".png") and not path.name.startswith("."))
    click.echo(json.dumps({"run": str(run_dir), "wrote": written,
                           **{k: v for k, v in results.items() if not isinstance(v, (list, dict))}}, default=float))


@main.command(help="Export subnets of a trained run as standalone model directories: given archs, or the "
                   "winners of its search (--front, --top K, --budget).")
@click.option("--run", "run_path", required=True)
@click.option("--arch", "arch_specs", multiple=True,
              help="largest, smallest, middle (every decision at its middle value: Shears' heuristic), a JSON "
                   "object or a .json file; repeat to export several")
@click.option("--front", is_flag=True, help="every member of the search's feasible Pareto front")
@click.option("--top", type=int, default=None, help="the K feasible trials best in the first objective")
@click.option("--budget", "budgets", multiple=True,
              help="the best feasible trial within METRIC<=VALUE (5ms means latency<=5ms); repeatable")
@click.option("--study", default="search", show_default=True, help="with --front/--top/--budget")
@click.option("--storage", default=None, help="with --front/--top/--budget [default: RUN/search.journal]")
@click.option("--out", "out_dir", default=None, help="default: RUN/exports/<arch> (with one --arch only)")
@click.option("--format", "formats", multiple=True, type=click.Choice(["stablehlo", "onnx"]),
              help="model.stablehlo is always written; onnx adds model.onnx, checked in onnxruntime against "
                   "jax on the test split (needs pip install 'weft[onnx]'); repeatable")
@_one_line_errors
def export(run_path, arch_specs, front, top, budgets, study, storage, out_dir, formats):
    from nas.export import export_subnets, not_yet_exported, select_from_search

    modes = sum([bool(arch_specs), front, top is not None, bool(budgets)])
    if modes != 1:
        raise ConfigError("give exactly one of --arch, --front, --top K or --budget")
    if not arch_specs:
        chosen = select_from_search(run_path, front=front, top=top, budgets=budgets, study=study, storage=storage)
        arch_specs = not_yet_exported(run_path, chosen)
        for arch in sorted(set(chosen) - set(arch_specs)):
            click.echo(f"already exported: {arch}")
        if not arch_specs:
            return
    export_subnets(run_path, list(arch_specs), out_dir, formats=tuple(dict.fromkeys(("stablehlo", *formats))))


@main.command("export-onnx", help="Add model.onnx to existing export directories: the standalone model lowered "
                                   "to ONNX, checked in onnxruntime against jax on the test split of its data, "
                                   "the check recorded in report.json (needs pip install 'weft[onnx]').")
@click.argument("export_dirs", nargs=-1, required=True)
@_one_line_errors
def export_onnx(export_dirs):
    from nas.export import add_onnx

    for export_dir in export_dirs:
        add_onnx(export_dir)


@main.command("eval-export", help="Reload exports without the supernet and report their test scores "
                                   "(accuracy; bits/char and next-byte accuracy for a language model).")
@click.argument("export_dirs", nargs=-1, required=True)
@click.option("--stablehlo", is_flag=True, help="run the serialised StableHLO artifact instead of the Flax model")
@_one_line_errors
def eval_export(export_dirs, stablehlo):
    from pathlib import Path

    from nas.data_identity import differing_splits, split_fingerprints
    from nas.export import (check_code_unchanged, export_info, load_export, raw_stablehlo_forward, score_split,
                            training_data)

    for export_dir in export_dirs:
        directory = Path(export_dir)
        # The artifact alone needs no code of the space; the Flax model is rebuilt from it, so checked against it.
        exported = None if stablehlo else load_export(directory)
        info = export_info(directory) if exported is None else exported.info
        # The test split of the data the subnet was trained on (Fashion-MNIST, the fortunes, or synthetic in tests).
        train_config, dataset = training_data(directory, info)
        if exported is None:
            forward = raw_stablehlo_forward(directory, info)
        else:
            unchecked = check_code_unchanged(directory, exported, dataset.test.inputs[:32])
            if unchecked is not None:
                click.echo(f"note: {export_dir}: the rebuilt model was not checked against its exported graph "
                           f"({unchecked})", err=True)
            forward = exported.logits
        scores = score_split(forward, dataset.test)
        # Scored on the export's own test split? Unknown (None) for an export from before the hashes were kept.
        same = None if not isinstance(info.get("data_fingerprints"), dict) else \
            not differing_splits(info["data_fingerprints"], split_fingerprints(dataset, ("test",)))
        if same is False:
            click.echo(f"warning: {export_dir}'s test split differs from the one data {train_config.data!r} "
                       "loads now: these scores are of other examples than its report.json's", err=True)
        click.echo(json.dumps({"export": str(export_dir),
                               "space": info.get("space") or info.get("space_ref") or info["train_config"]["space"],
                               "arch": info.get("arch_string") or info["arch"], "data": train_config.data,
                               "same_test_data": same,
                               **{f"test_{metric}": value for metric, value in sorted(scores.items())}}))


@main.command(help="Should you trust this supernet's ranking? Trains stratified archs of the run's space alone "
                   "(several seeds, resumable, shared by concurrent workers), scores them with the supernet and "
                   "reports Kendall tau with its interval, the ground truth's reliability, top-5 recall, budget "
                   "regret, a scatter PNG and one verdict line (RUN/audit/).")
@click.option("--run", "run_path", required=True, help="a finished `nas train` run")
@click_options(AuditConfig)
@click.option("--quiet", is_flag=True)
@_one_line_errors
def audit(run_path, quiet, **options):
    from nas.audit import audit as run_audit, summary_line

    result = run_audit(run_path, config_from_options(AuditConfig, options, "nas audit"), progress=not quiet)
    click.echo(f"verdict: {result['verdict']}", err=True)
    click.echo(summary_line(result))


@main.command(help="List the shipped spaces (one line each), or describe one: the bounds of its options, and "
                   "every decision with its type, values and condition.")
@click.option("--space", default=None, help="a shipped space name or package.module:attr")
@_one_line_errors
def spaces(space):
    from nas.definition import get_definition
    from search_spaces import REGISTRY

    for name in [space] if space else sorted(REGISTRY):
        definition = get_definition(name)
        try:
            decisions = definition.make_space(**definition.default_options)
        except WeftError as error:
            unset = sorted(key for key, value in definition.default_options.items() if value is None)
            if not unset:  # a malformed space: its own error
                raise
            if space:  # e.g. lora's decisions come from a trained base, which nas train --base names
                raise ConfigError(f"space {name!r} is built from options it has no default for ({', '.join(unset)}), "
                                  f"so nas spaces cannot describe it alone ({error})") from None
            click.echo(f"{name}: built from options it has no default for ({', '.join(unset)}; {error})")
            continue
        click.echo(f"{name}: {decisions.num_decisions} decisions, {decisions.size():.3g} archs, "
                   f"options {json.dumps(definition.default_options, default=list)}")
        if space:
            if definition.option_bounds:
                click.echo("option bounds: " + ", ".join(f"{key} {bounds.describe()}"
                                                        for key, bounds in definition.option_bounds.items()))
            for line in decision_lines(decisions):
                click.echo(line)


def decision_lines(space) -> list[str]:
    """One line per decision: name, type, values and condition, in columns (`nas spaces --space S`)."""
    rows = [(d.name, d.type_name, _values(d.values), _condition(d)) for d in space.decisions]
    name_width, type_width = (max(len(row[i]) for row in rows) for i in (0, 1))
    return [f"  {name:<{name_width}}  {kind:<{type_width}}  {values}{'  ' + when if when else ''}"
            for name, kind, values, when in rows]


def _values(values: tuple, shown: int = 8) -> str:
    if len(values) <= shown:
        return "(" + ", ".join(map(repr, values)) + ")"
    return "(" + ", ".join(map(repr, values[:shown - 2])) + f", ..., {values[-1]!r}) [{len(values)} values]"


def _condition(decision) -> str:
    """`when depth>=2`, `= source` for a tie (which shares its source's condition), or ''."""
    parts = [f"= {decision.source}"] if decision.type_name == "tie" else []
    if decision.when is not None:
        parts.append(f"when {decision.when.source}>={decision.when.min_value}")
    return "  ".join(parts)


if __name__ == "__main__":
    main()
