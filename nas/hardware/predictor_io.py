"""Saving and loading latency predictors as JSON (no pickle).

A file records the predictor's kind and parameters, the space it was fitted on (name,
version, fingerprint, spec, options, input: `input_shape` (H, W, C) or (T,) and `inputs`,
images or tokens; files written before that key was renamed have `image_shape` instead),
the batch size, the backend the latencies were measured on (xla, onnxruntime; None for
imported measurements) and the device fingerprint. Loading against another space,
space version or input is refused with one line.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from nas.atomic_write import write_json_atomically
from nas.data import renamed_input_shape, with_input_shape
from nas.errors import WeftError
from nas.hardware.counters import CostCounter, load_counter
from nas.hardware.flops_proxy import FlopsProxy
from nas.hardware.inputs import describe, input_kind
from nas.hardware.layer_cost_predictor import LayerCostPredictor
from nas.hardware.linear_predictor import LinearPredictor
from nas.hardware.lut_predictor import LutPredictor
from nas.hardware.mlp_predictor import MlpPredictor

FORMAT = "weft-latency-predictor"


class PredictorError(WeftError):
    """A predictor file is missing, corrupt, or was fitted on another space (version)."""


def save_predictor(path: str | Path, predictor, *, space_spec: str, options: dict, input_shape=None, batch: int,
                   device: dict, device_fingerprint: str, metrics: dict | None = None,
                   backend: str | None = None, image_shape=None) -> Path:
    """`input_shape`: one example's, (H, W, C) or (T,) (`image_shape` is its former name, still accepted)."""
    input_shape = renamed_input_shape(input_shape, image_shape, "save_predictor")
    if input_shape is None:
        raise TypeError("save_predictor needs input_shape")
    space = predictor.counter.space if hasattr(predictor, "counter") else predictor.space
    document = {"format": FORMAT, "format_version": 1, "kind": predictor.kind,
                "space": {"name": space.name, "version": space.version, "fingerprint": space.fingerprint(),
                          "spec": space_spec, "options": options, "input_shape": list(input_shape),
                          "inputs": input_kind(input_shape)},
                "batch": batch, "backend": backend, "device": device, "device_fingerprint": device_fingerprint,
                "metrics": metrics or {}, "payload": predictor.payload()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomically(path, document)


def read_document(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise PredictorError(f"predictor {str(path)!r} is a directory; allowed: a predictor file written by nas "
                             "latency fit (for example RUN/fit/lut.json)")
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise PredictorError(f"predictor file {path} does not exist; allowed: a file written by nas latency fit") from None
    except ValueError as error:
        raise PredictorError(f"predictor file {path} is not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PredictorError(f"{path} is not a weft latency predictor (format {FORMAT!r})")
    space = document.get("space")
    if isinstance(space, dict):  # files written before "input_shape" have "image_shape"
        space = document["space"] = with_input_shape(space)
    missing = [key for key in ("kind", "payload", "space") if key not in document] + (
        [f"space.{key}" for key in ("name", "version", "fingerprint", "spec", "options", "input_shape")
         if key not in space] if isinstance(space, dict) else [])
    if missing or not isinstance(space, dict):
        raise PredictorError(f"predictor file {path} is damaged: missing {', '.join(missing) or 'space'}; "
                             "allowed: a file written by nas latency fit (re-run it)")
    return document


def _check_same_network(path, stored: dict, counter: CostCounter) -> None:
    """Options such as a width multiplier change the network but not the decisions (nor the space's
    fingerprint): compare the largest arch's multiply-adds and params at the stored options."""
    try:
        fitted = load_counter(stored["spec"], stored["options"], tuple(stored["input_shape"]))
    except WeftError:
        return  # a spec that no longer resolves: the checks below name what is wrong
    largest = counter.space.largest().to_vector()[None]
    ours = (int(counter.macs(largest)[0]), int(counter.params(largest)[0]))
    theirs = (int(fitted.macs(largest)[0]), int(fitted.params(largest)[0]))
    if ours != theirs:
        raise PredictorError(
            f"predictor {path} was fitted for space {stored['name']!r} with options {stored['options']} (largest arch "
            f"{theirs[0]:,} multiply-adds, {theirs[1]:,} params), not this network (largest arch {ours[0]:,} "
            f"multiply-adds, {ours[1]:,} params); allowed: a predictor collected and fitted with the same space options")


def load_predictor(path: str | Path, counter: CostCounter | None = None):
    """(predictor, document); `counter` defaults to the stored space's, at the stored options."""
    return _checked_predictor(read_document(path), path, counter)


def load_predictor_for_network(path: str | Path, space, definition, space_options: dict | None, input_shape):
    """(predictor, the inputs it predicts for) for a network of `space` built from `space_options` (as the
    user gave them) and trained on `input_shape`; a line on stderr says when those inputs are not the trained ones.

    A predictor fitted for images of another size (the space at its deployment resolution, e.g. MobileNetV3 at
    224x224x3 for a supernet trained on 28x28x1) is used at its own inputs, as Once-for-All searches: accuracy
    at the training resolution, latency where the model will run. The network must otherwise be the same
    (space version and options). A space without an analytic cost model loads it on the stored counter.
    """
    from nas.hardware.cost_model import CostModelError, resolve_cost_model

    document = read_document(path)
    trained, fitted = tuple(input_shape), tuple(document["space"]["input_shape"])
    inputs = fitted if len(fitted) == len(trained) == 3 else trained  # images at other sizes only
    try:
        counter = CostCounter(space, resolve_cost_model(definition, definition.resolve_options(space_options, inputs),
                                                        inputs))
    except CostModelError:
        counter = None
    predictor = _checked_predictor(document, path, counter)[0]
    if inputs != trained:
        print(f"latency: predicted for {describe(inputs)} (the predictor's inputs); accuracy scored on the "
              f"{describe(trained)} the network trained on", file=sys.stderr, flush=True)
    return predictor, inputs


def _checked_predictor(document: dict, path, counter: CostCounter | None):
    stored = document["space"]
    supplied = counter is not None
    if counter is None:
        counter = load_counter(stored["spec"], stored["options"], tuple(stored["input_shape"]))
    space = counter.space
    if (stored["name"], stored["version"], stored["fingerprint"]) != (space.name, space.version, space.fingerprint()):
        raise PredictorError(
            f"predictor {path} was fitted for space {stored['name']!r} v{stored['version']} (fingerprint "
            f"{stored['fingerprint']}), not space {space.name!r} v{space.version} (fingerprint {space.fingerprint()}); "
            "allowed: a predictor fitted on this space version (re-run nas latency fit)")
    fitted, counted = tuple(stored["input_shape"]), tuple(counter.cost_model.input_shape)
    if counted and fitted != counted:  # the same space on other inputs runs at another latency
        raise PredictorError(f"predictor {path} was fitted for {describe(fitted)}, not {describe(counted)}; "
                             "allowed: the same --input-shape, or a predictor collected and fitted for these inputs")
    if supplied:
        _check_same_network(path, stored, counter)
    return build_predictor(document, counter, path), document


def build_predictor(document: dict, counter: CostCounter, path="predictor"):
    """The predictor a (checked) document describes, on `counter`'s space."""
    from nas.hardware.adapt import AdaptedPredictor

    kind, payload, space = document["kind"], document["payload"], counter.space

    def adapted():
        sources = payload["sources"]
        for source in sources:
            if source.get("space", {}).get("fingerprint") != space.fingerprint():
                raise ValueError("a source predictor was fitted on another space")
        return AdaptedPredictor(space, [build_predictor(s, counter, path) for s in sources], sources,
                                payload["coefficients"], payload["delta"], payload["bias"], payload.get("settings"))

    readers = {"lut": lambda: LutPredictor.from_payload(counter, payload),
               "mlp": lambda: MlpPredictor.from_payload(space, payload),
               "linear": lambda: LinearPredictor.from_payload(space, payload),
               "layer-cost": lambda: LayerCostPredictor.from_payload(counter, payload),
               "flops": lambda: FlopsProxy.from_payload(counter, payload),
               "adapted": adapted}
    if kind not in readers:
        raise PredictorError(f"predictor {path} has unknown kind {kind!r}; allowed: {', '.join(readers)}")
    try:
        return readers[kind]()
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise PredictorError(f"predictor file {path} is damaged: its {kind} payload cannot be read "
                             f"({type(error).__name__}: {error}); allowed: a file written by nas latency fit") from None
