"""Predictors: relaxed = hard at one-hot weights, fits recover what they should, JSON round trip,
and a predictor refuses a space of another version."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas.hardware.counters import CostCounter
from nas.hardware.flops_proxy import FlopsProxy
from nas.hardware.layer_cost_predictor import LayerCostPredictor
from nas.hardware.linear_predictor import LinearPredictor
from nas.hardware.lut_predictor import LutPredictor
from nas.hardware.metrics import kendall_tau, summary, within
from nas.hardware.mlp_predictor import MlpPredictor
from nas.hardware.predictor_io import PredictorError, load_predictor, save_predictor
from nas.hardware.tables import config_key, one_hot_probs, softmax_probs
from nas.space import Space


def _synthetic_lut(counter, seed=0):
    rng = np.random.default_rng(seed)
    return {config_key(c): float(rng.uniform(0.05, 0.5)) for c in counter.layers.distinct_configs()}


def test_lut_fit_recovers_scale_and_overheads(mbv3_counter, vectors_of):
    truth = LutPredictor(mbv3_counter, _synthetic_lut(mbv3_counter), 1.3, 0.7, -0.02)
    vectors = vectors_of(mbv3_counter.space, 40)
    predictor = LutPredictor(mbv3_counter, _synthetic_lut(mbv3_counter)).fit(vectors, np.asarray(truth(vectors)))
    assert predictor.scale == pytest.approx(1.3, rel=1e-3) and predictor.overhead_ms == pytest.approx(0.7, rel=1e-2)
    assert predictor.per_layer_ms == pytest.approx(-0.02, rel=1e-2)


@pytest.mark.parametrize("kind", ["lut", "mlp", "linear", "layer-cost", "flops"])
def test_relaxed_predictor_equals_hard_at_one_hot(kind, mbv3_counter, vectors_of):
    space = mbv3_counter.space
    weights = np.random.default_rng(4).uniform(0.0, 0.2, space.num_features)
    predictor = {"lut": lambda: LutPredictor(mbv3_counter, _synthetic_lut(mbv3_counter), 1.2, 0.3, -0.01),
                 "mlp": lambda: MlpPredictor.create(space, seed=1),
                 "linear": lambda: LinearPredictor(space, weights, 0.4),
                 "layer-cost": lambda: _layer_cost(mbv3_counter),
                 "flops": lambda: FlopsProxy(mbv3_counter, 0.2, 0.1)}[kind]()
    vectors = vectors_of(space, 12, seed=5)
    hard = jax.jit(predictor)(vectors)
    relaxed = jax.jit(predictor.expected)(one_hot_probs(space, vectors))
    np.testing.assert_allclose(relaxed, hard, rtol=1e-5)
    assert len(np.unique(np.round(np.asarray(hard), 6))) > 6  # not a constant
    # And it is differentiable in the architecture logits.
    logits = jnp.zeros((space.num_decisions, max(space.choice_counts)))
    grad = jax.jit(jax.grad(lambda l: predictor.expected(softmax_probs(space, l))))(logits)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_mlp_learns_a_layerwise_latency(mbv3_counter, vectors_of):
    """Truth: per layer config 0.02 ms + 0.3 ms per M multiply-adds, each config off by up to 20%."""
    space, rng = mbv3_counter.space, np.random.default_rng(3)
    lut = {config_key(c): 0.02 + 0.3e-6 * mbv3_counter.cost_model.count(c)[0] * rng.uniform(0.8, 1.2)
           for c in mbv3_counter.layers.distinct_configs()}
    vectors = vectors_of(space, 300, seed=6)
    latency = np.asarray(LutPredictor(mbv3_counter, lut, 1.0, 0.5)(vectors))
    predictor = MlpPredictor.create(space).fit(vectors[:240], latency[:240], steps=1500)
    predicted = np.asarray(predictor(vectors[240:]))
    untrained = np.asarray(MlpPredictor.create(space)(vectors[240:]))
    assert kendall_tau(predicted, latency[240:]) > 0.7 > kendall_tau(untrained, latency[240:])
    assert within(predicted, latency[240:], 0.10) > 0.9


def test_metrics_on_known_values():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert within([1.05, 1.2, 0.95], [1.0, 1.0, 1.0]) == pytest.approx(2 / 3)
    assert summary([2.0, 2.0], [1.0, 3.0])["rmse_ms"] == pytest.approx(1.0)
    # One held-out arch ranks nothing: null in the report (NaN is not valid JSON).
    import json
    assert json.loads(json.dumps(summary([1.0], [1.1]), allow_nan=False))["kendall_tau"] is None


def _save(path, predictor, space_spec, options, input_shape=(28, 28, 1)):
    return save_predictor(path, predictor, space_spec=space_spec, options=options, input_shape=input_shape,
                          batch=1, device={"backend": "cpu"}, device_fingerprint="test")


def _layer_cost(counter):
    predictor = LayerCostPredictor(counter)
    weights = np.random.default_rng(6).uniform(0.0, 0.2, len(predictor.feature_names))
    return LayerCostPredictor(counter, weights, 0.4)


@pytest.mark.parametrize("kind", ["lut", "mlp", "linear", "layer-cost"])
def test_round_trip_predicts_the_same(kind, tmp_path, mbv3_counter, vectors_of):
    from nas.definition import get_definition

    options = get_definition("mobilenetv3").resolve_options(input_shape=(28, 28, 1))
    space = mbv3_counter.space
    predictor = {"lut": lambda: LutPredictor(mbv3_counter, _synthetic_lut(mbv3_counter), 1.1, 0.2, -0.01),
                 "mlp": lambda: MlpPredictor.create(space, seed=2),
                 "linear": lambda: LinearPredictor(space, np.linspace(0.0, 0.3, space.num_features), 0.2, 1.0),
                 "layer-cost": lambda: _layer_cost(mbv3_counter),
                 }[kind]()
    path = _save(tmp_path / f"{kind}.json", predictor, "mobilenetv3", options)
    loaded, document = load_predictor(path)
    vectors = vectors_of(mbv3_counter.space, 8)
    np.testing.assert_allclose(loaded(vectors), predictor(vectors), rtol=1e-6)
    assert document["space"]["version"] == 1 and document["device_fingerprint"] == "test"
    assert not path.read_bytes().startswith(b"\x80")  # JSON, never pickle


def test_wrong_space_version_fails_clearly(tmp_path, mlp_counter, small_mlp):
    path = _save(tmp_path / "mlp.json", MlpPredictor.create(mlp_counter.space), "mlp", small_mlp, (2, 2, 3))
    load_predictor(path, mlp_counter)  # the right version loads
    space_v2 = Space(mlp_counter.space.name, list(mlp_counter.space.decisions), version=2)
    with pytest.raises(PredictorError, match=r"fitted for space 'mlp' v1 .*not space 'mlp' v2"):
        load_predictor(path, CostCounter(space_v2, mlp_counter.cost_model))
    with pytest.raises(PredictorError, match="not space 'mobilenetv3'"):
        from nas.hardware.counters import load_counter
        load_predictor(path, load_counter("mobilenetv3"))


def test_predictor_of_another_width_fails_clearly(tmp_path, mbv3_counter):
    """A width multiplier keeps the decisions (and the space fingerprint) but changes every layer."""
    from nas.definition import get_definition

    half = get_definition("mobilenetv3").resolve_options({"width_mult": 0.5}, input_shape=(28, 28, 1))
    path = _save(tmp_path / "mlp.json", MlpPredictor.create(mbv3_counter.space), "mobilenetv3", half)
    load_predictor(path)  # its own network loads
    with pytest.raises(PredictorError, match=r"options .*'width_mult': 0.5.*not this network"):
        load_predictor(path, mbv3_counter)


def test_not_a_predictor_fails_clearly(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(PredictorError, match="not a weft latency predictor"):
        load_predictor(tmp_path / "x.json")
    with pytest.raises(PredictorError, match="does not exist"):
        load_predictor(tmp_path / "missing.json")


def test_damaged_predictor_fails_clearly(tmp_path, mlp_counter, small_mlp):
    import json

    path = _save(tmp_path / "mlp.json", MlpPredictor.create(mlp_counter.space), "mlp", small_mlp, (2, 2, 3))
    document = json.loads(path.read_text())
    del document["space"]["input_shape"]
    (tmp_path / "no_shape.json").write_text(json.dumps(document))
    with pytest.raises(PredictorError, match=r"damaged: missing space.input_shape"):
        load_predictor(tmp_path / "no_shape.json")
    document = json.loads(path.read_text())
    document["payload"] = {"nonsense": 1}
    (tmp_path / "bad_payload.json").write_text(json.dumps(document))
    with pytest.raises(PredictorError, match=r"damaged: its mlp payload cannot be read"):
        load_predictor(tmp_path / "bad_payload.json", mlp_counter)


@pytest.mark.parametrize("fixture", ["mlp_counter", "mbv3_counter"])
def test_fast_features_equal_space_features(fixture, request, vectors_of):
    from nas.hardware.features import RelaxedFeatures

    space = request.getfixturevalue(fixture).space
    vectors = vectors_of(space, 20, seed=7)
    features = RelaxedFeatures(space)
    np.testing.assert_array_equal(jax.jit(features.hard)(vectors), space.features_jax(vectors))
    np.testing.assert_array_equal(jax.jit(features)(one_hot_probs(space, vectors)), space.features_jax(vectors))
    predictor = MlpPredictor.create(space, seed=3)
    np.testing.assert_allclose(jax.jit(predictor.apply)(predictor.params, vectors), predictor(vectors), rtol=1e-6)
