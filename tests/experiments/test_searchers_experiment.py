"""`experiments/searchers.py` at a tiny size: every searcher, both objectives kinds, before beside after."""
import json

from experiments.searchers import Config, run


def test_searchers_experiment_smoke(tmp_path):
    small = dict(objectives=("nk-nb201", "zdt1-mobilenetv3"), seeds=2, queries=24, checkpoints=(8, 24), batch=8)
    run(Config(mode="before", **small), tmp_path / "before", progress=False)
    run(Config(before=str(tmp_path / "before" / "results.json"), **small), tmp_path / "after", progress=False)
    results = json.loads((tmp_path / "after" / "results.json").read_text())
    assert len(results["runs"]) == 2 * 5 * 2
    for row in results["runs"]:
        assert row["trials"] == 24 and row["distinct"] == 24  # after: repeats never cost a trial
        assert set(row["quality"]) == {"8", "24"}
        assert 0 < row["quality"]["24"] <= (94.37 + 1e-9 if row["objective"].startswith("nk") else 1 + 1e-9)
    assert "nk-nb201/rl" in results["before"]["paired"]
    table = (tmp_path / "after" / "table.md").read_text()
    assert "### zdt1-mobilenetv3" in table and "| rl |" in table and "before" in table
    assert (tmp_path / "after" / "curves.png").stat().st_size > 0
    # a re-run resumes from runs.jsonl: nothing is run again
    lines = (tmp_path / "after" / "runs.jsonl").read_text()
    run(Config(**small), tmp_path / "after", progress=False)
    assert (tmp_path / "after" / "runs.jsonl").read_text() == lines
