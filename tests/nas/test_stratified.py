"""Stratified archs cover the cost range evenly, where uniform samples pile up in the middle."""
import numpy as np
import pytest

from nas.errors import ConfigError
from nas.hardware.counters import load_counter
from nas.stratified import stratified_archs


def test_equal_counts_per_log_cost_stratum_with_both_ends():
    counter = load_counter("mlp", {"max_layers": 4, "max_width": 512, "width_steps": 32})
    macs = lambda v: np.asarray(counter.macs(v), float)  # noqa: E731
    archs = stratified_archs(counter.space, macs, 32, strata=8, seed=0)
    assert len({a.to_string() for a in archs}) == 32
    assert archs[0] == counter.space.smallest() and archs[-1] == counter.space.largest()
    log_cost = np.log([counter.count(a)["macs"] for a in archs])
    assert np.all(np.diff(log_cost) >= 0)
    edges = np.linspace(log_cost[0], log_cost[-1], 9)
    per_stratum = np.histogram(log_cost, edges)[0]
    assert per_stratum.min() >= 3 and per_stratum.max() <= 5
    # Uniform samples of the same space leave the cheapest eighth of the log range nearly empty.
    uniform = [counter.space.sample(np.random.default_rng(i)) for i in range(32)]
    assert np.histogram(np.log([counter.count(a)["macs"] for a in uniform]), edges)[0][0] < 3


def test_a_gap_in_the_cost_range_is_filled_from_the_nearest_strata_and_too_many_is_an_error():
    counter = load_counter("mlp", {"max_layers": 1, "max_width": 64, "width_steps": 8})  # 8 archs in all
    macs = lambda v: np.asarray(counter.macs(v), float)  # noqa: E731
    assert len(stratified_archs(counter.space, macs, 8, strata=6, seed=0, pool=400)) == 8
    with pytest.raises(ConfigError, match="only 8 distinct archs"):  # a user's --archs: the CLI's one-line error
        stratified_archs(counter.space, macs, 9, strata=6, seed=0, pool=400)
