"""The bad-input catalogue: every input a user can get wrong gets one clear line, and nothing on disk changes.

Command-line cases run `nas` (click's runner) in a workspace holding a copy of a tiny
trained run, after an optional `damage` to that copy: each must exit with status 2,
print exactly one `error:` line holding the given fragments (the field and what is
allowed), no traceback, and leave every file of the workspace as it was (bytes and
modification times; nothing created either). Python API cases must raise a WeftError
(what the CLI turns into that line) whose one-line message holds the fragments.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.config import from_dict
from nas.data import Split
from nas.errors import WeftError
from nas.space import AtLeast, Choice, IntRange, Sorted, Space, Tie
from nas.train.config import TrainConfig
from nas.train.loop import train

TINY = ("--space", "mlp", "--option", "max_width=32", "--option", "width_steps=4", "--data", "synthetic",
        "--limit-train", "256", "--batch-size", "32", "--warmup-steps", "1", "--quiet")
TINY_SPACE = ("--space", "mlp", "--option", "max_width=32", "--option", "width_steps=4")
SEARCH = ("search", "--run", "RUN", "--searcher", "random", "--trials", "4", "--quiet")


@dataclass(frozen=True)
class Cli:
    """`nas ARGS` (RUN: the run's copy, NEW: a path that must stay absent, WS: the workspace)."""
    args: tuple
    fragments: tuple
    damage: Callable[[Path], None] | None = None  # given the workspace, before the command
    env: dict | None = None


@dataclass(frozen=True)
class Api:
    call: Callable[[Path], object]  # given the workspace
    fragments: tuple


def edit_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(workspace: Path) -> None:
        path = workspace / "run" / "config.json"
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))
    return damage


def garble_checkpoints(workspace: Path) -> None:
    for path in (workspace / "run" / "checkpoints").rglob("*"):
        if path.is_file() and path.stat().st_size > 100:
            path.write_bytes(b"not a checkpoint")


def _export(workspace: Path) -> None:
    from nas.export import export_subnet

    export_subnet(workspace / "run", "smallest", workspace / "exp", progress=False)


def edit_export(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Export the smallest arch, then `change` its arch.json."""
    def damage(workspace: Path) -> None:
        _export(workspace)
        path = workspace / "exp" / "arch.json"
        info = json.loads(path.read_text())
        change(info)
        path.write_text(json.dumps(info))
    return damage


def replace_with_directory(relative: str) -> Callable[[Path], None]:
    def damage(workspace: Path) -> None:
        path = workspace / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        path.mkdir()
    return damage


def replace_with_file(relative: str) -> Callable[[Path], None]:
    def damage(workspace: Path) -> None:
        path = workspace / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        path.write_text("x")
    return damage


def fashion_mnist_without_test_examples(workspace: Path):
    """Four IDX files: 8 training images and labels, a test part of none."""
    from nas.data import load_fashion_mnist

    def idx(path: Path, array: np.ndarray) -> None:
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        path.write_bytes(header + array.astype(np.uint8).tobytes())
    root = workspace / "fashion-mnist"
    root.mkdir()
    idx(root / "train-images-idx3-ubyte", np.zeros((8, 28, 28)))
    idx(root / "train-labels-idx1-ubyte", np.arange(8) % 2)
    idx(root / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28)))
    idx(root / "t10k-labels-idx1-ubyte", np.zeros(0))
    return load_fashion_mnist(root, validation_size=2)


def fortunes_with(files: dict[str, bytes]) -> Callable[[Path], object]:
    def call(workspace: Path):
        from nas.text_data import read_fortunes

        root = workspace / "fortunes"
        for name, content in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
        return read_fortunes(root)
    return call


def write(name: str, text: str) -> Callable[[Path], None]:
    return lambda workspace: (workspace / name).write_text(text)


def predictor(name: str, change: Callable[[dict], None] = lambda document: None) -> Callable[[Path], None]:
    """A FLOPs-proxy latency predictor of the tiny space, saved as `nas latency fit` does, then `change`d."""
    def damage(workspace: Path) -> None:
        from nas.hardware.counters import load_counter
        from nas.hardware.flops_proxy import FlopsProxy
        from nas.hardware.predictor_io import save_predictor

        options = {"max_width": 32, "width_steps": 4}
        path = save_predictor(workspace / name, FlopsProxy(load_counter("mlp", options, (28, 28, 1))),
                              space_spec="mlp", options=options, input_shape=(28, 28, 1), batch=1,
                              device={"backend": "cpu"}, device_fingerprint="test")
        document = json.loads(path.read_text())
        change(document)
        path.write_text(json.dumps(document))
    return damage


def space_error(decisions: Callable[[], list]) -> Callable[[Path], object]:
    return lambda workspace: Space("bad", decisions())


def split_of(images, labels=None) -> Callable[[Path], object]:
    return lambda workspace: Split(np.asarray(images), np.zeros(len(images), np.int32) if labels is None else labels)


def tiny_space():
    from nas.definition import get_definition

    definition = get_definition("mlp")
    return definition.make_space(**definition.resolve_options({"max_width": 32, "width_steps": 4}, (28, 28, 1)))


def train_config(values: dict) -> Callable[[Path], object]:
    return lambda workspace: from_dict(TrainConfig, values, "train config")


def wrong_batch_to_the_step(workspace: Path):
    import optax

    from nas.definition import get_definition
    from nas.lowering import split
    from nas.train.step import init_train_state, make_train_step

    definition = get_definition("mlp")
    space, supernet = definition.build(definition.resolve_options({"max_width": 32, "width_steps": 4}, (28, 28, 1)))
    graphdef, params, stats = split(supernet)
    optimizer = optax.sgd(0.1)
    step = make_train_step(graphdef, space, optimizer, input_shape=(28, 28, 1))
    archs = np.stack([space.largest().to_vector()])
    step(init_train_state(params, stats, optimizer), np.zeros((4, 28, 28), np.float32), np.zeros(4, np.int32), archs)


def score_empty_split(workspace: Path):
    from nas.evaluate import accuracy

    accuracy(lambda x: np.zeros((len(x), 10), np.float32), np.zeros((0, 28, 28, 1), np.float32),
             np.zeros(0, np.int32))


CASES = {
    # --- spaces (shipped, custom, options) ---
    "unknown space": Cli(("train", "--space", "resnet", "--run", "NEW"), ("unknown space 'resnet'", "mlp, mobilenetv3")),
    "space module missing": Cli(("train", "--space", "no_such_module:SPACE", "--data", "synthetic", "--run", "NEW"),
                                ("cannot load space 'no_such_module:SPACE'", "No module named")),
    "space attribute not a definition": Cli(("train", "--space", "json:dumps", "--data", "synthetic", "--run", "NEW"),
                                            ("'json:dumps' is not a SearchSpaceDefinition",)),
    "unknown space option": Cli(("train", *TINY, "--option", "depth=3", "--run", "NEW"),
                                ("unknown option(s) depth", "allowed")),
    "space option of the wrong type": Cli(("train", *TINY, "--option", "max_width=wide", "--run", "NEW"),
                                          ("option 'max_width' must be int", "'wide'")),
    "space option below its bounds": Cli(("train", *TINY, "--option", "max_width=-3", "--run", "NEW"),
                                         ("space 'mlp'", "option max_width=-3", "allowed: >= 1")),
    "space option a layer would quietly round": Cli(
        ("train", "--space", "mobilenetv3", "--option", "width_mult=-1", "--data", "synthetic", "--run", "NEW"),
        ("option width_mult=-1", "allowed: > 0")),
    "space option: a tuple holding a zero": Cli(
        ("cost", "--space", "transformer_lm", "--option", "heads=[2,0]", "--arch", "largest"),
        ("option heads=(2, 0) holds 0", "each number >= 1")),
    "space option: a head of other classes than the data's": Cli(
        ("train", *TINY, "--option", "num_classes=5", "--run", "NEW"),
        ("gives 5 scores per example", "data 'synthetic' has 10 classes", "--option num_classes=10")),
    "space option: a vocabulary smaller than bytes": Cli(
        ("train", "--space", "transformer_lm", "--option", "vocab_size=100", "--option", "embed_dims=[16]",
         "--option", "depths=[1]", "--option", "heads=[1]", "--option", "ffn_widths=[16]", "--data", "fortunes",
         "--run", "NEW"),
        ("gives 100 scores per position", "256 classes", "--option vocab_size=256")),
    "space: duplicate decision names": Api(space_error(lambda: [IntRange("depth", 1, 3), Choice("depth", (1, 2))]),
                                           ("space 'bad'", "'depth'", "unique")),
    "space: empty choices": Api(space_error(lambda: [Choice("c", ())]), ("'c'", "non-empty")),
    "space: unsorted sorted widths": Api(space_error(lambda: [Sorted("w", widths=(128, 64))]),
                                         ("'w'", "strictly increasing positive ints")),
    "space: when on an unknown decision": Api(
        space_error(lambda: [IntRange("depth", 1, 3), Choice("c", (1,), when=AtLeast("nope", 1))]),
        ("'c'", "'nope'", "depth")),
    "space: tie to a tie": Api(
        space_error(lambda: [IntRange("depth", 1, 3), Tie("t", source="depth"), Tie("u", source="t")]), ("'u'", "is a tie")),
    # --- archs ---
    "arch missing a decision": Cli(("export", "--run", "RUN", "--arch", '{"depth": 1}'),
                                   ("decision 'width_0' is missing", "allowed")),
    "arch with an extra decision": Cli(("export", "--run", "RUN", "--arch", '{"depth": 1, "width_0": 8, "x": 1}'),
                                       ("unknown decision 'x'", "known decisions")),
    "arch value out of range": Cli(("export", "--run", "RUN", "--arch", '{"depth": 1, "width_0": 100}'),
                                   ("'width_0'", "100", "allowed values")),
    "arch that does not parse": Cli(("export", "--run", "RUN", "--arch", "notjson{"),
                                    ("--arch must be largest, smallest, middle, a JSON object or a .json file",)),
    "arch file missing": Cli(("export", "--run", "RUN", "--arch", "WS/missing.json"),
                             ("--arch file '", "missing.json' not found", "allowed: largest, smallest")),
    "arch file missing (cost)": Cli(("cost", *TINY_SPACE, "--arch", "missing.json"),
                                    ("--arch file 'missing.json' not found",)),
    "standalone arch outside the space": Cli(
        ("train", *TINY, "--sampling", "standalone", "--arch", "depth=9", "--run", "NEW"),
        ("decision 'depth': value 9", "allowed values: (1, 2, 3, 4, 5)")),
    "malformed arch string": Cli(("cost", *TINY_SPACE, "--arch", "depth=1;"), ("malformed arch string",)),
    "arch file of an export built with other space options": Cli(
        ("cost", "--space", "mlp", "--arch", "WS/exp/arch.json"),
        ("value 8 is not allowed", "exp/arch.json was exported from the space built with other options",
         "--option max_width=32", "--option width_steps=4"), damage=_export),
    "arch string joined by commas": Cli(("cost", *TINY_SPACE, "--arch", "depth=1,width_0=8"),
                                        ("the value of 'depth' reads '1,width_0=8', which holds another pair",
                                         "pairs are joined by ';'")),
    "arch vector index out of range": Api(lambda workspace: tiny_space().from_vector([9] + [0] * 5),
                                          ("'depth'", "index 9", "0..4")),
    "arch JSON of another space version": Api(
        lambda workspace: _versioned(tiny_space(), 2).from_json(tiny_space().smallest().to_json()),
        ("'mlp' v1", "'mlp' v2")),
    # --- data ---
    "data the space cannot read": Cli(("train", *TINY, "--data", "fortunes", "--run", "NEW"),
                                      ("reads images", "use --data fashion-mnist or synthetic")),
    "dataset not installed": Cli(("train", "--space", "mlp", "--steps", "1", "--quiet", "--run", "NEW"),
                                 ("apt-get install dataset-fashion-mnist",), env={"WEFT_FASHION_MNIST": "/nonexistent"}),
    "batch larger than the data": Cli(("train", *TINY, "--batch-size", "1000", "--run", "NEW"),
                                      ("batch_size=1000 is larger than the split (256 examples)",)),
    "batch of the wrong shape": Api(wrong_batch_to_the_step, ("images must have shape (N, 28, 28, 1)", "(4, 28, 28)")),
    "images of the wrong dtype": Api(split_of(np.zeros((4, 28, 28, 1), np.float64)),
                                     ("images must be float32", "float64")),
    "labels of the wrong shape": Api(split_of(np.zeros((4, 28, 28, 1), np.float32), np.zeros((4, 2), np.int32)),
                                     ("labels must have shape (4,)",)),
    "images holding NaN": Api(split_of(np.where(np.arange(4)[:, None, None, None] == 2, np.nan,
                                                np.zeros((4, 28, 28, 1))).astype(np.float32)),
                              ("images must be finite", "1 example(s) hold NaN or inf, the first at index 2")),
    "scoring an empty split": Api(score_empty_split, ("empty split (0 examples)", "at least one example")),
    # --- configs ---
    "steps of zero": Cli(("train", *TINY, "--steps", "0", "--run", "NEW"), ("steps must be > 0, got 0",)),
    "negative learning rate": Cli(("train", *TINY, "--lr", "-1", "--run", "NEW"), ("learning_rate must be > 0",)),
    "limit_train of zero": Cli(("train", *TINY, "--limit-train", "0", "--run", "NEW"),
                               ("limit_train must be >= 1 (or null for all), got 0",)),
    "learning rate NaN": Cli(("train", *TINY, "--lr", "nan", "--run", "NEW"),
                             ("learning_rate must be a finite number, got nan",)),
    "negative weight decay": Cli(("train", *TINY, "--weight-decay", "-1", "--run", "NEW"),
                                 ("weight_decay must be >= 0, got -1.0",)),
    "gradient clip of zero": Cli(("train", *TINY, "--grad-clip", "0", "--run", "NEW"), ("grad_clip must be > 0",)),
    "more devices than there are": Cli(("train", *TINY, "--devices", "64", "--run", "NEW"),
                                       ("data parallelism over 64 devices", "available")),
    "option without a value": Cli(("train", *TINY, "--option", "novalue", "--run", "NEW"), ("key=value",)),
    "unknown supernet kind": Cli(("train", *TINY, "--supernet", "moe", "--run", "NEW"),
                                 ("supernet must be one of single, mos-layer, mos-neuron, few-shot", "'moe'")),
    "experts for a single supernet": Cli(("train", *TINY, "--experts", "3", "--run", "NEW"),
                                         ("experts must be >= 1 and needs supernet mos-layer",)),
    "few-shot without a split decision": Cli(("train", *TINY, "--supernet", "few-shot", "--run", "NEW"),
                                             ("few-shot' needs split_decision",)),
    "few-shot split on an unknown decision": Cli(
        ("train", *TINY, "--supernet", "few-shot", "--split-decision", "kernel", "--run", "NEW"),
        ("split decision 'kernel'", "allowed: depth, width_0")),
    "few-shot with more supernets than choices": Cli(
        ("train", *TINY, "--supernet", "few-shot", "--split-decision", "depth", "--experts", "9", "--run", "NEW"),
        ("number of supernets must be 1..5, got 9",)),
    "mixture of one supernet": Cli(("train", *TINY, "--supernet", "mixture", "--experts", "1", "--run", "NEW"),
                                   ("supernet 'routed' needs experts >= 2", "got 1")),
    "mixture of too many supernets": Cli(("train", *TINY, "--supernet", "mixture", "--experts", "17", "--run", "NEW"),
                                         ("learned assignment needs 2..16 supernets, got 17",)),
    "mixture with a split decision": Cli(
        ("train", *TINY, "--supernet", "mixture", "--split-decision", "depth", "--run", "NEW"),
        ("split_decision is only for it", "got supernet 'routed'")),
    "negative balance weight": Cli(("train", *TINY, "--supernet", "mixture", "--balance-weight", "-1", "--run", "NEW"),
                                   ("balance_weight must be >= 0", "got balance_weight -1.0")),
    "mixture with no sampled arch to route": Cli(
        ("train", *TINY, "--supernet", "mixture", "--num-random", "0", "--run", "NEW"),
        ("learns its router from the sampled archs", "num_random 0 samples none")),
    "balance weight without a mixture": Cli(("train", *TINY, "--balance-weight", "2", "--run", "NEW"),
                                            ("is only for supernet 'routed'", "with supernet 'single'")),
    "experiment: a count below its bounds": Cli(("experiment", "ranking", "--run", "NEW", "--option", "archs=2"),
                                                ("experiment ranking: option archs=2 is out of range", "allowed: >= 3")),
    "search: fine-tune steps below 1 without a shortlist": Cli(("search", "--run", "RUN", "--finetune-steps", "0"),
                                                               ("--finetune-steps must be >= 1, got 0",)),
    "latency fit: a negative seed": Cli(("latency", "fit", "--run", "WS/nowhere", "--seed", "-1"),
                                       ("--seed must be >= 0, got -1",)),
    "experiment: unknown config key": Cli(("experiment", "distillation", "--run", "NEW", "--option", "nokey=1"),
                                          ("unknown key(s) nokey", "allowed: data")),
    "experiment: config value NaN": Cli(
        ("experiment", "distillation", "--run", "NEW", "--option", "learning_rate=NaN"),
        ("learning_rate must be a finite number, got nan",)),
    "experiment: config value of the wrong type": Cli(
        ("experiment", "distillation", "--run", "NEW", "--option", "steps=abc"), ("steps must be int, got 'abc'",)),
    "train config: unknown key": Api(train_config({"stpes": 3}), ("unknown key(s) stpes", "allowed: space")),
    "train config: wrong type": Api(train_config({"batch_size": "64"}), ("batch_size must be int", "'64'")),
    "train config: unknown divergence policy": Api(train_config({"on_nonfinite": "ignore"}),
                                                   ("on_nonfinite must be one of stop, skip", "'ignore'")),
    "train config built in Python with unknown data": Api(
        lambda workspace: train(TrainConfig(space="mlp", data="foo"), workspace / "new", progress=False),
        ("data must be one of fashion-mnist, synthetic, fortunes", "'foo'")),
    "train config: empty validation split": Api(train_config({"validation_size": 0}),
                                                ("validation_size must be >= 1",)),
    "run config not JSON": Cli(("export", "--run", "RUN", "--arch", "largest"), ("config.json is not valid JSON",),
                               damage=write("run/config.json", "{not json")),
    "run config with an unknown key": Cli(("export", "--run", "RUN", "--arch", "largest"),
                                          ("config.json: unknown key(s) bogus", "allowed: space"),
                                          damage=edit_config(lambda r: r["config"].update(bogus=1))),
    "run config with a wrong type": Cli(("export", "--run", "RUN", "--arch", "largest"),
                                        ("config.json: steps must be int, got 'many'",),
                                        damage=edit_config(lambda r: r["config"].update(steps="many"))),
    # --- run directories and checkpoints ---
    "not a run directory": Cli(("export", "--run", "NEW", "--arch", "largest"), ("not a run directory",)),
    "directory of other files": Cli(("train", *TINY, "--run", "WS/notes"), ("is not empty and holds no config.json",),
                                    damage=lambda ws: ((ws / "notes").mkdir(), (ws / "notes" / "a.txt").write_text("x"))),
    "resume with other settings": Cli(("train", *TINY, "--batch-size", "16", "--run", "RUN"),
                                      ("was started with batch_size=32", "this command has batch_size=16")),
    "resume on another version of the space": Cli(("train", *TINY, "--option", "max_width=64", "--run", "RUN"),
                                                  ("holds space 'mlp' with other options",
                                                   "max_width=32 there, 64 here", "choose another --run")),
    "resume with fewer steps than trained": Cli(("train", *TINY, "--steps", "2", "--run", "RUN"),
                                                ("has trained 3 steps", "--steps >= 3")),
    "run config naming no space": Cli(("train", *TINY, "--steps", "3", "--run", "RUN"),
                                      ("is not a run's record (no space named in it)",), damage=write("run/config.json", "{}")),
    "run config not an object": Cli(("export", "--run", "RUN", "--arch", "largest"),
                                    ("config.json is not a run's record", "it holds a list"),
                                    damage=write("run/config.json", "[]")),
    "arch file that is a directory": Cli(("export", "--run", "RUN", "--arch", "WS/d.json"),
                                         ("--arch file", "d.json' is a directory",),
                                         damage=lambda ws: (ws / "d.json").mkdir()),
    "damaged audit plan": Cli(("audit", "--run", "RUN", "--archs", "4", "--steps", "2", "--bands", "2"),
                              ("plan.json is damaged (not a JSON object)", "restore it, or use another directory"),
                              damage=lambda ws: ((ws / "run" / "audit").mkdir(),
                                                 (ws / "run" / "audit" / "plan.json").write_text("{cut"))),
    "space option its layers cannot build": Cli(("cost", "--space", "mobilenetv3", "--option", "kernels=[4]", "--arch",
                                                  "largest"),
                                                 ("space 'mobilenetv3' cannot be built with these options",
                                                  "kernels=(4,)", "kernel sizes must be odd")),
    "export the same arch twice": Cli(("export", "--run", "RUN", "--arch", "largest", "--arch", "largest"),
                                      ("--arch names the same arch more than once (largest)",)),
    "export into a file": Cli(("export", "--run", "RUN", "--arch", "largest", "--out", "WS/afile"),
                              ("export directory", "afile is a file",), damage=write("afile", "x")),
    "searcher option of the wrong type": Cli((*SEARCH[:3], "--searcher", "rl", "--trials", "4", "--quiet",
                                              "--option", "learning_rate=abc", "--option", "targets=[1000]"),
                                             ("searcher 'rl': option learning_rate must be a number, got 'abc'",)),
    "in-memory search storage": Cli((*SEARCH, "--storage", "sqlite://"), ("is an in-memory database",)),
    "an SQLite file given as a journal path": Cli((*SEARCH, "--storage", "WS/trials.db"),
                                                  ("is not an Optuna journal (an SQLite database? give sqlite:///",),
                                                  damage=lambda ws: (ws / "trials.db").write_bytes(b"SQLite format 3\x00")),
    "search a run of another space": Cli((*SEARCH, "--space", "nb201"), ("holds space 'mlp', not 'nb201'",)),
    "search a single run with --supernet mos": Cli((*SEARCH, "--supernet", "mos"),
                                                   ("trained with --supernet single, so allowed: auto, single",)),
    "checkpoint from another space version": Cli(
        ("export", "--run", "RUN", "--arch", "largest"), ("trained on another version of space 'mlp'",),
        damage=edit_config(lambda r: r.update(space_fingerprint="0123456789abcdef"))),
    "corrupted checkpoint (export)": Cli(("export", "--run", "RUN", "--arch", "largest"),
                                         ("checkpoints/3 cannot be read",), damage=garble_checkpoints),
    "corrupted checkpoint (resume)": Cli(("train", *TINY, "--steps", "5", "--run", "RUN"),
                                         ("checkpoints/3 cannot be read",), damage=garble_checkpoints),
    "no checkpoint": Cli(("export", "--run", "RUN", "--arch", "largest"), ("no checkpoint in", "train the run first"),
                         damage=lambda ws: shutil.rmtree(ws / "run" / "checkpoints")),
    "not an export": Cli(("eval-export", "WS/run"), ("is not a complete export (no arch.json)",)),
    "damaged StableHLO export": Cli(("eval-export", "WS/exp", "--stablehlo"),
                                    ("model.stablehlo is not what this export wrote", "replaced or damaged",
                                     "export the arch again"),
                                    damage=lambda ws: (_export(ws), (ws / "exp" / "model.stablehlo").write_bytes(b"junk"))),
    # --- latency predictors ---
    "predictor file missing": Cli(("cost", *TINY_SPACE, "--arch", "largest", "--predictor", "WS/none.json"),
                                  ("does not exist", "allowed: a file written by nas latency fit")),
    "predictor file of something else": Cli(("cost", *TINY_SPACE, "--arch", "largest", "--predictor", "WS/p.json"),
                                            ("is not a weft latency predictor",), damage=write("p.json", "{}")),
    "predictor for another space version": Cli(
        ("cost", *TINY_SPACE, "--arch", "largest", "--predictor", "WS/p.json"),
        ("fitted for space 'mlp' v7", "allowed: a predictor fitted on this space version"),
        damage=predictor("p.json", lambda d: d["space"].update(version=7, fingerprint="0123456789abcdef"))),
    "predictor for other inputs": Cli(
        ("cost", *TINY_SPACE, "--arch", "largest", "--input-shape", "32,32,3", "--predictor", "WS/p.json"),
        ("fitted for", "allowed: the same --input-shape"), damage=predictor("p.json")),
    "predictor with a damaged payload": Cli(
        ("cost", *TINY_SPACE, "--arch", "largest", "--predictor", "WS/p.json"), ("payload cannot be read",),
        damage=predictor("p.json", lambda d: d.update(payload={}))),
    # --- searches: storage, objectives, budgets ---
    "storage URL malformed": Cli((*SEARCH, "--storage", "postgresql://user@localhost:notaport/db"),
                                 ("is malformed", "allowed: a journal file path, or an SQLAlchemy URL")),
    "storage unreachable": Cli((*SEARCH, "--storage", "sqlite:////nonexistent-weft-dir/trials.db"),
                               ("cannot reach storage",)),
    "budget nothing satisfies": Cli((*SEARCH, "--constraint", "params<=5"),
                                    ("no arch satisfies params<=5", "allowed: a budget >= ")),
    "budget that does not parse": Cli((*SEARCH, "--constraint", "params<5"), ("must look like METRIC<=VALUE",)),
    "time unit on a multiply-add budget": Cli((*SEARCH, "--constraint", "macs<=2ms"),
                                              ("unit 'ms'", "metric 'macs'", "a plain number or a k, M or G suffix")),
    "count suffix on a latency budget": Cli((*SEARCH, "--constraint", "latency<=5k"),
                                            ("unit 'k'", "metric 'latency'", "ms, us or s")),
    "time unit on a hypervolume reference": Cli((*SEARCH, "--reference", "params=3s"),
                                                ("--reference params", "unit 's'", "k, M or G")),
    "objective on an unknown metric": Cli((*SEARCH, "--objectives", "accuracy:max,latency:min"),
                                          ("unknown metric 'latency'", "allowed metrics: accuracy, macs, params")),
    "objective module missing": Cli(("search", "--run", "NEW", "--space", "mlp", "--objective", "no_such_module:fn"),
                                    ("cannot load objective 'no_such_module:fn'", "No module named",
                                     "looked on sys.path and in")),
    "objective function missing": Cli(("search", "--run", "NEW", "--space", "mlp", "--objective", "json:no_such_fn"),
                                      ("cannot load objective 'json:no_such_fn'", "has no attribute 'no_such_fn'")),
    "unknown searcher option": Cli(("search", "--run", "RUN", "--searcher", "evolution", "--trials", "4",
                                    "--option", "nokey=3", "--quiet"), ("unknown option(s) nokey", "allowed")),
    "plot of a run without a search": Cli(("plot", "--run", "RUN"), ("holds no search",)),
    "search worker name that is a path": Cli((*SEARCH, "--worker", "a/b"), ("--worker 'a/b' is not a name",
                                                                           "allowed: 1 to 100 characters")),
    "hypervolume reference on a metric no objective has": Cli(
        (*SEARCH, "--reference", "foo=3"), ("--reference names foo", "allowed: the objectives' metrics")),
    # --- files of the wrong kind or damaged inside a run, an export or a collection ---
    "finished run whose checkpoints were deleted": Cli(("train", *TINY, "--steps", "5", "--run", "RUN"),
                                                       ("finished its training", "holds no checkpoint",
                                                        "restore its checkpoints"),
                                                       damage=lambda ws: shutil.rmtree(ws / "run" / "checkpoints")),
    "run's checkpoints replaced by a file": Cli(("train", *TINY, "--steps", "5", "--run", "RUN"),
                                                ("checkpoints is a file", "move it away"),
                                                damage=replace_with_file("run/checkpoints")),
    "export's arch.json replaced by a directory": Cli(
        ("eval-export", "WS/exp"), ("arch.json is a directory", "allowed: the arch.json that nas export writes"),
        damage=lambda ws: (_export(ws), replace_with_directory("exp/arch.json")(ws))),
    "export's training settings of the wrong type": Cli(
        ("eval-export", "WS/exp"), ("train_config is a str", "allowed: an object"),
        damage=edit_export(lambda info: info.update(train_config="x"))),
    "export's training data of another kind than the model reads": Cli(
        ("eval-export", "WS/exp"), ("train_config names data 'fortunes', which holds tokens",
                                    "the exported model reads images"),
        damage=edit_export(lambda info: info["train_config"].update(data="fortunes"))),
    "export's preprocessing dividing by zero": Cli(
        ("eval-export", "WS/exp", "--stablehlo"), ("preprocessing record", "'std': float > 0"),
        damage=edit_export(lambda info: info["preprocessing"].update(std=0.0))),
    "export's report not an object (export-onnx writes nothing)": Cli(
        ("export-onnx", "WS/exp"), ("report.json holds a JSON list, not an object",),
        damage=lambda ws: (_export(ws), (ws / "exp" / "report.json").write_text("[1]"))),
    "audit plan of the wrong type": Cli(("audit", "--run", "RUN", "--archs", "4", "--steps", "2", "--bands", "2"),
                                        ("plan.json is damaged (not a JSON object)",),
                                        damage=lambda ws: ((ws / "run" / "audit").mkdir(),
                                                           (ws / "run" / "audit" / "plan.json").write_text("[]"))),
    "predictor path that is a directory": Cli(("cost", *TINY_SPACE, "--arch", "largest", "--predictor", "WS/run"),
                                              ("is a directory", "allowed: a predictor file written by nas latency fit")),
    "arch file holding nothing": Cli(("cost", *TINY_SPACE, "--arch", "WS/a.json"), ("a.json holds nothing",),
                                     damage=write("a.json", "")),
    "a file where a new directory belongs": Cli(("latency", "collect", *TINY_SPACE, "--n", "2", "--no-layers",
                                                 "--quiet", "--run", "WS/a-file"),
                                                ("a-file already exists as a file where a directory",),
                                                damage=write("a-file", "x")),
    "latency collection into a training run": Cli(("latency", "collect", *TINY_SPACE, "--n", "2", "--quiet",
                                                   "--run", "RUN"),
                                                  ("is not empty and holds no collection.json",
                                                   "allowed: a new directory")),
    "latency fit weight decay NaN": Cli(("latency", "fit", "--run", "RUN", "--weight-decay", "nan"),
                                        ("--weight-decay must be a finite number >= 0, got nan",)),
    "latency retest against itself": Cli(("latency", "retest", "--run", "RUN", "--against", "RUN"),
                                         ("--against names", "itself")),
    "latency CSV that is a directory": Cli(("latency", "import", "--space", "mlp", "--csv", "WS/run", "--run", "NEW"),
                                           ("is a directory", "allowed: a CSV file")),
    "latency CSV that is no text": Cli(("latency", "import", "--space", "mlp", "--csv", "WS/l.csv", "--run", "NEW"),
                                       ("is not UTF-8 text",),
                                       damage=lambda ws: (ws / "l.csv").write_bytes(b"arch,latency_ms\n\xff\xfe,1\n")),
    "flag value of the wrong type (click's own check)": Cli(("train", "--space", "mlp", "--steps", "abc", "--run", "NEW"),
                                                            ("Invalid value for '--steps'", "train --help)")),
    "flag value outside its choices (click's own check)": Cli(("export", "--run", "RUN", "--arch", "largest",
                                                               "--format", "tflite"),
                                                              ("'tflite' is not one of 'stablehlo', 'onnx'",)),
    "unknown command": Cli(("nosuch",), ("No such command 'nosuch'",)),
    "IDX file of no examples": Api(fashion_mnist_without_test_examples,
                                   ("t10k-images-idx3-ubyte: holds no examples", "allowed: an IDX file of at least one")),
    "fortune corpus holding a binary file": Api(fortunes_with({"tips": b"a fortune\n%\n", "blob": b"\x7fELF\0\0\1"}),
                                                ("blob is not a fortune file", "NUL bytes")),
    "fortune corpus whose fortunes are in a sub-directory": Api(fortunes_with({"en/tips": b"a fortune\n%\n"}),
                                                                ("holds no fortunes", "point at one of en")),
    "space option the data decides, set otherwise": Cli(("cost", "--space", "mlp", "--option", "in_features=100",
                                                         "--arch", "largest"),
                                                        ("option in_features=100 does not fit the inputs of "
                                                         "shape (28, 28, 1)", "allowed: 784, or leave it out",
                                                         "--input-shape")),
    "experiment into a training run": Cli(("experiment", "sortednet", "--run", "RUN", "--option", "data=synthetic"),
                                          ("is a run of nas train", "allowed: a directory of its own")),
    "experiment space options that are no pairs": Cli(("experiment", "sortednet", "--run", "NEW", "--option",
                                                       'space_options=[["max_width", 32, 5]]'),
                                                      ("space_options must be (name, value) pairs",)),
    "experiment over a damaged ground truth": Cli(
        ("experiment", "supernet_ranking", "--run", "NEW", "--option", "ground_truth=WS/gt"),
        ("gt/results.json lacks config, space_options, score, higher_is_better, archs, reliability",),
        damage=lambda ws: ((ws / "gt").mkdir(), (ws / "gt" / "results.json").write_text("{}"))),
    "experiment over a ground truth whose rows lack their index": Cli(
        ("experiment", "supernet_ranking", "--run", "NEW", "--option", "ground_truth=WS/gt"),
        ("gt/results.json holds archs that are not rows of scores by seed",),
        damage=lambda ws: ((ws / "gt").mkdir(), (ws / "gt" / "results.json").write_text(json.dumps(
            {"config": {"seeds": [0, 1]}, "space_options": {}, "score": "test_accuracy", "higher_is_better": True,
             "reliability": {}, "archs": [{"arch": "depth=1", "test": {"0": 0.5}, "macs": 1, "params": 1,
                                           "mean": 0.5}]})))),
    "resort under a sampling of one phase": Cli(("train", *TINY, "--steps", "2", "--resort", "--run", "NEW"),
                                                ("--resort re-sorts channels at each new phase",
                                                 "allowed: a phased sampling")),
    "mixture of supernets with one expert": Cli(("train", *TINY, "--steps", "2", "--supernet", "mos-layer",
                                                 "--experts", "1", "--run", "NEW"), ("needs experts >= 2",)),
    "router width without a router": Cli(("train", *TINY, "--steps", "2", "--router-hidden", "7", "--run", "NEW"),
                                         ("router_hidden sizes the router", "supernet 'single' has none")),
    "space that needs a trained base, described alone": Cli(("spaces", "--space", "lora"),
                                                            ("cannot describe it alone",)),
}


def _versioned(space: Space, version: int) -> Space:
    return Space(space.name, list(space.decisions), version=version)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("bad-inputs") / "run"
    result = CliRunner().invoke(main, ["train", *TINY, "--steps", "3", "--run", str(run)])
    assert result.exit_code == 0, result.output
    return run


def snapshot(directory: Path) -> dict:
    return {str(path.relative_to(directory)): (path.stat().st_mtime_ns, path.read_bytes() if path.is_file() else None)
            for path in sorted(directory.rglob("*"))}


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 30
    assert sum(isinstance(case, Cli) for case in CASES.values()) >= 30


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
def test_bad_input(name, trained_run, tmp_path):
    case = CASES[name]
    workspace = tmp_path / "ws"
    shutil.copytree(trained_run, workspace / "run")
    if isinstance(case, Api):
        with pytest.raises(WeftError) as raised:
            case.call(workspace)
        message = str(raised.value)
        assert "\n" not in message, message
        for fragment in case.fragments:
            assert fragment in message, message
        return
    if case.damage:
        case.damage(workspace)
    before = snapshot(workspace)
    places = {"RUN": str(workspace / "run"), "NEW": str(workspace / "new")}
    args = [places.get(arg, arg.replace("WS/", f"{workspace}/")) for arg in case.args]
    result = CliRunner().invoke(main, args, env=case.env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and len(result.output.strip().splitlines()) == 1, result.output
    for fragment in case.fragments:
        assert fragment in errors[0], errors[0]
    assert snapshot(workspace) == before
