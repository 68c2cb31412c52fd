"""The base of the experiments' config dataclasses, kept apart from `experiments.common` so that an
experiment which trains nothing (the searcher benchmark, the latency tables) imports no training code."""
from __future__ import annotations

from nas.config import check_bounds
from nas.errors import ConfigError


class ExperimentConfig:
    """Declared Bounds (nas.option_bounds) are checked when a config is made, from Python
    (`run(Config(...))`) as from `nas experiment --option`; space options given as (name, value) pairs
    must be pairs."""

    def __post_init__(self) -> None:
        name = f"experiment {type(self).__module__.rsplit('.', 1)[-1]}"
        check_bounds(self, name)
        options = getattr(self, "space_options", None)
        if isinstance(options, (tuple, list)) and not all(
                isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str) for pair in options):
            raise ConfigError(f"{name}: space_options must be (name, value) pairs, e.g. "
                              f"[[\"max_width\", 32]], got {options!r}")
