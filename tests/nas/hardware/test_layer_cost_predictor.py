"""The per-layer-kind cost model: its features, what it recovers from few archs, and its payload checks."""
import numpy as np
import pytest

from nas.hardware.layer_cost_predictor import LayerCostPredictor
from nas.hardware.linear_predictor import LinearPredictor
from nas.hardware.lut_predictor import LutPredictor
from nas.hardware.metrics import kendall_tau
from nas.hardware.tables import config_key


def _physical_latency(counter, vectors):
    """Per layer: a per-type time per multiply-add (depthwise slower than dense convolutions) plus a fixed
    cost per layer; the kind of latency a single core shows."""
    per_mmac = {"conv2d": 0.08, "depthwise": 0.5, "dense": 0.1, "batch_norm": 0.0}
    lut = {config_key(c): 0.01 + per_mmac.get(c["type"], 0.2) * counter.cost_model.count(c)[0] / 1e6
           for c in counter.layers.distinct_configs()}
    return np.asarray(LutPredictor(counter, lut, 1.0, 0.5)(vectors), float)


def test_features_sum_the_counts_the_counter_gives(mbv3_counter, vectors_of):
    predictor = LayerCostPredictor(mbv3_counter)
    vectors = vectors_of(mbv3_counter.space, 10)
    features = predictor.features(vectors)
    macs = [i for i, name in enumerate(predictor.feature_names) if name.startswith("macs:")]
    layers = [i for i, name in enumerate(predictor.feature_names) if name.startswith("layers:")]
    np.testing.assert_allclose(features[:, macs].sum(axis=1) * 1e6, np.asarray(mbv3_counter.macs(vectors), float),
                               rtol=1e-5)
    counted = np.asarray(mbv3_counter.layers.index_and_active(vectors, np)[1]).sum(axis=1)
    np.testing.assert_array_equal(features[:, layers].sum(axis=1), counted)
    # Deeper archs have more layers, and the smallest arch fewer than the largest in every quantity.
    assert features[0, layers].sum() < features[1, layers].sum()


def test_few_archs_rank_a_physical_latency_better_than_one_hot(mbv3_counter, vectors_of):
    space = mbv3_counter.space
    train, held_out = vectors_of(space, 30, seed=1), vectors_of(space, 60, seed=2)[2:]
    latency = _physical_latency(mbv3_counter, train)
    truth = _physical_latency(mbv3_counter, held_out)
    by_cost = np.asarray(LayerCostPredictor(mbv3_counter).fit(train, latency)(held_out))
    by_choice = np.asarray(LinearPredictor(space).fit(train, latency)(held_out))
    assert kendall_tau(by_cost, truth) > 0.95
    assert kendall_tau(by_cost, truth) > kendall_tau(by_choice, truth) + 0.1
    np.testing.assert_allclose(by_cost, truth, rtol=0.02)


def test_payload_of_another_network_is_refused(mlp_counter, mbv3_counter):
    payload = LayerCostPredictor(mlp_counter).payload()
    with pytest.raises(ValueError, match="layer groups"):
        LayerCostPredictor.from_payload(mbv3_counter, payload)
