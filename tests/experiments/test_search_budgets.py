"""The search-under-budgets experiment end to end on a tiny synthetic MLP run (slow)."""
import json

import pytest

from experiments.search_budgets import Config, run


@pytest.mark.slow
def test_search_budgets_small(tmp_path):
    config = Config(space="mlp", space_options=(("max_width", 32), ("width_steps", 4), ("max_layers", 3)),
                    isolate=False,
                    data="synthetic", limit_train=1024, supernet_steps=40, warmup_steps=2, trials=8, batch=4,
                    search_images=256, random_archs=4)
    results = run(config, tmp_path, progress=False)
    rows = results["budgets"]
    assert len(rows) == 3
    for row in rows:
        assert row["winner_cost"] <= row["budget"] and row["feasible"] >= 1
        assert 0.0 <= row["winner_test_standalone"] <= 1.0
    assert json.loads((tmp_path / "results.json").read_text())["budgets"] == json.loads(json.dumps(rows))
    assert (tmp_path / "table.md").read_text().count("\n") == 5
    assert (tmp_path / "plots" / "budget-0" / "accuracy_vs_macs.png").exists()
    again = run(config, tmp_path, progress=False)  # resumes: nothing is trained, searched or exported again
    assert again["budgets"] == results["budgets"]
