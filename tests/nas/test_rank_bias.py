import numpy as np
import pytest
from scipy import stats

from nas.rank_bias import decision_features, group_name, leans, partial_spearman, permutation_p_value, ranking_biases


def test_group_name_reads_digit_runs_as_a_wildcard():
    assert group_name("l0.heads") == "l*.heads"
    assert group_name("s12.b3.kernel") == "s*.b*.kernel"
    assert group_name("node3.from2") == "node*.from*"
    assert group_name("depth") == "depth"


def test_decision_features_average_numeric_groups_and_share_categorical_ones():
    archs = [{"depth": 1, "l0.heads": 2, "op0": "conv", "op1": "skip", "fixed": 5},
             {"depth": 2, "l0.heads": 1, "l1.heads": 4, "op0": "conv", "op1": "conv", "fixed": 5},
             {"depth": 2, "l0.heads": 4, "l1.heads": 4, "op0": "skip", "op1": "pool", "fixed": 5}]
    features = decision_features(archs)
    np.testing.assert_allclose(features["l*.heads"], [2.0, 2.5, 4.0])   # the mean over the active layers
    np.testing.assert_allclose(features["op*=conv"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(features["op*=skip"], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(features["op*=pool"], [0.0, 0.0, 0.5])
    np.testing.assert_allclose(features["depth"], [1, 2, 2])
    assert "fixed" not in features                                          # constant over the archs


def test_a_numeric_group_missing_from_some_arch_is_left_out():
    features = decision_features([{"depth": 1}, {"depth": 2, "l1.width": 8}, {"depth": 2, "l1.width": 16}])
    assert set(features) == {"depth"}


def test_partial_spearman_matches_the_first_order_formula():
    rng = np.random.default_rng(3)
    z = rng.normal(size=40)
    x, y = z + rng.normal(size=40), z + rng.normal(size=40)
    r = lambda a, b: stats.spearmanr(a, b)[0]  # noqa: E731
    expected = (r(x, y) - r(x, z) * r(y, z)) / np.sqrt((1 - r(x, z) ** 2) * (1 - r(y, z) ** 2))
    assert partial_spearman(x, y, [z]) == pytest.approx(expected, abs=1e-9)


def _space(n, seed):
    """Archs with per-layer heads and FFN widths, a truth that rises with both, the cost of both."""
    rng = np.random.default_rng(seed)
    heads, ffn = rng.integers(1, 5, size=(n, 3)), rng.choice([64, 128, 256, 512], size=(n, 3))
    archs = [{**{f"l{i}.heads": int(h[i]) for i in range(3)}, **{f"l{i}.ffn_width": int(f[i]) for i in range(3)}}
             for h, f in zip(heads, ffn)]
    truth = np.log(ffn.mean(1)) + 0.5 * np.log(heads.mean(1)) + rng.normal(scale=0.15, size=n)
    cost = 64 * heads.sum(1) + ffn.sum(1)
    return archs, truth, cost, heads.mean(1), rng


def test_a_ranker_that_favours_heads_at_equal_quality_and_cost_is_flagged():
    archs, truth, cost, mean_heads, rng = _space(48, seed=0)
    scores = truth + 0.4 * (mean_heads - mean_heads.mean()) + rng.normal(scale=0.05, size=48)
    biases = ranking_biases(archs, scores, truth, cost, higher_is_better=True)
    top = biases["features"][0]
    assert top["feature"] == "l*.heads" and top["clear"] and top["partial_spearman"] > 0.5
    assert top["interval"][0] > 0 and top["p_value"] <= 0.025
    assert biases["threshold"] == pytest.approx(0.05 / 2)
    assert leans(biases).startswith("more l*.heads (+")


def test_a_noisy_but_unbiased_ranker_leans_on_nothing():
    archs, truth, cost, mean_heads, rng = _space(48, seed=1)
    scores = truth + rng.normal(scale=0.5, size=48)
    # The plain rank error leans against a feature that goes with quality (regression to the mean); the
    # partial correlation does not.
    error = stats.rankdata(scores) - stats.rankdata(truth)
    assert stats.spearmanr(error, decision_features(archs)["l*.ffn_width"])[0] < -0.3
    biases = ranking_biases(archs, scores, truth, cost, higher_is_better=True)
    assert not any(r["clear"] for r in biases["features"])
    assert leans(biases) == ""


def test_a_lower_is_better_score_leans_the_same_way():
    archs, truth, cost, mean_heads, rng = _space(48, seed=2)
    scores = truth - 0.4 * (mean_heads - mean_heads.mean())   # at equal truth, fewer heads scored higher
    up = ranking_biases(archs, scores, truth, cost, higher_is_better=True)
    down = ranking_biases(archs, -scores, -truth, cost, higher_is_better=False)
    assert up["features"] == down["features"]
    assert leans(up).startswith("fewer l*.heads (-")


def test_a_ranker_that_is_the_cost_has_no_defined_lean():
    archs, truth, cost, _, _ = _space(24, seed=4)
    biases = ranking_biases(archs, cost, truth, cost, higher_is_better=True)
    assert all(r["partial_spearman"] is None and not r["clear"] for r in biases["features"])


def test_mismatched_lengths_are_refused():
    archs, truth, cost, _, _ = _space(10, seed=5)
    with pytest.raises(ValueError, match="10 archs, 9 scores"):
        ranking_biases(archs, truth[:9], truth, cost, higher_is_better=True)


def test_booleans_are_numeric_and_a_two_valued_group_is_one_feature():
    features = decision_features([{"se": True, "act": "relu"}, {"se": False, "act": "swish"},
                                  {"se": True, "act": "swish"}])
    assert set(features) == {"se", "act=swish"}
    np.testing.assert_allclose(features["se"], [1, 0, 1])


def _noisy_reference(seed, *, lean=0.0):
    """Heads truly raise quality at equal cost; the reference is the mean of two noisy seeds; the ranker is
    as noisy as one seed and leans toward heads by `lean`."""
    rng = np.random.default_rng(seed)
    heads, ffn = rng.integers(1, 5, size=(40, 3)), rng.choice([64, 128, 256, 512], size=(40, 3))
    archs = [{**{f"l{i}.heads": int(h[i]) for i in range(3)}, **{f"l{i}.ffn_width": int(f[i]) for i in range(3)}}
             for h, f in zip(heads, ffn)]
    cost = 64 * heads.sum(1) + ffn.sum(1)
    truth = np.log(cost) + 0.3 * heads.mean(1)
    seeds = truth[:, None] + rng.normal(scale=0.2, size=(40, 2))
    ranker = truth + lean * heads.mean(1) + rng.normal(scale=0.2, size=40)
    return archs, ranker, seeds, cost


def test_the_seed_floor_keeps_a_noisy_reference_from_inventing_leans():
    named = {False: 0, True: 0}
    for seed in range(20):
        archs, ranker, seeds, cost = _noisy_reference(seed)
        for floor in (False, True):
            biases = ranking_biases(archs, ranker, seeds.mean(1), cost, higher_is_better=True, resamples=300,
                                    seed_table=seeds if floor else None)
            named[floor] += any(r["clear"] for r in biases["features"])
    # Without the floor the reference's under-correction of heads reads as a lean in most draws.
    assert named[False] >= 12 and named[True] <= 8, named
    archs, ranker, seeds, cost = _noisy_reference(0, lean=1.0)   # a real lean still shows above the floor
    biases = ranking_biases(archs, ranker, seeds.mean(1), cost, higher_is_better=True, seed_table=seeds)
    top = biases["features"][0]
    assert top["feature"] == "l*.heads" and top["clear"] and top["partial_spearman"] > top["seed_floor"] > 0


def test_non_finite_scores_leave_the_leans_undefined_and_a_bad_seed_table_is_refused():
    archs, truth, cost, _, _ = _space(12, seed=6)
    scores = truth.copy()
    scores[3] = np.nan
    biases = ranking_biases(archs, scores, truth, cost, higher_is_better=True)
    assert biases["features"] == [] and biases["undefined"] == "1 of the 12 scores are not finite"
    assert leans(biases) == ""
    with pytest.raises(ValueError, match="seed_table must be \\[archs, seeds\\] with 12 archs"):
        ranking_biases(archs, truth, truth, cost, higher_is_better=True, seed_table=np.ones((11, 2)))


def test_with_one_residual_direction_left_no_lean_is_told_from_chance():
    # Four archs, an intercept and two controls leave one direction: every shuffle's partial correlation
    # is +-1 or undefined (its residual inside the controls' span), so the p-value is 1, not a share of
    # undefined shuffles counted as mild ones.
    rng = np.random.default_rng(0)
    values = [permutation_p_value(x, y, [c1, c2], permutations=500)
              for x, y, c1, c2 in (rng.normal(size=(4, 4)) for _ in range(5))]
    assert all(v == 1.0 or np.isnan(v) for v in values) and values.count(1.0) >= 3, values
