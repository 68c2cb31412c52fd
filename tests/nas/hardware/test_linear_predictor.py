"""The ridge model: recovers an additive latency, chooses its own strength, is pulled to a prior."""
import numpy as np
import pytest

from nas.hardware.linear_predictor import ALPHAS, LinearPredictor, ridge_solve


def test_recovers_an_additive_latency_exactly(mlp_counter, vectors_of):
    space = mlp_counter.space
    truth = LinearPredictor(space, np.random.default_rng(0).uniform(0.0, 0.5, space.num_features), 1.5)
    vectors = vectors_of(space, 60, seed=1)
    fitted = LinearPredictor(space).fit(vectors, np.asarray(truth(vectors)), alpha=1e-6)
    held_out = vectors_of(space, 30, seed=2)
    np.testing.assert_allclose(fitted(held_out), truth(held_out), rtol=1e-3)


def test_leave_one_out_prefers_weak_ridge_on_clean_data_and_strong_on_noise():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (80, 10)).astype(float)
    clean = x @ rng.uniform(1, 2, 10)
    assert ridge_solve(x, clean)[2] == ALPHAS[0]
    assert ridge_solve(x, rng.normal(size=80))[2] >= 10.0  # no signal: shrink to the mean


def test_leave_one_out_error_matches_refitting_without_each_point():
    """The closed-form leave-one-out choice equals the brute-force one."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (25, 6)).astype(float)
    y = x @ rng.normal(size=6) + rng.normal(scale=0.5, size=25)

    def brute(alpha):
        errors = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            w, b, _ = ridge_solve(x[keep], y[keep], alpha)
            errors.append((x[i] @ w + b - y[i]) ** 2)
        return np.mean(errors)
    assert ridge_solve(x, y)[2] == min(ALPHAS, key=brute)


def test_a_prior_pulls_few_samples_towards_it(mlp_counter, vectors_of):
    space = mlp_counter.space
    weights = np.random.default_rng(3).uniform(0.0, 0.5, space.num_features)
    source = LinearPredictor(space, weights, 1.0)
    target = LinearPredictor(space, weights * 1.1, 0.5)  # the same costs on a slightly slower device
    few, held_out = vectors_of(space, 4, seed=4), vectors_of(space, 40, seed=5)
    alone = LinearPredictor(space).fit(few, np.asarray(target(few)), alpha=1.0)
    adapted = LinearPredictor(space).fit(few, np.asarray(target(few)), alpha=1.0, prior=source)
    error = lambda p: float(np.mean(np.abs(np.asarray(p(held_out)) - np.asarray(target(held_out)))))  # noqa: E731
    assert error(adapted) < 0.5 * error(alone)


def test_payload_of_another_space_is_refused(mlp_counter, mbv3_counter):
    payload = LinearPredictor(mlp_counter.space).payload()
    with pytest.raises(ValueError, match="weights for"):
        LinearPredictor.from_payload(mbv3_counter.space, payload)
