"""Few-sample adaptation: a predictor of one device plus a few archs of another. The devices here are
synthetic (known additive costs), labelled so; no device's measurements are claimed."""
import csv

import jax
import numpy as np
import pytest

from nas.hardware.adapt import AdaptedPredictor, adapt, fit_adapted
from nas.hardware.csv_import import import_csv
from nas.hardware.linear_predictor import LinearPredictor
from nas.hardware.predictor_io import load_predictor, save_predictor
from nas.hardware.tables import one_hot_probs

OPTIONS = {"max_width": 64, "width_steps": 8, "max_layers": 3}


@pytest.fixture(scope="module")
def devices(tmp_path_factory):
    """A source device's predictor file and a new device's collection of 200 archs (synthetic)."""
    from nas.hardware.counters import load_counter

    counter = load_counter("mlp", OPTIONS)
    space, rng = counter.space, np.random.default_rng(0)
    weights = rng.uniform(0.01, 0.3, space.num_features)
    root = tmp_path_factory.mktemp("adapt")
    source = save_predictor(root / "source.json", LinearPredictor(space, weights, 0.5), space_spec="mlp",
                            options=OPTIONS,
                            input_shape=(28, 28, 1), batch=1, device={"name": "synthetic-source"},
                            device_fingerprint="synthetic")
    archs = list({a.to_string(): a for a in (space.sample(rng) for _ in range(400))}.values())[:200]
    features = np.asarray(space.features_jax(np.stack([a.to_vector() for a in archs])))
    # The new device: 1.7x slower, and a few decision values cost differently; 2% noise.
    target_weights = 1.7 * weights * np.where(rng.uniform(size=weights.size) < 0.2, 1.6, 1.0)
    latency = (0.2 + features @ target_weights) * rng.uniform(0.98, 1.02, len(archs))
    with open(root / "new.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "latency_ms"])
        writer.writerows((a.to_string(), f"{ms:.6f}") for a, ms in zip(archs, latency))
    run = root / "new"
    import_csv(root / "new.csv", run, space="mlp", options=OPTIONS, device="synthetic-new")
    return source, run, counter


def test_adapted_beats_a_model_of_the_few_archs_alone(devices, tmp_path):
    source, run, _ = devices
    result = adapt([source], run, tmp_path / "out", samples=10, curve=(5, 20), repeats=3)
    curve = result["curve"]
    assert curve["adapted"]["5"] > curve["linear_alone"]["5"] + 0.1
    assert curve["adapted"]["20"] > 0.8 and result["held_out"]["kendall_tau"] > 0.6
    assert result["sources"] == ["synthetic-source"] and result["device"] == "synthetic-new"
    assert (tmp_path / "out" / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_adapted_predictor_round_trips_and_has_a_relaxed_form(devices, tmp_path):
    source, run, counter = devices
    adapt([source], run, tmp_path / "out", samples=12)
    loaded, document = load_predictor(tmp_path / "out" / "adapted.json", counter)
    assert isinstance(loaded, AdaptedPredictor) and document["kind"] == "adapted"
    vectors = np.stack([counter.space.sample(np.random.default_rng(i)).to_vector() for i in range(8)])
    hard = np.asarray(loaded(vectors))
    np.testing.assert_allclose(np.asarray(jax.jit(loaded.expected)(one_hot_probs(counter.space, vectors))), hard,
                               rtol=1e-5)
    assert len(np.unique(np.round(hard, 5))) > 4


def test_with_few_archs_the_sources_are_rescaled():
    """Three archs: the fit stays near the source, rescaled, rather than chasing the features."""
    rng = np.random.default_rng(0)
    source = rng.uniform(1, 10, (3, 1))
    fitted = fit_adapted(source, rng.integers(0, 2, (3, 12)).astype(float), 2.0 * source[:, 0])
    assert fitted["coefficients"][0] == pytest.approx(2.0, rel=0.05)


def test_bad_adapt_settings_are_one_line(devices, tmp_path):
    from click.testing import CliRunner

    from nas.cli import main

    source, run, _ = devices
    for args, expected in ((["--samples", "2"], "--samples must be in 3.."),
                           (["--curve", "5,5000"], "--curve sizes must be in 3.."),
                           (["--curve", "a"], "--curve must be comma-separated")):
        result = CliRunner().invoke(main, ["latency", "adapt", "--source", str(source), "--run", str(run),
                                           "--out", str(tmp_path / "o"), *args])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and expected in result.output, result.output
        assert not (tmp_path / "o").exists()  # refused before anything is written
