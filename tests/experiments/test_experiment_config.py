"""An experiment's config checks its declared bounds however it is made."""
import importlib

import pytest

from nas.errors import ConfigError

MODULES = ["adapters", "differentiable_search", "distillation", "gnn_controllers", "ground_truth", "latency_retest",
           "latency_tables", "mixtures", "ranking", "search_budgets", "searchers", "sortednet"]


@pytest.mark.parametrize("name", MODULES)
def test_every_experiment_config_builds_at_its_defaults(name):
    # Fails if a default breaks its own bounds or an annotation cannot be resolved when the bounds are read.
    importlib.import_module(f"experiments.{name}").Config()


def test_a_config_made_in_python_is_checked_like_one_read_from_options():
    from experiments import latency_tables, ranking

    with pytest.raises(ConfigError, match="experiment ranking: option archs=2 is out of range; allowed: >= 3"):
        ranking.Config(archs=2)
    with pytest.raises(ConfigError, match="experiment latency_tables: option repeats=0 is out of range"):
        latency_tables.Config(repeats=0)
