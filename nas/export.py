"""`nas export`: a chosen subnet as a standalone model directory.

    arch.json      the space (its `--space` reference, options, version and fingerprint), the arch,
                   and the preprocessing its inputs need (`nas.preprocessing`)
    params/        Orbax checkpoint of the sliced params and (recalibrated) BN statistics
    model.stablehlo  the eval-mode forward serialised with `jax.export` (batch size free), the
                   preprocessing baked in: raw float32 images [B, H, W, C] as stored (0..255 pixels
                   for Fashion-MNIST), or int32 token windows [B, T] for a language model
    model.onnx     with `--format onnx`: the same forward as an ONNX graph (`nas.onnx`, batch size
                   free), written only after onnxruntime computed what jax computes on the test split
    report.json    parameter count, max |masked - sliced| on a check batch, and the scores: test
                   accuracy for images; for token windows, bits per character and next-byte
                   accuracy on validation and test; with ONNX, the check's figures ("onnx")

`load_export` rebuilds the model from `arch.json` alone: the subnet's structure is derived by slicing
a shape-only supernet of the recorded space (no weights are initialised, no config file is needed),
and the saved params fill it. A user's own space reloads the same way, from its `--space` reference.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nas.atomic_write import staged_directory
from nas.checkpoint import load_tree, save_tree
from nas.config import to_dict
from nas.data import stored_input_shape
from nas.data_identity import split_fingerprints
from nas.definition import get_definition
from nas import export_integrity, preprocessing
from nas.errors import CheckpointError, ConfigError, ExportError, WeftError
from nas.evaluate import accuracy, make_masked_logits, make_recalibrate, make_standalone_logits
from nas.evaluate_text import logits_next_token_scores
from nas.json_files import read_json_object
from nas.lowering import count_params, slice_subnet, split
from nas.run_dir import RunDir
from nas.space import Arch, Space, SpaceError
from supernets.active_subnet import get_active_subnet

ARCH_FILE, PARAMS_DIR, STABLEHLO_FILE, REPORT_FILE = "arch.json", "params", "model.stablehlo", "report.json"
ONNX_FILE = "model.onnx"
FORMATS = ("stablehlo", "onnx")  # StableHLO is always written; ONNX on request
# Masked and sliced lowerings agree to float32 rounding; more than this means a slicing bug.
EQUIVALENCE_TOLERANCE = 1e-4


def parse_arch(space: Space, spec: str) -> Arch:
    """`largest`, `smallest`, `middle` (Shears' heuristic: every decision at its middle value), a JSON object of
    decisions, a JSON arch file, or a canonical string."""
    if spec == "largest":
        return space.largest()
    if spec == "middle":
        from searchers.middle_heuristic import middle_arch

        return middle_arch(space)
    if spec == "smallest":
        return space.smallest()
    if spec.endswith(".json") and not spec.lstrip().startswith("{") and not Path(spec).is_file():
        raise ConfigError(f"--arch file {spec!r} {'is a directory' if Path(spec).is_dir() else 'not found'}; allowed: "
                          "largest, smallest, middle, a JSON object or an existing .json file")
    from_file = spec.endswith(".json") and Path(spec).exists()
    text = Path(spec).read_text() if from_file else spec
    if from_file and not text.lstrip().startswith("{"):
        raise ConfigError(f"--arch file {spec} holds {'nothing' if not text.strip() else 'no JSON object'}; allowed: "
                          "an arch.json of nas export, or a JSON object of the space's decisions")
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--arch is not valid JSON: {error}") from None
        recorded = {}
        if "arch" in value and isinstance(value["arch"], dict):
            if value.get("space", space.name) != space.name:
                raise SpaceError(f"--arch is for space {value['space']!r}, not {space.name!r}")
            recorded, value = value, value["arch"]
        try:
            return space.validate(value)
        except SpaceError as error:
            options = recorded.get("space_options")
            if isinstance(options, dict) and recorded.get("space_fingerprint") not in (None, space.fingerprint()):
                given = " ".join(f"--option {key}={json.dumps(v)}" for key, v in sorted(options.items())
                                 if key != "base")  # lora's base is named by --base
                raise SpaceError(f"{error}; {spec} was exported from the space built with other options: give "
                                 f"them ({given})") from None
            raise
    if "=" in text:
        return space.from_string(text)
    raise ConfigError(f"--arch must be largest, smallest, middle, a JSON object or a .json file, got {spec!r}")


def select_from_search(run_path: str | Path, *, front: bool = False, top: int | None = None,
                       budgets: tuple[str, ...] = (), study: str = "search", storage: str | None = None) -> list[str]:
    """Canonical arch strings of a search's winners: its feasible front, its top K, or the best within budgets."""
    from nas.search.objectives import minimised, parse_constraint
    from nas.search.study import load_front_inputs
    from nas.pareto import pareto_front

    records, objectives, _ = load_front_inputs(run_path, storage, study)
    feasible = [r for r in records if r.feasible]
    if not feasible:
        raise ConfigError(f"the search in {run_path} has no feasible trial to export; search longer or relax its budgets")
    points = minimised(objectives, [r.metrics for r in feasible])
    by_first = sorted(range(len(feasible)), key=lambda i: tuple(points[i]))
    if front:
        chosen = [feasible[i] for i in sorted(pareto_front(points), key=lambda i: tuple(points[i]))]
    elif top is not None:
        if top < 1:
            raise ConfigError(f"--top must be >= 1, got {top}")
        chosen = [feasible[i] for i in by_first[:top]]
    else:
        chosen = []
        for spec in budgets:
            budget = parse_constraint(spec)
            if budget.metric not in feasible[0].metrics:
                raise ConfigError(f"--budget {spec} names unknown metric {budget.metric!r}; allowed metrics: "
                                  f"{', '.join(feasible[0].metrics)}")
            within = [i for i in by_first if feasible[i].metrics[budget.metric] <= budget.budget]
            if not within:
                lowest = min(r.metrics[budget.metric] for r in feasible)
                raise ConfigError(f"no feasible trial of the search has {budget}; the lowest {budget.metric} "
                                  f"found is {lowest:g}")
            chosen.append(feasible[within[0]])
    return list(dict.fromkeys(r.arch for r in chosen))


def not_yet_exported(run_path: str | Path, arch_strings: list[str]) -> list[str]:
    """The canonical arch strings that have no complete export under RUN/exports yet."""
    exports = RunDir(Path(run_path)).exports
    return [text for text in arch_strings if not (exports / _hashed_name(text) / ARCH_FILE).exists()]


def _hashed_name(arch_string: str) -> str:
    return "arch-" + hashlib.sha256(arch_string.encode()).hexdigest()[:10]


class Exported:
    """A reloaded export: the standalone model, its `arch.json` info and a jitted forward."""

    def __init__(self, model: nnx.Module, info: dict):
        self.model, self.info = model, info
        graphdef, self._params, self._stats = split(model)
        self._logits = make_standalone_logits(graphdef)  # one jitted function: one compile per batch shape

    @property
    def inputs(self) -> str:
        """What the model reads: "images" or "tokens" (exports older than this field all read images)."""
        return self.info.get("inputs", "images")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's input: (H, W, C) images or (T,) tokens (older exports record it as "image_shape")."""
        return stored_input_shape(self.info)

    def logits(self, inputs):
        """Logits of inputs as the training data holds them (images already normalised)."""
        return self._logits(self._params, self._stats, inputs)

    def predict(self, raw_inputs):
        """Logits of raw inputs (uint8-scale pixels, or token windows): the preprocessing applied first."""
        return self.logits(preprocessing.apply(self.info["preprocessing"], raw_inputs))


def score_split(logits_fn, split, batch_size: int = 500) -> dict:
    """Scores of `logits_fn` over a data split: {"accuracy"} for images; for token windows
    {"bits_per_char", "accuracy"}, the accuracy of the next byte at every position."""
    if split.kind == "tokens":
        return logits_next_token_scores(logits_fn, split.inputs, split.labels, batch_size)
    return {"accuracy": accuracy(logits_fn, split.inputs, split.labels, batch_size)}


def export_subnets(run_path: str | Path, arch_specs: list[str], out_dir: str | Path | None = None,
                   *, progress: bool = True, formats: tuple[str, ...] = ("stablehlo",)) -> list[Path]:
    """Export several archs of one run: the run is restored and the functions compiled once."""
    from nas.train.loop import enable_compilation_cache, restore_trained

    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError(f"unknown export format(s) {', '.join(unknown)}; allowed: {', '.join(FORMATS)}")
    if "onnx" in formats:
        from nas.onnx import require
        require()  # before any work
    if out_dir is not None and len(arch_specs) != 1:
        raise ConfigError("--out names one directory: give exactly one --arch with it")
    enable_compilation_cache()
    run = RunDir.open(run_path)
    session, state = restore_trained(run)
    archs = [parse_arch(session.space, spec) for spec in arch_specs]  # all checked before any work
    outs = [Path(out_dir) if out_dir else run.exports / _export_name(spec, arch)
            for spec, arch in zip(arch_specs, archs)]
    repeated = sorted({spec for spec, out in zip(arch_specs, outs) if outs.count(out) > 1})
    if repeated:
        raise ConfigError(f"--arch names the same arch more than once ({', '.join(repeated)}); give each once")
    data_hashes = split_fingerprints(session.dataset)  # once: every export records them, a resume compares them
    done = [out for out, arch in zip(outs, archs)
            if _exported_already(out, run, session, data_hashes, arch, int(state.step), formats)]
    for out in outs:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"export directory {out} is a file; choose another --out")
        if out not in done and out.exists() and any(out.iterdir()):
            raise ConfigError(f"export directory {out} exists and is not empty; choose another --out")
    for out in done:  # a command interrupted after these re-runs to the rest
        if progress:
            print(f"{out}: exported already (this arch, this run, at its step {int(state.step)})")
    functions = (make_recalibrate(session.graphdef, session.space),
                 make_masked_logits(session.graphdef, session.space))
    return [out if out in done else _export_one(run, session, state, functions, data_hashes, spec, arch, out,
                                                progress, formats)
            for spec, arch, out in zip(arch_specs, archs, outs)]


def _exported_already(out: Path, run: RunDir, session, data_hashes: dict, arch: Arch, step: int,
                      formats: tuple[str, ...]) -> bool:
    """`out` holds a finished export (its arch.json is written last) of `arch` from this run at `step`, with the
    same space, training settings and data, in every format asked for."""
    try:
        info = json.loads((out / ARCH_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(info, dict) and info.get("arch_string") == arch.to_string()
            and info.get("source_run") == str(run.path.absolute()) and info.get("source_step") == step
            and info.get("space_fingerprint") == session.space.fingerprint()
            and info.get("train_config") == json.loads(json.dumps(to_dict(session.config)))
            and ("onnx" not in formats or (out / ONNX_FILE).is_file())
            and info.get("data_fingerprints") == data_hashes)


def export_subnet(run_path: str | Path, arch_spec: str, out_dir: str | Path | None = None,
                  *, progress: bool = True, formats: tuple[str, ...] = ("stablehlo",)) -> Path:
    return export_subnets(run_path, [arch_spec], out_dir, progress=progress, formats=formats)[0]


def _export_name(spec: str, arch: Arch) -> str:
    if spec in ("largest", "smallest"):
        return spec
    return _hashed_name(arch.to_string())


def _export_one(run, session, state, functions, data_hashes, arch_spec, arch, out, progress,
                formats=("stablehlo",)) -> Path:
    recalibrate, masked_logits = functions
    vector = arch.to_vector()
    calibration = session.dataset.train.inputs[:session.config.calibration_images]
    has_batch_stats = bool(jax.tree.leaves(state.stats))  # nothing to recalibrate otherwise (LayerNorm spaces)
    stats = recalibrate(state.params, state.stats, calibration, vector) if has_batch_stats else state.stats
    supernet = nnx.merge(session.graphdef, state.params, stats)
    subnet = slice_subnet(supernet, arch)
    sub_graphdef, sub_params, sub_stats = split(subnet)

    # Equivalence check: the exported model must compute what the supernet computes.
    check = session.dataset.test.inputs[:64]
    masked = masked_logits(state.params, stats, check, vector)
    standalone_logits = make_standalone_logits(sub_graphdef)
    sliced = standalone_logits(sub_params, sub_stats, check)
    difference = float(jnp.max(jnp.abs(masked - sliced)))
    if not difference <= EQUIVALENCE_TOLERANCE:
        raise CheckpointError(f"exported subnet differs from the supernet by {difference:.3g} "
                              f"(> {EQUIVALENCE_TOLERANCE}) on a check batch; not writing {out}")

    dataset, text = session.dataset, session.dataset.inputs == "tokens"
    scores = {}
    for split_name in ("validation", "test") if text else ("test",):  # images: the test split, as before
        for metric, value in score_split(lambda x: standalone_logits(sub_params, sub_stats, x),
                                         getattr(dataset, split_name), session.config.eval_batch_size).items():
            scores[f"{split_name}_{metric}"] = value
    info = {"space": session.space.name, "space_ref": session.config.space,
            "space_options": json.loads(json.dumps(session.options, default=list)),
            "space_version": session.space.version,
            "space_fingerprint": session.space.fingerprint(), "arch": arch.to_dict(),
            "arch_string": arch.to_string(), "preprocessing": preprocessing.describe(dataset),
            "inputs": dataset.inputs, "input_shape": list(dataset.input_shape),
            "train_config": to_dict(session.config),
            "data_fingerprints": data_hashes,  # eval-export tells its test split from another
            "source_run": str(run.path.absolute()),
            "source_step": int(state.step)}
    report = {**scores, "params": count_params(sub_params),
              "max_abs_diff_vs_supernet": difference}
    with staged_directory(out) as staging:  # a failed export leaves nothing behind
        save_tree(staging / PARAMS_DIR, {"params": sub_params, "stats": sub_stats})
        _write_stablehlo(staging / STABLEHLO_FILE, sub_graphdef, sub_params, sub_stats,
                         dataset.input_shape, jnp.int32 if text else jnp.float32, info["preprocessing"])
        if "onnx" in formats:
            model_parts = (sub_graphdef, sub_params, sub_stats, info["preprocessing"])
            report["onnx"] = write_onnx(staging / ONNX_FILE, raw_forward(*model_parts),
                                        dataset.input_shape, jnp.int32 if text else jnp.float32,
                                        preprocessing.invert(info["preprocessing"], dataset.test.inputs),
                                        f"not writing {out}", exact=float64_forward(*model_parts))
        info[export_integrity.ARTIFACTS_KEY] = export_integrity.record(staging, (PARAMS_DIR, STABLEHLO_FILE))
        if "onnx" in report:
            report["onnx"]["sha256"] = export_integrity.digest(staging / ONNX_FILE)
        (staging / REPORT_FILE).write_text(json.dumps(report, indent=2))
        (staging / ARCH_FILE).write_text(json.dumps(info, indent=2))
    if progress:
        headline = (f"test bits/char {scores['test_bits_per_char']:.4f} (next-byte accuracy "
                    f"{scores['test_accuracy']:.4f})") if text else f"test accuracy {scores['test_accuracy']:.4f}"
        onnx = (f", ONNX max |onnxruntime - jax| {report['onnx']['max_abs_diff_vs_jax']:.2e}"
                if "onnx" in report else "")
        print(f"exported {arch_spec} to {out}: {headline}, "
              f"{report['params']:,} params, max |supernet - export| {difference:.2e}{onnx}")
    return out


def raw_forward(graphdef, params, stats, preprocess: dict):
    """The eval-mode forward of raw inputs, the preprocessing first: what the model files hold."""
    def forward(raw_inputs):
        model_inputs = preprocessing.apply(preprocess, raw_inputs)
        return nnx.merge(graphdef, params, stats, copy=True)(model_inputs, train=False)
    return forward


def _write_stablehlo(path: Path, graphdef, params, stats, input_shape, dtype, preprocess: dict) -> None:
    """One example is `input_shape` of `dtype`: (H, W, C) raw float32 images or (T,) int32 tokens."""
    forward = raw_forward(graphdef, params, stats, preprocess)
    batch = jax.export.symbolic_shape("batch")[0]
    exported = jax.export.export(jax.jit(forward))(jax.ShapeDtypeStruct((batch, *input_shape), dtype))
    path.write_bytes(exported.serialize())


def float64_forward(graphdef, params, stats, preprocess: dict):
    """The same forward with float64 params, preprocessing and arithmetic: the reference an ONNX check
    turns to when float32 rounding alone exceeds its bar (`nas.onnx.verify`). Not jitted once: it runs on
    one batch."""
    def widen(tree):
        return jax.tree.map(lambda a: np.asarray(a, np.float64) if np.issubdtype(a.dtype, np.floating) else a, tree)

    def forward(raw_inputs):
        with jax.enable_x64(True):
            model = nnx.merge(graphdef, widen(params), widen(stats), copy=True)
            model_inputs = preprocessing.apply(preprocess, np.asarray(raw_inputs), jnp.float64)
            return np.asarray(jax.jit(lambda x: model(x, train=False))(model_inputs))
    return forward


def write_onnx(path: Path, forward, input_shape, dtype, raw_check_inputs, failing: str = "", exact=None) -> dict:
    """`forward` lowered to ONNX, run in onnxruntime against jax on `raw_check_inputs` (and, beyond the bar,
    against `exact`, the float64 forward), and written to `path` only if they agree; returns the check's
    record for report.json. A primitive without an ONNX form, or a failed check, is one ExportError
    (ending in `failing`, e.g. what is not written)."""
    import nas.onnx
    from nas.onnx.lower import OPSET
    from supernets.ops import portable_depthwise

    try:
        with portable_depthwise():  # the grouped conv is one ONNX Conv, the CPU's taps k*k slices
            model = nas.onnx.to_onnx(forward, input_shape, dtype)
        record = nas.onnx.check(model, jax.jit(forward), raw_check_inputs, exact=exact)
    except ExportError as error:
        raise ExportError(f"{error}; {failing}" if failing else str(error)) from None
    path.write_bytes(model.SerializeToString())
    return {"opset": OPSET, **record}


def add_onnx(directory: str | Path, *, progress: bool = True) -> dict:
    """model.onnx for an existing export directory, checked on the test split of the data it was
    trained on; report.json gains the check's record. Returns that record."""
    from nas.atomic_write import write_bytes_atomically, write_text_atomically

    directory = Path(directory)
    exported = load_export(directory)
    info = exported.info
    report_path = directory / REPORT_FILE  # read before anything is written: a damaged one stops the command here
    report = read_json_object(report_path, "the report.json that nas export writes", ExportError) \
        if report_path.exists() else {}
    text = exported.inputs == "tokens"
    test = training_data(directory, info)[1].test
    graphdef, params, stats = split(exported.model)
    staged = directory / f".{ONNX_FILE}.staged"
    try:
        model_parts = (graphdef, params, stats, info["preprocessing"])
        record = write_onnx(staged, raw_forward(*model_parts), exported.input_shape,
                            jnp.int32 if text else jnp.float32, preprocessing.invert(info["preprocessing"], test.inputs),
                            f"{directory} is unchanged", exact=float64_forward(*model_parts))
        record["sha256"] = export_integrity.digest(staged)
        write_bytes_atomically(directory / ONNX_FILE, staged.read_bytes())
        write_text_atomically(report_path, json.dumps({**report, "onnx": record}, indent=2))
    finally:
        staged.unlink(missing_ok=True)
    if progress:
        print(f"wrote {directory / ONNX_FILE}: max |onnxruntime - jax| {record['max_abs_diff_vs_jax']:.2e} over "
              f"{record['checked_examples']} test examples, argmax agreement {record['argmax_agreement']:.4f}")
    return record


def training_data(directory: Path, info: dict):
    """(training config, dataset) of the data the export was trained on, as its arch.json (`info`) records
    them: the test split it is checked and scored on. Token windows are cut to the length the model was
    trained on."""
    from nas.config import from_dict
    from nas.data import load_dataset
    from nas.train.config import DATA_INPUTS, TrainConfig, saved_settings

    inputs = info.get("inputs", "images")  # exports older than this field all read images
    train_config = from_dict(TrainConfig, saved_settings(info.get("train_config", {})), f"{directory}/{ARCH_FILE}")
    if DATA_INPUTS.get(train_config.data) != inputs:
        raise CheckpointError(f"{directory}/{ARCH_FILE}: its train_config names data {train_config.data!r}, which "
                              f"holds {DATA_INPUTS.get(train_config.data)}, but the exported model reads "
                              f"{inputs}; allowed: the data it was trained on (export the arch again)")
    context = stored_input_shape(info)[0] if inputs == "tokens" else None
    return train_config, load_dataset(train_config, context)


def raw_stablehlo_forward(directory: Path, info: dict):
    """The StableHLO artifact as `normalised inputs -> logits` (it reads raw inputs: the preprocessing is undone
    first), to score on the data splits as the Flax model is."""
    raw_forward, record = load_stablehlo(directory), info["preprocessing"]
    return lambda inputs: raw_forward(preprocessing.invert(record, inputs))


def check_code_unchanged(directory: Path, exported: Exported, inputs, tolerance: float = 1e-3) -> str | None:
    """The model the space's code rebuilds must compute what was exported (model.stablehlo holds the exported
    graph): code edited since would be scored under the export's name. Returns why it could not be checked
    (an export from before the preprocessing record, an artifact lowered for another platform), or None
    (checked, or no artifact to check against)."""
    if not (directory / STABLEHLO_FILE).exists():
        return None  # nothing to check against
    try:
        exported_graph = raw_stablehlo_forward(directory, exported.info)(inputs)
    except WeftError as error:  # e.g. an export from before the preprocessing record: its inputs cannot be rebuilt
        return str(error)
    except ValueError as error:  # jax.export: lowered for other platforms than this machine's
        return (str(error).splitlines() or [""])[0][:200]
    difference = float(jnp.max(jnp.abs(exported.logits(inputs) - exported_graph)))
    if not difference <= tolerance:
        raise CheckpointError(f"{directory}: the model the space's code builds now differs from the exported "
                              f"{STABLEHLO_FILE} by {difference:.3g} on test examples, so the code changed since the "
                              "export; allowed: --stablehlo (scores the exported graph itself), or delete this "
                              "folder and export again")
    return None


def load_stablehlo(directory: str | Path):
    """The exported forward as a callable `raw inputs -> logits` (float32 pixels as stored, or int32 token
    windows for a language model); the same five lines of plain `jax` load it without weft."""
    path = Path(directory) / STABLEHLO_FILE
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    if (Path(directory) / ARCH_FILE).exists():
        export_integrity.check(Path(directory), STABLEHLO_FILE,
                               read_json_object(Path(directory) / ARCH_FILE, "the arch.json that nas export writes",
                                                CheckpointError))
    try:
        return jax.export.deserialize(bytearray(path.read_bytes())).call
    except Exception as error:  # noqa: BLE001 - flatbuffer and struct errors of a damaged file, whichever
        raise CheckpointError(f"{path} is damaged or not a jax.export file ({type(error).__name__}); export the "
                              "arch again") from None


def export_info(directory: str | Path) -> dict:
    """An export's arch.json, checked: what it records of the subnet, its data and its preprocessing."""
    directory = Path(directory)
    arch_file = directory / ARCH_FILE
    if not arch_file.exists():
        raise CheckpointError(f"{directory} is not a complete export (no {ARCH_FILE})")
    info = read_json_object(arch_file, "the arch.json that nas export writes", CheckpointError)
    if not isinstance(info.get("train_config", {}), dict):
        raise CheckpointError(f"{arch_file}: train_config is a {type(info['train_config']).__name__}; allowed: an "
                              "object of the training settings (as nas export writes it)")
    try:
        info["arch"], info.get("space_ref") or info["train_config"]["space"]
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{arch_file} is malformed: {error}") from None
    info.setdefault("preprocessing", _legacy_preprocessing(info))
    return info


def load_export(directory: str | Path) -> Exported:
    """Rebuild an exported subnet from its directory, without initialising the supernet."""
    directory = Path(directory)
    info = export_info(directory)
    arch_file = directory / ARCH_FILE
    model = _subnet_structure(info, info.get("space_ref") or info["train_config"]["space"], info["arch"], arch_file)
    graphdef, params, stats = split(model)
    export_integrity.check(directory, PARAMS_DIR, info)
    trees = load_tree(directory / PARAMS_DIR, {"params": params, "stats": stats}, f"export {directory}")
    return Exported(nnx.merge(graphdef, trees["params"], trees["stats"]), info)


def _subnet_structure(info: dict, space_ref: str, arch_values, arch_file: Path) -> nnx.Module:
    """The exported subnet as a shape-only module: a shape-only supernet of the recorded space, sliced."""
    try:
        definition = get_definition(space_ref)
    except ConfigError as error:
        raise CheckpointError(f"{arch_file}: {error} (a space of your own reloads from the folder that holds "
                              "its module, or with that folder on PYTHONPATH)") from None
    try:
        stored = info.get("space_options")
        if stored is None:  # exports made before the options were recorded: what the run resolved them to
            stored = definition.resolve_options(info["train_config"].get("space_options"),
                                                stored_input_shape(info))
        options = definition.resolve_options(stored)
        space = definition.make_space(**options)
        if space.fingerprint() != info.get("space_fingerprint", space.fingerprint()):
            raise CheckpointError(f"{arch_file} was exported from another version of space {space.name!r} "
                                  f"(fingerprint {info['space_fingerprint']}, now {space.fingerprint()})")
        arch = space.validate(arch_values)
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{arch_file} is malformed: {error}") from None
    except CheckpointError:
        raise
    except WeftError as error:
        raise CheckpointError(f"{arch_file} does not fit space {space_ref!r}: {error}") from None
    return nnx.eval_shape(lambda: get_active_subnet(definition.build_supernet(space, options, nnx.Rngs(0)), arch))


def _legacy_preprocessing(info: dict) -> dict:
    """Exports made before the record existed: Fashion-MNIST statistics cannot be recovered, so
    running them on raw pixels is refused rather than silently wrong."""
    if info.get("inputs") == "tokens":
        return {"kind": preprocessing.TOKENS}
    return {"kind": "unknown (exported before weft recorded it; re-export to run on raw images)"}
