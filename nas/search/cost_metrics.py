"""Cost metrics of a trained run's archs, from `nas.hardware`: FLOPs and params, latency.

`macs` (multiply-adds per example; formerly named `flops`) and `params` come from the space's analytic cost
model (`nas.hardware.counters`); a space without one falls back to params counted on
the sliced subnet. `latency` (ms) comes from a predictor file written by
`nas latency fit`, when one is given. A predictor fitted for other inputs than the run trained on (the
space at its deployment resolution, e.g. MobileNetV3 at 224x224x3 for a supernet trained on 28x28x1) is
used at its own inputs, as Once-for-All searches: accuracy at the training resolution, latency where the
model will run. The network must otherwise be the same (space version and options).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nas.search.evaluators import MetricFunction, sliced_params


def hardware_metrics(session, state, latency_predictor: str | Path | None = None) -> dict[str, MetricFunction]:
    from nas.definition import get_definition
    from nas.hardware.cost_model import CostModelError, resolve_cost_model
    from nas.hardware.counters import CostCounter

    definition = get_definition(session.config.space)
    try:
        counter = CostCounter(session.space, resolve_cost_model(definition, session.options,
                                                                tuple(session.dataset.input_shape)))
    except CostModelError:
        counter = None
    if counter is None:
        metrics = {"params": sliced_params(session.graphdef, state.params, state.stats)}
    else:
        metrics = {"macs": lambda arch: float(counter.count(arch)["macs"]),
                   "params": lambda arch: float(counter.count(arch)["params"])}
    if latency_predictor is not None:
        predictor = _latency_predictor(latency_predictor, counter, session, definition)
        metrics["latency"] = lambda arch: float(np.asarray(predictor(arch.to_vector()[None]))[0])
    return metrics


def _latency_predictor(path, counter, session, definition):
    """The predictor, on a counter of the run's network at the inputs the predictor was fitted for."""
    import sys

    from nas.hardware.cost_model import resolve_cost_model
    from nas.hardware.counters import CostCounter
    from nas.hardware.inputs import describe
    from nas.hardware.predictor_io import load_predictor, read_document

    fitted = tuple(read_document(path)["space"]["input_shape"])
    trained = tuple(session.dataset.input_shape)
    if counter is None or fitted == trained or not len(fitted) == len(trained) == 3:  # images at other sizes only
        return load_predictor(path, counter)[0]
    # The run's own options re-resolved for the predictor's inputs (e.g. in_channels from the image).
    options = definition.resolve_options(session.config.space_options, fitted)
    predictor = load_predictor(path, CostCounter(session.space, resolve_cost_model(definition, options, fitted)))[0]
    print(f"latency: predicted for {describe(fitted)} (the predictor's inputs); accuracy scored on the run's "
          f"{describe(trained)}", file=sys.stderr, flush=True)
    return predictor
