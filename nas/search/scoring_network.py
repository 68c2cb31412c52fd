"""Which network scores a search's archs (`nas search --supernet`), and what a mixture costs per arch.

A run trained with `--supernet mos-layer|mos-neuron` holds a Mixture-of-Supernets, one trained with
`few-shot` (or any other mixture kind) holds K supernets; each still holds a plain supernet:

    auto     the network the run trained (the default)
    single   the plain supernet inside the run: a MoS run's wrapped supernet alone (expert 0's
             kernels, no router), a few-shot / mixture run's supernet 0 for every arch, a single run itself
    mos      a MoS run's routed mixture (only a run trained with mos-layer or mos-neuron)
    mixture  a few-shot / learned-assignment run's K supernets, each arch scored by its owner
             (only a run trained with a kind other than single and mos-*)

`measure_scoring_cost` times the scoring network and the plain supernet inside it on the same archs,
in this process, after a first call of each (compile, or load from the compilation cache) that is
reported apart.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nas.errors import ConfigError

CHOICES = ("auto", "single", "mos", "mixture")


def family(trained: str) -> str:
    """The family of a run's `supernet` kind: single, mos (mos-layer, mos-neuron) or mixture (any other)."""
    if trained == "single":
        return "single"
    return "mos" if trained.startswith("mos-") else "mixture"


def resolve(requested: str, trained: str) -> str:
    """The family that scores (single, mos or mixture) for `--supernet requested` on a run trained as `trained`."""
    if requested not in CHOICES:
        raise ConfigError(f"unknown --supernet {requested!r}; allowed: {', '.join(CHOICES)}")
    own = family(trained)
    if requested in ("auto", "single", own):
        return own if requested == "auto" else requested
    allowed = ", ".join(dict.fromkeys(("auto", "single", own)))
    raise ConfigError(f"--supernet {requested} needs a run trained with "
                      f"{'--supernet mos-layer or mos-neuron' if requested == 'mos' else 'a mixture (few-shot, routed)'}"
                      f"; this run was trained with --supernet {trained}, so allowed: {allowed}")


def plain_supernet(network):
    """The plain supernet inside a trained network: a MoS's wrapped supernet, a mixture's supernet 0, else itself."""
    if hasattr(network, "supernets"):
        return network.supernets[0]
    if hasattr(network, "supernet"):
        return network.supernet
    return network


@dataclass(frozen=True)
class ScoringNetwork:
    family: str         # single | mos | mixture
    graphdef: object
    params: object
    stats: object


def scoring_network(session, state, requested: str = "auto") -> ScoringNetwork:
    """The (graphdef, params, stats) scoring archs, with the run's trained weights (see the module docstring)."""
    chosen = resolve(requested, session.config.supernet)
    if chosen == family(session.config.supernet):
        return ScoringNetwork(chosen, session.graphdef, state.params, state.stats)
    return ScoringNetwork(chosen, *plain_pieces(session, state))


def plain_pieces(session, state):
    """(graphdef, params, stats) of the plain supernet inside a run, with its trained weights."""
    from flax import nnx

    from nas.lowering import split

    return split(plain_supernet(nnx.merge(session.graphdef, state.params, state.stats)))


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure_scoring_cost(score_mixture: Callable[[], object] | None, score_single: Callable[[], object],
                         archs: int, *, repeats: int = 2, min_seconds: float = 0.5, max_repeats: int = 100) -> dict:
    """Seconds per arch of scoring `archs` archs with the mixture and with the plain supernet (each `score_*`
    scores the same archs and blocks until done): the median of the calls of each, alternated, after a first
    call of each (compile or load from the compilation cache, and one run), reported apart.

    At least `repeats` calls of each, more while either network has been timed for less than `min_seconds`
    in all (fast networks: the median of a few sub-millisecond calls is noise), at most `max_repeats`.
    Without a mixture (the scoring network is the plain supernet) only the single figures are filled.
    """
    calls = {"single": score_single} if score_mixture is None else {"mixture": score_mixture, "single": score_single}
    first = {name: _seconds(call) for name, call in calls.items()}
    times = {name: [] for name in calls}
    while len(times["single"]) < max(repeats, 1) or (
            len(times["single"]) < max_repeats and min(sum(values) for values in times.values()) < min_seconds):
        for name, call in calls.items():
            times[name].append(_seconds(call))
    median = {name: statistics.median(values) for name, values in times.items()}
    report = {"archs_timed": archs, "repeats": len(times["single"]),
              "single_seconds_per_arch": median["single"] / archs, "single_first_call_seconds": first["single"],
              "mixture_seconds_per_arch": None, "mixture_first_call_seconds": None, "extra_cost_ratio": None}
    if score_mixture is not None:
        report.update(mixture_seconds_per_arch=median["mixture"] / archs, mixture_first_call_seconds=first["mixture"],
                      extra_cost_ratio=median["mixture"] / median["single"])
    return report


def cost_line(report: dict) -> str:
    """The one line `nas search` prints about the cost per evaluated arch."""
    single, timed = report["single_seconds_per_arch"], f"{report['archs_timed']} archs, median of {report['repeats']}"
    if report["mixture_seconds_per_arch"] is None:
        return (f"scoring cost: plain supernet {single * 1e3:.3g} ms/arch, no mixture ({timed}; first call "
                f"{report['single_first_call_seconds']:.2f} s)")
    return (f"scoring cost: {report['scoring']} ({report['trained_supernet']} run) "
            f"{report['mixture_seconds_per_arch'] * 1e3:.3g} ms/arch, plain supernet {single * 1e3:.3g} ms/arch, "
            f"extra cost x{report['extra_cost_ratio']:.3g} ({timed}; first calls "
            f"{report['mixture_first_call_seconds']:.2f} s / {report['single_first_call_seconds']:.2f} s)")


def sample_archs(space, evaluated: Sequence, count: int, seed: int = 0) -> list:
    """`count` archs to time: the evaluated ones first (distinct), then random ones of the space."""
    import numpy as np

    archs = list({arch.to_string(): arch for arch in evaluated}.values())[:count]
    rng = np.random.default_rng(seed)
    while len(archs) < count:
        archs.append(space.sample(rng))
    return archs
