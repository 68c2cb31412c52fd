"""`experiments/gnn_controllers.py` at a tiny size (an MLP on synthetic data stands in for the GNN: same code)."""
import json

import pytest

from experiments.gnn_controllers import Config, run
from nas.errors import ConfigError

TINY = dict(isolate=False,
            space="mlp", space_options={"max_layers": 2, "max_width": 16, "width_steps": 2}, data="synthetic",
            searchers=("conservative-rl", "random"), seeds=2, trials=5, batch=2, archs=4, strata=2,
            supernet_steps=4, standalone_steps=3, sharing_steps=2, batch_size=32, limit=64, limit_test=64)


@pytest.mark.slow
def test_gnn_controllers_smoke(tmp_path):
    result = run(Config(**TINY), tmp_path, progress=False)
    assert result["runs"] == 2 * 2 * 2
    results = json.loads((tmp_path / "results.json").read_text())
    for row in results["runs"]:
        assert len(row["archs"]) == 5 and len(set(row["archs"])) == 5  # repeats never cost a trial
        assert len(row["ranked_shared"]) == 4 and -1 <= row["kendall_tau"] <= 1
        assert 0 <= row["pick_standalone"] <= 1 and row["pick"] in row["archs"]
        if row["sharing"] == "all":
            assert row["groups"] == 1 and row["inherited"][1:] == [True] * 4  # one store: all but the first inherit
        else:
            assert row["groups"] == len(set(row["archs"]))  # MLP: every decision shapes weights, no two archs share
    # Stand-alone scores are cached by arch and seed: each ranked arch twice, each distinct pick once more at most.
    cache = json.loads((tmp_path / "standalone.json").read_text())
    picks = {row["pick"] for row in results["runs"]}
    ranked = {row["arch"] for row in results["ranked"]}
    assert len(cache) == 2 * len(ranked) + len(picks - ranked)
    table = (tmp_path / "table.md").read_text()
    assert "| conservative-rl | homogeneous |" in table and "Homogeneous minus all" in table
    assert (tmp_path / "controllers.png").stat().st_size > 0
    lines = (tmp_path / "runs.jsonl").read_text()
    run(Config(**TINY), tmp_path, progress=False)  # resumes: nothing searched again
    assert (tmp_path / "runs.jsonl").read_text() == lines
    with pytest.raises(ConfigError, match="other settings \\(trials differ\\)"):
        run(Config(**{**TINY, "trials": 6}), tmp_path, progress=False)


def test_evolution_gets_a_population_the_trial_budget_can_evolve():
    from experiments.gnn_controllers import Config
    from searchers.registry import make_searcher
    from search_spaces.mlp import DEFINITION

    config = Config(trials=12)
    options = config.options_of("evolution")
    assert options["population_size"] == 4 < config.trials  # the default 20 would never leave its random phase
    searcher = make_searcher("evolution", DEFINITION.make_space(**DEFINITION.default_options), 1,
                             options=options)
    assert searcher.population_size == 4
    assert Config(searcher_options={"evolution": {"population_size": 7}}).options_of("evolution") == {
        "population_size": 7}
    assert config.options_of("random") == {}


def test_unknown_searcher_options_are_refused_by_name():
    from experiments.gnn_controllers import Config
    from nas.errors import ConfigError

    with pytest.raises(ConfigError, match="searcher 'evolution' has no option.*populaton.*allowed: population_size"):
        Config(searcher_options={"evolution": {"populaton": 4}}).check()
