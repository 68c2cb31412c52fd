"""The adapters experiment (issue 25 part 4) end to end at a tiny budget on a generated fortune corpus:
its outputs' structure, Wanda's exact zeros in the sparse base, the sizes it reports, and a re-run that
trains and searches nothing and gives the same results."""
import json

import pytest

from experiments import adapters
from nas.errors import ConfigError
from tests.nas import fortune_corpus as corpus

TINY = dict(isolate=False,
            base_options={"embed_dims": [16], "depths": [1], "heads": [2], "ffn_widths": [32], "head_dim": 8,
                          "context": 16},
            base_steps=3, pretrain_collections=("set0",), adapt_collections=("set1",), steps=3, ranks=(2, 4, 6),
            hill_climbing_trials=4, nsga2_trials=4, nsga2_population=2, search_batch=4, batch_size=8,
            limit_train=64, warmup_steps=1, checkpoint_every=3)
EMBED, HIDDEN = 16, 32
PER_RANK = 3 * 2 * EMBED + (EMBED + HIDDEN) + (HIDDEN + EMBED)  # q, k, v (in + out each), up, down; per layer


@pytest.mark.slow  # 11 small trainings: ~40 s of CPU
def test_picks_sizes_and_sparse_base_and_a_rerun_that_does_nothing(tmp_path, monkeypatch):
    corpus.write_corpus(tmp_path / "fortunes", count=160, files=2)
    monkeypatch.setenv("WEFT_FORTUNES", str(tmp_path / "fortunes"))
    run_dir = tmp_path / "run"
    results = adapters.run(adapters.Config(**TINY), run_dir, progress=False)
    assert [part["sparsity"] for part in results["parts"]] == [0.0, 0.5]
    dense, sparse = results["parts"]
    # Wanda's ratio, exactly, on every projection of the base; none on the dense base.
    assert dense["base_zero_share"] == 0.0 and sparse["base_zero_share"] == 0.5
    for part in results["parts"]:
        rows = {row["pick"]: row for row in part["rows"]}
        assert list(rows) == ["largest", "middle", "hill-climbing", "nsga2"]
        assert rows["largest"]["trainable"] == part["full_rank_trainable"] == 6 * PER_RANK  # one layer, rank 6
        assert rows["middle"]["trainable"] == 4 * PER_RANK == part["budget_trainable"]
        for name in ("hill-climbing", "nsga2"):  # searched under the heuristic's trainable budget
            assert rows[name]["trainable"] <= part["budget_trainable"] and rows[name]["trials"] == 4
        for row in rows.values():
            assert (run_dir / part["directory"] / row["alone_run"] / "summary.json").exists()
            assert 0 < row["inherited_bits_per_char"] < 8 and 0 < row["alone_bits_per_char"] < 8
    # Merged over the dense base: the base's size whatever the rank; kept apart over the sparse one: its
    # non-zeros plus the adapter's entries.
    assert len({row["nonzero"] for row in dense["rows"]}) == 1 == len({dense["base_nonzero"]})
    assert dense["rows"][0]["nonzero"] == dense["base_nonzero"]
    for row in sparse["rows"]:  # an adapter entry may still be exactly zero after 3 steps
        assert sparse["base_nonzero"] < row["nonzero"] <= sparse["base_nonzero"] + row["trainable"]
    assert sparse["base_nonzero"] < dense["base_nonzero"]
    shears = results["shears"]
    assert shears["shears_nonzero"] == sparse["rows"][1]["nonzero"] and 0.5 < shears["nonzero_ratio"] < 1
    table = (run_dir / "table.md").read_text()
    assert "| 50% (zeros 0.500) | heuristic (middle) |" in table and "Shears' claim" in table
    assert (run_dir / "pareto.png").stat().st_size > 0

    stamps = {p: p.stat().st_mtime for p in run_dir.rglob("summary.json")} | {
        p: p.stat().st_mtime for p in run_dir.rglob("pick.json")}
    rerun = json.loads(json.dumps(adapters.run(adapters.Config(**TINY), run_dir, progress=False), default=float))
    assert rerun == json.loads((run_dir / "results.json").read_text())
    assert {p: p.stat().st_mtime for p in stamps} == stamps


@pytest.mark.parametrize("change, message", [({"sparsities": (0.0, 1.0)}, "sparsity ratio"),
                                             ({"budget": 1.5}, "budget"),
                                             ({"adapt_collections": ("set0",)}, "held out"),
                                             ({"steps": 0}, "steps must be >= 1")])
def test_bad_settings_are_one_clear_error(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        adapters.run(adapters.Config(**{**TINY, **change}), tmp_path, progress=False)
