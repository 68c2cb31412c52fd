"""Cost metrics of a trained run's archs, from `nas.hardware`: FLOPs and params, latency.

`macs` (multiply-adds per example; formerly named `flops`) and `params` come from the space's analytic cost
model (`nas.hardware.counters`); a space without one falls back to params counted on
the sliced subnet. `latency` (ms) comes from a predictor file written by
`nas latency fit`, when one is given; one fitted at the space's deployment resolution is used there
(`nas.hardware.predictor_io.load_predictor_for_network`).
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
        from nas.hardware.predictor_io import load_predictor_for_network

        predictor = load_predictor_for_network(latency_predictor, session.space, definition,
                                               session.config.space_options, session.dataset.input_shape)[0]
        metrics["latency"] = lambda arch: float(np.asarray(predictor(arch.to_vector()[None]))[0])
    return metrics

