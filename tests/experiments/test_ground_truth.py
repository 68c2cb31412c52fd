"""The ground-truth experiment on generated data: stratified archs, every seed on the same split, resumable,
shared between workers, reliability computed from what finished."""
import json
import os

import numpy as np
import pytest

from experiments import ground_truth
from nas.errors import ConfigError
from nas.standalone_truth import reliability

TINY = dict(space="mlp", space_options={"max_layers": 2, "max_width": 64, "width_steps": 4}, archs=5, strata=2,
            steps=3, data="synthetic", batch_size=16, limit_train=128, validation_size=32)


def test_ground_truth_trains_every_arch_and_seed_once_and_a_rerun_trains_nothing(tmp_path):
    # In this process: training in child processes is covered by `nas audit --workers 2`'s test.
    config = ground_truth.Config(**{**TINY, "archs": 4}, isolate=False)
    results = ground_truth.run(config, tmp_path, progress=False)
    assert len(results["archs"]) == 4 and all(len(row["test"]) == 2 for row in results["archs"])
    macs = [row["macs"] for row in results["archs"]]
    assert macs == sorted(macs) and macs[0] < macs[-1]  # smallest first, largest last
    assert results["reliability"]["complete_archs"] == 4 and len(results["reliability"]["pairs"]) == 1
    # Both seeds were scored on the same held-out split: the runs' configs differ in `seed` only.
    first, second = (json.loads((tmp_path / f"arch-00-seed{s}" / "config.json").read_text())["config"]
                     for s in (0, 1))
    assert {k for k in first if first[k] != second[k]} == {"seed"} and first["split_seed"] == 0
    assert (tmp_path / "seeds.png").stat().st_size > 0 and "| 0 vs 1 |" in (tmp_path / "table.md").read_text()
    stamps = {p: p.stat().st_mtime for p in tmp_path.glob("arch-*/summary.json")}
    assert ground_truth.run(config, tmp_path, progress=False)["archs"] == results["archs"]
    assert {p: p.stat().st_mtime for p in tmp_path.glob("arch-*/summary.json")} == stamps
    # A committed results.json restores the finished runs in a fresh directory: nothing is trained again.
    fresh = tmp_path / "fresh"
    imported = ground_truth.run(ground_truth.Config(**{**TINY, "archs": 4}, isolate=False,
                                                    import_from=str(tmp_path / "results.json")), fresh, progress=False)
    assert [r["test"] for r in imported["archs"]] == [r["test"] for r in results["archs"]]
    assert not list(fresh.glob("arch-*/checkpoints"))
    with pytest.raises(ConfigError, match="holds other archs"):
        ground_truth.run(ground_truth.Config(**{**TINY, "archs": 4, "arch_seed": 1},
                                             import_from=str(tmp_path / "results.json")), tmp_path / "other",
                         progress=False)
    # The same archs trained longer (or on another split) are another plan: their scores are not imported.
    for other in ({"steps": 6}, {"split_seed": 1}):
        with pytest.raises(ConfigError, match=f"trained with other settings \\({next(iter(other))} differ\\)"):
            ground_truth.run(ground_truth.Config(**{**TINY, "archs": 4, **other},
                                                 import_from=str(tmp_path / "results.json")),
                             tmp_path / f"other-{next(iter(other))}", progress=False)
        assert not list((tmp_path / f"other-{next(iter(other))}").glob("arch-*"))
    # Rows without their index (or with scores not keyed by seed) are refused before any run is written.
    saved = json.loads((tmp_path / "results.json").read_text())
    for damage in ({"index": None}, {"test": {"first": 0.5}}, {"validation": [0.5]}):
        damaged = {**saved, "archs": [{**row, **damage} for row in saved["archs"]]}
        (tmp_path / "damaged.json").write_text(json.dumps(damaged))
        with pytest.raises(ConfigError, match="holds no per-arch scores"):
            ground_truth.run(ground_truth.Config(**{**TINY, "archs": 4}, import_from=str(tmp_path / "damaged.json")),
                             tmp_path / "damaged", progress=False)
        assert not list((tmp_path / "damaged").glob("arch-*"))


def test_a_claimed_training_is_left_to_its_worker_and_other_settings_are_refused(tmp_path):
    config = ground_truth.Config(**{**TINY, "archs": 4}, isolate=False)
    # A live process (this one's parent) holds arch 0, seed 0: this worker trains everything else.
    (tmp_path / "claims").mkdir(parents=True)
    import socket
    (tmp_path / "claims" / "arch-00-seed0.claim").write_text(json.dumps({"host": socket.gethostname(),
                                                                          "pid": os.getppid()}))
    results = ground_truth.run(config, tmp_path, progress=False)
    assert not (tmp_path / "arch-00-seed0" / "summary.json").exists()
    assert results["archs"][0]["test"].keys() == {"1"} and results["reliability"]["complete_archs"] == 3
    with pytest.raises(ConfigError, match="steps differ"):
        ground_truth.run(ground_truth.Config(**{**TINY, "archs": 4, "steps": 4}, isolate=False), tmp_path,
                         progress=False)


def test_only_trains_the_listed_archs_and_a_later_run_adds_the_rest(tmp_path):
    config = ground_truth.Config(**{**TINY, "archs": 4}, isolate=False, only=(1, 3))
    results = ground_truth.run(config, tmp_path, progress=False)
    assert [sorted(row["test"]) for row in results["archs"]] == [[], ["0", "1"], [], ["0", "1"]]
    assert [line.split(" | ")[0] for line in (tmp_path / "table.md").read_text().splitlines()
            if line.startswith("| ") and "`" in line] == ["| 1", "| 3"]  # the table lists what the shortlist trains
    # The same plan: a run without `only` trains the other archs beside the finished ones.
    everything = ground_truth.run(ground_truth.Config(**{**TINY, "archs": 4}, isolate=False), tmp_path,
                                  progress=False)
    assert all(sorted(row["test"]) == ["0", "1"] for row in everything["archs"])
    assert [everything["archs"][i]["test"] for i in (1, 3)] == [results["archs"][i]["test"] for i in (1, 3)]


@pytest.mark.parametrize("bad, message", [({"seeds": (0,)}, "seeds must be >= 2 distinct"),
                                          ({"only": (0, 5)}, r"only must list distinct arch indices in \[0, 4\]"),
                                          ({"only": (1, 1)}, "only must list distinct"),
                                          ({"only": ()}, "only must list distinct"),
                                          ({"seeds": (1, 1)}, "seeds must be >= 2 distinct"),
                                          ({"archs": 3}, "archs must be >= 4"),
                                          ({"arch_seed": -1}, "arch_seed and split_seed must be >= 0, got -1, 0")])
def test_bad_settings_are_one_clear_error(bad, message):
    with pytest.raises(ConfigError, match=message):
        ground_truth.Config(**{**TINY, **bad}).check()


def test_reliability_reports_agreeing_and_disagreeing_seeds():
    rng = np.random.default_rng(0)
    truth = np.linspace(0.80, 0.90, 12)
    agreeing = [{"test": {"0": t + rng.normal(0, 0.002), "1": t + rng.normal(0, 0.002)}, "params": i, "macs": i}
                for i, t in enumerate(truth)]
    noisy = [{"test": {"0": t + rng.normal(0, 0.05), "1": t + rng.normal(0, 0.05)}, "params": i, "macs": i}
             for i, t in enumerate(truth)]
    good = reliability(agreeing, (0, 1), higher_is_better=True)
    bad = reliability(noisy, (0, 1), higher_is_better=True)
    assert good["seed_mean_reliability_spearman"] > 0.9 > bad["seed_mean_reliability_spearman"]
    assert good["seed_noise_std"] < 0.005 < bad["seed_noise_std"]
    assert good["size_rankers"]["params"]["kendall_tau"] > 0.8
    # Seeds that rank four archs in reverse order: no reliability (not a division by zero, not a negative one).
    reversed_seeds = [{"test": {"0": float(i), "1": float(-i)}, "params": i + 1, "macs": i + 1} for i in range(4)]
    opposed = reliability(reversed_seeds, (0, 1), higher_is_better=True, resamples=20)
    assert opposed["mean_pair_spearman"] == pytest.approx(-1.0)
    assert opposed["seed_mean_reliability_spearman"] is None and opposed["perfect_ranker_tau"] is None


def test_the_band_ceiling_predicts_the_band_tau_of_the_true_scores_and_sits_below_the_whole_range_one():
    # Quality rises with cost and varies within a band by less than across bands: seeds agree over the whole
    # range but less within bands, and the band ceiling (from the seeds' band tau) must match the band tau
    # the true scores actually reach against the seed mean.
    from nas.rank_metrics import band_tau

    rng = np.random.default_rng(3)
    cost = np.arange(32)
    estimated, actual, whole = [], [], []
    for _ in range(200):
        truth = cost / 8 + rng.normal(0, 0.6, 32)
        runs = truth[:, None] + 0.4 * rng.normal(size=(32, 2))
        rows = [{"test": {"0": a, "1": b}, "params": int(c), "macs": int(c)} for (a, b), c in zip(runs, cost)]
        report = reliability(rows, (0, 1), higher_is_better=True, resamples=20)
        assert report["seed_pair_band_tau"] == pytest.approx(band_tau(runs[:, 0], runs[:, 1], cost)["mean"])
        estimated.append(report["perfect_ranker_band_tau"])
        whole.append(report["perfect_ranker_tau"])
        actual.append(band_tau(truth, runs.mean(axis=1), cost)["mean"])
    assert np.mean(estimated) == pytest.approx(np.mean(actual), abs=0.03)
    assert np.mean(whole) - np.mean(estimated) > 0.05


def test_a_run_finished_by_another_process_between_the_look_and_the_claim_is_not_trained_again(tmp_path,
                                                                                                 monkeypatch):
    from nas.claims import Claims
    from nas.standalone_truth import train_items

    claim = Claims.try_claim

    def finished_meanwhile(self, name):  # the other process wrote its summary and let go just before this claim
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "summary.json").write_text("{}")
        return claim(self, name)

    monkeypatch.setattr(Claims, "try_claim", finished_meanwhile)

    def training(index, seed):
        raise AssertionError(f"arch {index} seed {seed} was trained again")

    train_items(tmp_path, [(0, 0), (1, 0)], training, isolate=False)
    assert not list((tmp_path / "claims").glob("*.claim"))  # let go again


def test_a_resumed_items_training_time_counts_its_earlier_sessions(tmp_path):
    """An item cut short keeps its time so far; the session that finishes it adds to it."""
    config = ground_truth.Config(**{**TINY, "archs": 4}, isolate=False)
    ground_truth.run(config, tmp_path, progress=False)
    item = tmp_path / "arch-00-seed0"
    (item / "summary.json").unlink()  # as if cut short after its last checkpoint
    (item / "wall_seconds.json").unlink()
    (item / "wall_seconds.partial.json").write_text("100.0")
    results = ground_truth.run(config, tmp_path, progress=False)
    assert json.loads((item / "wall_seconds.json").read_text()) >= 100.0
    assert not (item / "wall_seconds.partial.json").exists()
    assert next(row for row in results["archs"] if row["index"] == 0)["wall_seconds"]["0"] >= 100.0
