"""The base of the experiments' config dataclasses, kept apart from `experiments.common` so that an
experiment which trains nothing (the searcher benchmark, the latency tables) imports no training code."""
from __future__ import annotations

from nas.config import check_bounds


class ExperimentConfig:
    """Declared Bounds (nas.option_bounds) are checked when a config is made, from Python
    (`run(Config(...))`) as from `nas experiment --option`."""

    def __post_init__(self) -> None:
        check_bounds(self, f"experiment {type(self).__module__.rsplit('.', 1)[-1]}")
