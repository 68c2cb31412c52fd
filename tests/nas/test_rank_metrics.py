"""Rank statistics: definitions on hand-counted cases, ties, intervals that cover the truth, trivial rankers."""
import math

import numpy as np
import pytest

from nas.rank_metrics import (_band_tau_rows, agreement, band_tau, bootstrap_draws, bootstrap_interval, budget_pick,
                              budget_regret, cost_bands, gaussian_tau, kendall_tau, margin_over_size,
                              perfect_ranker_regret, perfect_ranker_tau, ranking_report, spearman, spearman_brown,
                              top_k_recall)


def test_kendall_and_spearman_on_hand_counted_cases():
    a = [0.1, 0.2, 0.3, 0.4]
    assert kendall_tau(a, a) == pytest.approx(1.0) and kendall_tau(a, a[::-1]) == pytest.approx(-1.0)
    assert kendall_tau(a, [0.1, 0.3, 0.4, 0.9]) == pytest.approx(1.0)
    assert kendall_tau(a, [0.1, 0.3, 0.2, 0.9]) == pytest.approx(4 / 6)  # one discordant pair of six
    assert spearman(a, np.exp(a)) == pytest.approx(1.0)


def test_ties_follow_tau_b_and_average_ranks():
    # Pairs of (x, y): x = [1, 1, 2, 3], y = [1, 2, 3, 4]. Concordant 5, discordant 0, one pair tied in x.
    # tau-b = 5 / sqrt((6 - 1) * 6).
    assert kendall_tau([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30))
    # Average ranks: x -> [1.5, 1.5, 3, 4], y -> [1, 2, 3, 4].
    x, y = np.array([1.5, 1.5, 3, 4]), np.array([1, 2, 3, 4.0])
    assert spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_undefined_rankings_are_nan_not_an_exception():
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3])) and math.isnan(spearman([2.0], [3.0]))
    with pytest.raises(ValueError, match="two scores per arch"):
        kendall_tau([1, 2], [1, 2, 3])


def test_large_rankings_do_not_build_pairwise_matrices():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=200_000)  # 2e10 pairs: a pairwise implementation would need ~160 GB
    assert kendall_tau(truth + rng.normal(size=truth.size), truth) > 0.4


def test_bootstrap_interval_covers_the_population_tau_of_a_synthetic_ranking():
    # A bivariate normal with correlation rho has population Kendall tau = 2/pi * arcsin(rho).
    rho = 0.6
    population_tau = 2 / math.pi * math.asin(rho)
    rng = np.random.default_rng(1)
    covered, widths = 0, []
    for trial in range(40):
        x = rng.normal(size=32)
        y = rho * x + math.sqrt(1 - rho ** 2) * rng.normal(size=32)
        low, high = bootstrap_interval(kendall_tau, x, y, resamples=400, seed=trial)
        covered += low <= population_tau <= high
        widths.append(high - low)
    assert covered >= 33  # nominal 95%: 38 of 40; a broken (e.g. unpaired) bootstrap covers far less
    assert 0.15 < np.median(widths) < 0.6  # n = 32: neither a point nor the whole range


@pytest.mark.parametrize("statistic", ["kendall_tau", "spearman"])
def test_the_statistic_on_all_resamples_at_once_equals_scipy_on_each(statistic):
    # Rows with ties on one or both sides, constant rows, infinities and NaN: each value must be scipy's.
    from nas import rank_metrics

    one, rows = rank_metrics.STATISTICS[statistic], {"kendall_tau": rank_metrics._kendall_tau_rows,
                                                     "spearman": rank_metrics._spearman_rows}[statistic]
    rng = np.random.default_rng(3)
    for size in (2, 3, 7, 40):
        a = rng.integers(0, 4, size=(200, size)).astype(float)
        b = rng.integers(0, 3, size=(200, size)).astype(float)
        b[::2, : size // 2] = a[::2, : size // 2]
        a[5], b[6] = 1.0, 2.0  # constant rows
        a[7, :2], b[8, -2:], a[9, 0], b[9, -1] = np.inf, -np.inf, -np.inf, np.inf  # an inf drawn twice, too
        a[10, 0], b[11, -1] = np.nan, np.nan
        expected = np.array([one(x, y) for x, y in zip(a, b)])
        np.testing.assert_allclose(rows(a, b), expected, rtol=0, atol=1e-12, equal_nan=True)
        assert np.isfinite(expected[9]) and np.isnan(expected[10])  # infinities rank; NaN propagates


@pytest.mark.parametrize("statistic", [kendall_tau, spearman])
def test_the_bootstrap_in_chunks_equals_one_scipy_call_per_resample(statistic, monkeypatch):
    from nas import rank_metrics

    monkeypatch.setattr(rank_metrics, "_ROWS_PER_CHUNK_ELEMENTS", 12 * 12 * 7)  # 7 resamples a chunk
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 5, size=12).astype(float), rng.normal(size=12)
    for level in (0.5, 0.9, 0.95):
        one_by_one = bootstrap_interval(lambda x, y: statistic(x, y), a, b, resamples=300, level=level, seed=2)
        assert bootstrap_interval(statistic, a, b, resamples=300, level=level, seed=2) == pytest.approx(
            one_by_one, abs=1e-12)
    assert all(np.isnan(bootstrap_interval(statistic, a, b, resamples=0)))


def test_cost_bands_are_equal_count_in_order_of_cost():
    band = cost_bands([5, 1, 4, 2, 3, 6], 3)
    assert band.tolist() == [2, 0, 1, 0, 1, 2]


def test_band_tau_sees_what_size_hides():
    # Within each band the ranker is perfect, across bands inverted: the overall tau is low, band tau 1.
    cost = np.array([1, 2, 3, 10, 11, 12])
    truth = np.array([1, 2, 3, 1.1, 2.1, 3.1])
    ranker = np.array([11, 12, 13, 1, 2, 3])
    result = band_tau(ranker, truth, cost, bands=2)
    assert result["per_band"] == [pytest.approx(1.0), pytest.approx(1.0)] and result["mean"] == pytest.approx(1.0)
    assert kendall_tau(ranker, truth) < 0.5
    assert band_tau([1, 1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4], bands=4)["per_band"] == [None] * 4


def test_top_k_recall_counts_the_true_top_k_found():
    truth = np.arange(10.0)
    assert top_k_recall(truth, truth, 3) == 1.0
    assert top_k_recall(-truth, truth, 3) == 0.0
    assert top_k_recall(np.array([9, 8, 0, 0, 0, 0, 0, 0, 0, 7.0]), truth, 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="k must be in 1..10"):
        top_k_recall(truth, truth, 11)


def test_spearman_brown():
    assert spearman_brown(0.5, 2) == pytest.approx(2 / 3)
    assert spearman_brown(0.74, 2) == pytest.approx(0.8506, abs=1e-4)
    assert spearman_brown(0.3, 1) == pytest.approx(0.3)
    # Seeds that disagree have no reliable mean (at -1/(k-1) the formula divides by zero); unrelated ones, 0.
    assert np.isnan(spearman_brown(-1.0, 2)) and np.isnan(spearman_brown(-0.2, 3)) and spearman_brown(0.0, 2) == 0


@pytest.mark.parametrize("noise, seeds, tails", [(0.4, 2, None), (0.8, 2, None), (0.8, 4, None), (0.5, 2, 3)])
def test_perfect_ranker_tau_predicts_the_tau_of_the_true_scores_against_a_noisy_seed_mean(noise, seeds, tails):
    # 32 archs with known true scores, each measured `seeds` times with noise: the estimate, made from two
    # seeds' tau only, must match the tau the true scores actually reach against the seed mean.
    rng = np.random.default_rng(7)
    actual, estimated, pair_actual, pair_modelled, reliabilities = [], [], [], [], []
    for _ in range(300):
        truth = rng.normal(size=32)
        # normal noise, or Student-t with `tails` degrees of freedom (heavy-tailed, as the MLP's seeds are)
        draw = rng.normal(size=(32, seeds)) if tails is None else rng.standard_t(tails, size=(32, seeds))
        runs = truth[:, None] + noise * draw
        actual.append(kendall_tau(truth, runs.mean(axis=1)))
        pearson = float(np.corrcoef(runs[:, 0], runs[:, 1])[0, 1])
        estimated.append(perfect_ranker_tau(kendall_tau(runs[:, 0], runs[:, 1]), seeds))
        reliabilities.append(spearman_brown(pearson, seeds))
        pair_actual.append(kendall_tau(runs[:, 0], runs[:, 1]))
        pair_modelled.append(gaussian_tau(pearson))
    assert np.mean(estimated) == pytest.approx(np.mean(actual), abs=0.02)
    if tails is None:  # the Pearson-based model of the seeds' tau holds for normal noise only
        assert np.mean(pair_modelled) == pytest.approx(np.mean(pair_actual), abs=0.02)
    # The ceiling is below 1 and not the reliability itself (a correlation of another kind).
    assert np.mean(actual) < 0.95
    assert np.nanmean(reliabilities) - np.mean(actual) > 0.05  # NaN: a draw whose seeds correlate negatively


def test_perfect_ranker_regret_predicts_the_regret_of_the_true_scores_against_a_noisy_seed_mean():
    # The estimate sees only the seed table; the actual is what the true-score ranker's regret against the
    # noisy seed mean averages to over many noisy ground truths of the same archs.
    rng = np.random.default_rng(3)
    actual, estimated = [], []
    for _ in range(5):
        # The model's world: scores rise with log cost (as size makes them) and scatter around that trend.
        cost = np.exp(rng.uniform(0, 4, size=32))
        truth = 0.02 * np.log(cost) + 0.01 * rng.normal(size=32)
        for trial in range(60):
            table = truth[:, None] + 0.03 * rng.normal(size=(32, 2))
            mean = table.mean(axis=1)
            actual.append([budget_regret(truth, mean, cost, np.quantile(cost, q))["regret"]
                           for q in (0.25, 0.5, 0.75)])
            estimated.append(perfect_ranker_regret(table, cost, higher_is_better=True, draws=200, seed=trial))
    actual, estimated = np.mean(actual, axis=0), np.mean(estimated, axis=0)
    assert np.all(actual > 0.005)   # the noise does decide near-ties here
    # Within 25% (measured 0.93-1.19); without the shrinkage the estimate halves, without the posterior's
    # spread it overshoots by ~1.3.
    np.testing.assert_allclose(estimated, actual, rtol=0.25)
    # Lower-is-better scores: the same floor for the negated table.
    np.testing.assert_allclose(perfect_ranker_regret(-table, cost, higher_is_better=False, draws=200, seed=1),
                               perfect_ranker_regret(table, cost, higher_is_better=True, draws=200, seed=1))
    with pytest.raises(ValueError, match="archs x seeds"):
        perfect_ranker_regret(table[:, :1], cost, higher_is_better=True)
    # Costs of zero (no log) and one cost for all (no trend) still give finite figures.
    for odd_cost in (np.r_[0.0, cost[1:]], np.ones_like(cost)):
        assert np.all(np.isfinite(perfect_ranker_regret(table, odd_cost, higher_is_better=True, draws=50)))


def test_perfect_ranker_tau_is_undefined_without_positive_agreement():
    assert math.isnan(perfect_ranker_tau(-0.2, 2)) and math.isnan(perfect_ranker_tau(float("nan"), 2))
    assert perfect_ranker_tau(1.0, 2) == pytest.approx(1.0)


def test_band_tau_on_all_resamples_at_once_equals_band_tau_on_each():
    rng = np.random.default_rng(3)
    cost = rng.integers(0, 12, 20).astype(float)  # ties in cost: bands keep input order, as band_tau does
    reference = rng.normal(size=20)
    ranker = np.round(reference + rng.normal(0, 0.7, 20))  # ties in the scores
    draws = bootstrap_draws(20, resamples=300, seed=4)
    rows = _band_tau_rows(ranker[draws], reference[draws], cost[draws], 3)
    each = [band_tau(ranker[d], reference[d], cost[d], bands=3)["mean"] for d in draws]
    each = np.array([np.nan if t is None else t for t in each])
    assert np.array_equal(np.isnan(rows), np.isnan(each)) and np.allclose(rows[~np.isnan(rows)], each[~np.isnan(each)])
    constant = _band_tau_rows(np.ones((2, 6)), np.arange(12.0).reshape(2, 6), np.arange(12.0).reshape(2, 6), 2)
    assert np.isnan(constant).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_paired_margin_over_size_tells_apart_what_separate_intervals_cannot(seed):
    # The ranker mends part of size's mistakes: better on every resample, by a margin smaller than either
    # tau's own interval is wide.
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=32)
    size = reference + rng.normal(0, 0.8, 32)
    ranker = 0.6 * size + 0.4 * reference
    low, _ = bootstrap_interval(kendall_tau, ranker, reference)
    assert low < kendall_tau(size, reference)  # separate intervals: "not clearly"
    margin = margin_over_size(ranker, reference, {"params": size}, size)["kendall_tau"]
    assert margin["rival"] == "params" and margin["interval"][0] > 0
    # Against two size rankers the difference is from the better one on each resample, so an equal rival
    # beside a weak one leaves a margin of exactly 0.
    tied = margin_over_size(ranker, reference, {"params": reference + rng.normal(0, 3, 32), "macs": ranker}, size)
    assert tied["kendall_tau"]["rival"] == "macs" and tied["kendall_tau"]["interval"] == [0.0, 0.0]
    assert margin["difference"] == pytest.approx(kendall_tau(ranker, reference) - kendall_tau(size, reference))


def test_the_margin_over_size_is_against_the_stronger_size_ranker_and_can_be_negative():
    rng = np.random.default_rng(5)
    reference = rng.normal(size=24)
    cost = rng.permutation(24).astype(float)
    strong, weak = reference + rng.normal(0, 0.3, 24), reference + rng.normal(0, 3, 24)
    margins = margin_over_size(weak, reference, {"params": weak, "macs": strong}, cost, resamples=500)
    assert margins["kendall_tau"]["rival"] == "macs" and margins["kendall_tau"]["interval"][1] < 0
    assert margins["band_tau"]["rival"] == "macs" and margins["band_tau"]["difference"] < 0
    itself = margin_over_size(strong, reference, {"macs": strong}, cost, resamples=100)
    assert itself["kendall_tau"] == {"rival": "macs", "difference": 0.0, "interval": [0.0, 0.0]}
    assert itself["band_tau"] == {"rival": "macs", "difference": 0.0, "interval": [0.0, 0.0]}
    failed = strong.copy()
    failed[3] = np.nan  # a ranker that failed on an arch has no margin, not one over the archs left
    for margin in margin_over_size(failed, reference, {"macs": weak}, cost, resamples=100).values():
        assert margin["difference"] is None and margin["interval"] == [None, None]
    with pytest.raises(ValueError, match="no size ranker"):
        margin_over_size(strong, reference, {}, cost)


def test_report_orients_scores_and_sizes_for_lower_is_better_metrics():
    # bits per char: lower is better, and the bigger archs are better here.
    params = np.array([1, 2, 3, 4, 5, 6.0])
    bits = np.array([3.0, 2.9, 2.8, 2.7, 2.6, 2.5])
    supernet = bits + np.array([0, 0.3, -0.3, 0, 0.3, 0])  # some mistakes
    report = ranking_report(supernet, bits, higher_is_better=False, params=params, macs=params * 10, k=2,
                            resamples=50)
    assert report["params"]["kendall_tau"] == pytest.approx(1.0)
    assert 0 < report["ranker"]["kendall_tau"] < 1
    assert report["ranker"]["top_2_recall"] == 0.5  # picks archs 2 and 5; the best two are 4 and 5
    assert set(report) == {"ranker", "params", "macs"}
    assert report["ranker"]["over_size"]["kendall_tau"]["difference"] == pytest.approx(
        report["ranker"]["kendall_tau"] - 1.0)  # size ranks these perfectly: the ranker is behind
    assert agreement([1, 2, 3], [1, 2, 3], resamples=10)["kendall_tau_interval"][0] == pytest.approx(1.0)
    # Without the size rows the ranker's own report, its margin over size included, is the same.
    alone = ranking_report(supernet, bits, higher_is_better=False, params=params, macs=params * 10, k=2,
                           resamples=50, size_rows=False)
    assert set(alone) == {"ranker"} and alone["ranker"] == report["ranker"]


def test_budget_regret_compares_the_pick_with_the_best_within_the_same_budget():
    cost = np.array([1, 2, 3, 4.0])
    truth = np.array([0.80, 0.85, 0.84, 0.90])
    ranker = np.array([0.1, 0.2, 0.9, 1.0])  # prefers arch 2 among the first three
    result = budget_regret(ranker, truth, cost, 3)
    assert (result["index"], result["feasible"]) == (2, 3) and budget_pick(ranker, cost, 3) == 2
    assert result["regret"] == pytest.approx(0.01) and result["best"] == pytest.approx(0.85)
    assert budget_regret(ranker, truth, cost, 10)["regret"] == 0.0
    with pytest.raises(ValueError, match="no arch costs <= 0.5"):
        budget_regret(ranker, truth, cost, 0.5)
    # Lower-is-better scores: the regret comes back in their unit, positive when the pick is worse.
    bits = np.array([3.0, 2.8, 2.9, 2.5])
    report = ranking_report(np.array([3.0, 2.95, 2.7, 2.5]), bits, higher_is_better=False, macs=cost, resamples=20)
    regrets = [r["regret"] for r in report["ranker"]["regret"]]  # budgets 1.75, 2.5, 3.25
    assert regrets == [0.0, 0.0, pytest.approx(0.1)]  # at 3.25 it picks arch 2 (2.9 bits) over arch 1 (2.8)
    last = report["ranker"]["regret"][2]  # the pick's and the best's scores in bits, as the task reports them
    assert (last["reference"], last["best"]) == (pytest.approx(2.9), pytest.approx(2.8))
    assert report["macs"]["regret"][2]["best"] == pytest.approx(2.8)


def test_an_arch_the_ranker_failed_on_is_never_its_pick_and_leaves_no_interval():
    cost, truth = np.array([1, 2, 3, 4.0]), np.array([0.1, 0.2, 0.3, 0.9])
    failed = np.array([np.nan, 1.0, 2.0, 3.0])
    assert budget_pick(failed, cost, 4) == 3 and budget_regret(failed, truth, cost, 1)["index"] == 0  # nothing else
    report = agreement(failed, truth, cost=cost, resamples=50)
    assert report["kendall_tau"] is None and report["kendall_tau_interval"] == [None, None]
    assert report["regret"][2]["regret"] == pytest.approx(0.0)  # budget 3.25: arch 2, the best of 0-2
