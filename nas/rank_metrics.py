"""How well one ranking of architectures agrees with another: the one set of rank statistics every report uses.

A supernet's (or a predictor's) scores are compared with a reference (stand-alone training, measured
latency). The statistics:

- `kendall_tau` (tau-b: ties in either ranking count as neither concordant nor discordant) and `spearman`
  (average ranks for ties); both O(n log n) through scipy, NaN when either side is constant; `pearson` (the
  seeds' linear agreement), NaN likewise.
- `bootstrap_interval`: a paired bootstrap over archs (resample archs with replacement, recompute the
  statistic): the 95% percentile interval a reader needs to tell two rankers apart at n = 32.
- `band_tau`: tau within cost bands (equal-count bands of the cost), pair-weighted over the bands: the
  decision a budgeted search makes is among archs of similar cost, where sorting by size says little.
- `top_k_recall`: how many of the reference's top k are in the ranker's top k.
- `budget_regret`: under a cost budget, the reference score of the arch the ranker picks against the best
  reference score within the same budget (what a user loses by trusting the ranker).
- `spearman_brown`: the reliability of a mean of k repeated measurements from the correlation of two.
- `perfect_ranker_tau`: the Kendall tau a ranker that knew every arch's noise-free score would reach
  against the mean of k noisy measurements: the ceiling of any ranker's tau against that reference, in
  tau's own unit (a reliability is a correlation of the squared kind, not comparable with a tau).
- `perfect_ranker_regret`: the budget regret that same ranker is expected to show against the noisy seed
  mean (modelled: near-ties in the truth are decided by the reference's noise).
- `margin_over_size`: what a ranker adds over sorting by size: its tau (whole range and within cost bands)
  minus the strongest size ranker's, with a paired bootstrap interval (all scored on the same resampled
  archs, so the variation from which archs were drawn, shared by both taus, leaves the difference).
- `ranking_report`: all of the above for one ranker against the reference, and the same for the trivial
  rankers (parameters, multiply-adds) on the same archs, so a table shows what the ranker adds over size.

Scores are oriented by `higher_is_better`; every statistic treats "better" as "ranked first".
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"rank statistics need two scores per arch; got {a.size} and {b.size} values")
    return a, b


def _constant(values: np.ndarray) -> bool:
    return values.size < 2 or bool(np.all(values == values[0]))


def kendall_tau(a, b) -> float:
    """Kendall's tau-b; NaN when fewer than two archs or either ranking is constant."""
    a, b = _pair(a, b)
    if _constant(a) or _constant(b):
        return float("nan")
    return float(stats.kendalltau(a, b).statistic)


def spearman(a, b) -> float:
    """Spearman's rho on average ranks; NaN when fewer than two archs or either ranking is constant."""
    a, b = _pair(a, b)
    if _constant(a) or _constant(b):
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def pearson(a, b) -> float:
    """Pearson's r; NaN (without a warning) when either side is constant."""
    a, b = _pair(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.corrcoef(a, b)[0, 1])


STATISTICS = {"kendall_tau": kendall_tau, "spearman": spearman}


def _pair_signs(x: np.ndarray) -> np.ndarray:
    """sign(x_i - x_j) over the pairs i < j of each row, from comparisons (inf - inf would be NaN), as int8."""
    upper = np.triu(np.ones((x.shape[1], x.shape[1]), bool), k=1)
    above, below = x[:, :, None] > x[:, None, :], x[:, :, None] < x[:, None, :]
    return (above.astype(np.int8) - below.astype(np.int8))[:, upper]


def _kendall_tau_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`kendall_tau` of each row pair of two (resamples, archs) arrays: tau-b from the pairs' signs (a pair
    tied on one side leaves that side's denominator; tied on both, it counts nowhere, as in scipy); NaN
    where a row holds a NaN or is constant."""
    sign_a, sign_b = _pair_signs(a), _pair_signs(b)
    untied_a = np.abs(sign_a).sum(axis=1, dtype=np.int64)
    untied_b = np.abs(sign_b).sum(axis=1, dtype=np.int64)
    concordance = (sign_a * sign_b).sum(axis=1, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = concordance / np.sqrt(untied_a.astype(float) * untied_b)
    defined = (untied_a > 0) & (untied_b > 0) & ~np.isnan(a).any(axis=1) & ~np.isnan(b).any(axis=1)
    return np.where(defined, tau, np.nan)


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`spearman` of each row pair: Pearson's r of the average ranks, NaN where a row is constant."""
    rank_a, rank_b = stats.rankdata(a, axis=1), stats.rankdata(b, axis=1)
    rank_a -= rank_a.mean(axis=1, keepdims=True)
    rank_b -= rank_b.mean(axis=1, keepdims=True)
    scale = np.sqrt((rank_a ** 2).sum(axis=1) * (rank_b ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rank_a * rank_b).sum(axis=1) / scale
    return np.where(scale > 0, rho, np.nan)


# The statistics a bootstrap computes on every resample at once: 2000 scipy calls take seconds per interval,
# and a ground truth's table is rewritten after each finished training. The pairwise form is O(archs^2) per
# resample against scipy's O(archs log archs): above _ON_ROWS_MAX_ARCHS the per-resample loop is faster.
_ON_ROWS = {kendall_tau: _kendall_tau_rows, spearman: _spearman_rows}
_ON_ROWS_MAX_ARCHS = 128
_ROWS_PER_CHUNK_ELEMENTS = 8_000_000  # resamples x archs^2 per chunk: int8 signs, a few tens of MB at most


def bootstrap_draws(archs: int, *, resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """(resamples, archs) indices of archs drawn with replacement: one paired bootstrap, shareable by several
    statistics so that their differences are resampled together."""
    return np.random.default_rng(seed).integers(0, archs, size=(resamples, archs))


def resampled(statistic, a, b, draws: np.ndarray) -> np.ndarray:
    """`statistic(a[d], b[d])` for every row `d` of `draws`; NaN where a resample's statistic is undefined."""
    a, b = _pair(a, b)
    on_rows = _ON_ROWS.get(statistic) if a.size <= _ON_ROWS_MAX_ARCHS else None
    if on_rows is None:
        return np.array([statistic(a[index], b[index]) for index in draws], float)
    chunk = max(1, _ROWS_PER_CHUNK_ELEMENTS // max(1, a.size * a.size))
    return np.concatenate([np.empty(0)] + [on_rows(a[draws[start:start + chunk]], b[draws[start:start + chunk]])
                                           for start in range(0, len(draws), chunk)])


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of the finite `values`; (NaN, NaN) when none is finite."""
    if not 0 < level < 1:
        raise ValueError(f"bootstrap interval: level must be in (0, 1), got {level}")
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_interval(statistic, a, b, *, resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile interval of `statistic(a, b)` over archs resampled with replacement (paired).

    Resamples whose statistic is undefined (all ties) are dropped; (NaN, NaN) when none is defined, and when
    a score is not finite (the statistic of all archs is undefined then, and an interval over the resamples
    that happen to miss that arch would describe another set of archs).
    """
    a, b = _pair(a, b)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan"), float("nan")
    return percentile_interval(resampled(statistic, a, b, bootstrap_draws(a.size, resamples=resamples, seed=seed)),
                               level)


def cost_bands(cost, bands: int) -> np.ndarray:
    """The band (0 .. bands-1) of each arch: equal-count bands in order of cost (ties keep input order)."""
    cost = np.asarray(cost, float).ravel()
    if bands < 1:
        raise ValueError(f"cost_bands: bands must be >= 1, got {bands}")
    order = np.argsort(cost, kind="stable")
    band = np.empty(cost.size, int)
    band[order] = np.arange(cost.size) * bands // max(cost.size, 1)
    return band


def band_tau(a, b, cost, *, bands: int = 3) -> dict:
    """Kendall tau within each cost band and their mean weighted by the band's pairs.

    {"per_band": [tau or None per band], "mean": weighted mean or None}. A band with fewer than two
    archs, or constant scores on either side, has no tau.
    """
    a, b = _pair(a, b)
    band = cost_bands(cost, bands)
    per_band, weights = [], []
    for index in range(bands):
        members = band == index
        tau = kendall_tau(a[members], b[members])
        per_band.append(None if math.isnan(tau) else tau)
        weights.append(0 if math.isnan(tau) else members.sum() * (members.sum() - 1) / 2)
    defined = [(t, w) for t, w in zip(per_band, weights) if t is not None]
    mean = sum(t * w for t, w in defined) / sum(w for _, w in defined) if defined else None
    return {"per_band": per_band, "mean": mean}


def top_k_recall(predicted, reference, k: int = 5) -> float:
    """Share of the reference's k best archs that are among the predicted k best (higher is better).

    Ties at the k-th place of the reference are resolved in the reference's favour: any arch tied with
    its k-th best counts as a true top-k arch.
    """
    predicted, reference = _pair(predicted, reference)
    if not 1 <= k <= predicted.size:
        raise ValueError(f"top_k_recall: k must be in 1..{predicted.size} (the archs), got {k}")
    chosen = set(np.argsort(-predicted, kind="stable")[:k].tolist())
    threshold = np.sort(reference)[::-1][k - 1]
    true_top = set(np.flatnonzero(reference >= threshold).tolist())
    return len(chosen & true_top) / k


def budget_pick(predicted, cost, budget: float) -> int:
    """The index of the ranker's pick: its best-scored (higher = better) arch among those with cost <= budget.
    A NaN score (an arch the ranker failed on) ranks last, as in `top_k_recall`."""
    predicted, cost = np.asarray(predicted, float).ravel(), np.asarray(cost, float).ravel()
    feasible = np.flatnonzero(cost <= budget)
    if feasible.size == 0:
        raise ValueError(f"budget: no arch costs <= {budget} (cheapest {cost.min():.4g})")
    return int(feasible[np.argmax(np.nan_to_num(predicted[feasible], nan=-np.inf))])


def budget_regret(predicted, reference, cost, budget: float) -> dict:
    """The ranker's pick among archs with cost <= budget (higher = better on both sides) and its regret.

    {"budget", "feasible", "index" (the pick), "reference" (its score), "best" (the best reference score
    within the budget), "regret" (best - reference, in the reference's unit; 0 when the pick is best)}.
    """
    predicted, reference = _pair(predicted, reference)
    cost = np.asarray(cost, float).ravel()
    pick = budget_pick(predicted, cost, budget)
    feasible = np.flatnonzero(cost <= budget)
    best = reference[feasible].max()
    return {"budget": float(budget), "feasible": int(feasible.size), "index": int(pick),
            "reference": float(reference[pick]), "best": float(best), "regret": float(best - reference[pick])}


def regret_at_quantiles(predicted, reference, cost, quantiles=(0.25, 0.5, 0.75)) -> list[dict]:
    """`budget_regret` at budgets that are these quantiles of the archs' costs."""
    cost = np.asarray(cost, float).ravel()
    return [{"quantile": q, **budget_regret(predicted, reference, cost, float(np.quantile(cost, q)))}
            for q in quantiles]


def spearman_brown(correlation: float, repeats: int) -> float:
    """Reliability of the mean of `repeats` measurements whose pairwise correlation is `correlation`; NaN
    where they disagree (a negative correlation: the formula's denominator reaches 0 at -1/(repeats-1))."""
    if repeats < 1:
        raise ValueError(f"spearman_brown: repeats must be >= 1, got {repeats}")
    if not math.isfinite(correlation) or (correlation < 0 and repeats > 1):
        return float("nan")
    return repeats * correlation / (1 + (repeats - 1) * correlation)


def gaussian_tau(correlation: float) -> float:
    """Kendall's tau of a bivariate normal pair with this Pearson correlation (Greiner: 2/pi arcsin r)."""
    return 2.0 / math.pi * math.asin(max(-1.0, min(1.0, correlation)))


def perfect_ranker_tau(pair_tau: float, repeats: int) -> float:
    """Kendall tau between the noise-free scores and the mean of `repeats` measurements.

    `pair_tau` is the Kendall tau of two single measurements (two seeds) over the archs. Under additive
    normal noise it maps back to their correlation by r = sin(pi tau / 2) (Greiner's relation, which,
    taken from tau, holds for heavier-tailed scores too); the mean of `repeats` correlates with the
    noise-free scores at the square root of its Spearman-Brown reliability, mapped to tau the same way.
    NaN when the seeds do not agree positively.
    """
    if not math.isfinite(pair_tau) or pair_tau <= 0:
        return float("nan")
    return gaussian_tau(math.sqrt(spearman_brown(math.sin(math.pi * min(pair_tau, 1.0) / 2), repeats)))


def perfect_ranker_regret(seed_table, cost, *, higher_is_better: bool, quantiles=(0.25, 0.5, 0.75),
                          draws: int = 2000, seed: int = 0) -> list[float]:
    """Expected regret, at each budget quantile, of a ranker knowing the noise-free scores, measured (as
    every ranker's regret is) against the mean of the seeds in `seed_table` (archs x seeds): modelled, a
    guide to how much regret the reference's noise alone makes, not a bound (a ranker may be luckier).

    Normal model: the seed noise is pooled over the archs; the noise-free scores are drawn from their
    posterior given the seed means (each arch's distance from the score's trend in log cost shrunk by
    the share of that scatter that is not seed noise); each draw adds
    fresh seed-mean noise, picks the best noise-free arch within the budget and records how far its noisy
    mean falls below the best noisy mean there. In the score's unit.
    """
    table = np.asarray(seed_table, float)
    if table.ndim != 2 or table.shape[1] < 2 or table.shape[0] < 3:
        raise ValueError(f"perfect_ranker_regret: need archs x seeds with >= 3 archs and >= 2 seeds, got shape "
                         f"{table.shape}")
    cost = np.asarray(cost, float).ravel()
    if cost.size != table.shape[0]:
        raise ValueError(f"perfect_ranker_regret: {cost.size} costs for {table.shape[0]} archs")
    sign = 1.0 if higher_is_better else -1.0
    means = sign * table.mean(axis=1)
    noise = table.var(axis=1, ddof=1).mean() / table.shape[1]   # variance of one arch's seed mean
    # Prior: the score's trend in log cost (size explains much of it), archs scattered around the trend;
    # the posterior shrinks each arch's residual by the share of the residual variance that is not noise.
    # (Log cost where every cost is positive, else the costs' ranks; a constant cost leaves the mean.)
    scale = np.log(cost) if np.all(cost > 0) else stats.rankdata(cost)
    design = np.stack([scale, np.ones_like(scale)], axis=1)
    coefficients, _, rank, _ = np.linalg.lstsq(design, means, rcond=None)
    residual = means - design @ coefficients
    spread = residual.var(ddof=rank) if means.size > rank else 0.0
    shrink = max(0.0, 1.0 - noise / spread) if spread > 0 else 0.0
    centre = means - (1.0 - shrink) * residual   # the trend plus the shrunk residual
    rng = np.random.default_rng(seed)
    truth = centre + math.sqrt(shrink * noise) * rng.normal(size=(draws, means.size))
    observed = truth + math.sqrt(noise) * rng.normal(size=(draws, means.size))
    floors = []
    for q in quantiles:
        feasible = np.flatnonzero(cost <= np.quantile(cost, q))
        pick = feasible[np.argmax(truth[:, feasible], axis=1)]
        best = observed[:, feasible].max(axis=1)
        floors.append(float(np.mean(best - observed[np.arange(draws), pick])))
    return floors


def finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def two_decimals(value: float | None) -> str:
    """A statistic as reports print it: "n/a" when undefined."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"


def signed(value: float | None, digits: int = 2) -> str:
    """A difference as reports print it, with its sign: "n/a" when undefined."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.{digits}f}"


def agreement(predicted, reference, *, cost=None, bands: int = 3, k: int = 5, resamples: int = 2000,
              seed: int = 0, reference_sign: float = 1.0) -> dict:
    """Every statistic of one ranker (`predicted`, higher = ranked better) against `reference` (same).
    `reference_sign` is the sign that oriented the task's scores into `reference` (-1 for a lower-is-better
    score such as bits per character): the regret entries give their scores back in the task's unit."""
    predicted, reference = _pair(predicted, reference)
    report = {"n": int(predicted.size)}
    for name, statistic in STATISTICS.items():
        report[name] = finite_or_none(statistic(predicted, reference))
        low, high = bootstrap_interval(statistic, predicted, reference, resamples=resamples, seed=seed)
        report[f"{name}_interval"] = [finite_or_none(low), finite_or_none(high)]
    report[f"top_{k}_recall"] = top_k_recall(predicted, reference, min(k, predicted.size))
    if cost is not None:
        report["band_tau"] = band_tau(predicted, reference, cost, bands=bands)
        report["regret"] = [{**entry, "reference": reference_sign * entry["reference"],
                             "best": reference_sign * entry["best"]}
                            for entry in regret_at_quantiles(predicted, reference, cost)]
    return report


def _band_taus_rows(a: np.ndarray, b: np.ndarray, cost: np.ndarray, bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Kendall tau within each cost band for each row triple of (rows, archs) arrays: (rows, bands) taus, NaN
    where undefined, and each band's pair count. Equal-count bands hold the same number of archs in every
    row, so a band is a fixed-width slice of the row's cost order, scored for all rows at once."""
    order = np.argsort(cost, axis=1, kind="stable")
    band_of_place = np.arange(a.shape[1]) * bands // max(a.shape[1], 1)
    taus, pairs = np.full((a.shape[0], bands), np.nan), np.zeros(bands)
    for index in range(bands):
        members = order[:, band_of_place == index]
        size = members.shape[1]
        pairs[index] = size * (size - 1) / 2
        if size < 2:
            continue
        chunk = max(1, _ROWS_PER_CHUNK_ELEMENTS // (size * size))
        for start in range(0, a.shape[0], chunk):
            rows = members[start:start + chunk]
            taus[start:start + chunk, index] = _kendall_tau_rows(np.take_along_axis(a[start:start + chunk], rows, 1),
                                                                 np.take_along_axis(b[start:start + chunk], rows, 1))
    return taus, pairs


def _weighted_band_mean(taus: np.ndarray, pairs: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """Per row, the pair-weighted mean of the band taus where `counted` (NaN where no band counts)."""
    weights = np.where(counted, pairs, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weights.sum(axis=1) > 0, (np.nan_to_num(taus) * weights).sum(axis=1) / weights.sum(axis=1),
                        np.nan)


def _band_tau_rows(a: np.ndarray, b: np.ndarray, cost: np.ndarray, bands: int) -> np.ndarray:
    """`band_tau(...)["mean"]` of each row triple, NaN where undefined."""
    taus, pairs = _band_taus_rows(a, b, cost, bands)
    return _weighted_band_mean(taus, pairs, ~np.isnan(taus))


def _tau_margin_rows(ranker: np.ndarray, rivals: list, reference: np.ndarray, cost: np.ndarray, bands: int) -> np.ndarray:
    del cost, bands  # the whole range: no bands
    best_rival = np.fmax.reduce(np.stack([_kendall_tau_rows(r, reference) for r in rivals]), axis=0)
    return _kendall_tau_rows(ranker, reference) - best_rival


def _band_margin_rows(ranker: np.ndarray, rivals: list, reference: np.ndarray, cost: np.ndarray, bands: int) -> np.ndarray:
    # Only bands where every ranker has a tau count, so both means cover the same archs.
    taus, pairs = _band_taus_rows(ranker, reference, cost, bands)
    rival_taus = [_band_taus_rows(r, reference, cost, bands)[0] for r in rivals]
    common = ~np.isnan(taus) & np.logical_and.reduce([~np.isnan(t) for t in rival_taus])
    best_rival = np.fmax.reduce(np.stack([_weighted_band_mean(t, pairs, common) for t in rival_taus]), axis=0)
    return _weighted_band_mean(taus, pairs, common) - best_rival


def margin_over_size(predicted, reference, sizes: dict, cost, *, bands: int = 3, resamples: int = 2000,
                     level: float = 0.95, seed: int = 0) -> dict:
    """The ranker's Kendall tau minus the best size ranker's, over the whole range and within cost bands.

    `sizes` maps a size ranker's name to its values (bigger ranked better). The interval is a paired
    bootstrap over archs: every resample scores the ranker and the size rankers on the same archs (bands
    recut on the resample's costs) and takes the difference from the best size ranker on that resample, so
    the variation both taus share from which archs were drawn leaves the difference; "clearly above size"
    is a lower end above 0, which two overlapping separate intervals cannot show. (The reference's seed
    noise is held fixed, as in every interval here; the ground truth's reliability speaks to it.) Band
    means count only bands where every ranker has a tau. `rival` names the best size ranker on all archs.
    {"kendall_tau" | "band_tau": {"rival", "difference", "interval"}}; None where undefined (a ranker with a
    NaN score has no margin: the archs it failed on would leave the comparison unpaired).
    """
    predicted, reference = _pair(predicted, reference)
    cost = np.asarray(cost, float).ravel()
    if not sizes:
        raise ValueError("margin_over_size: no size ranker given (params or multiply-adds)")
    rivals = {name: _pair(values, reference)[0] for name, values in sizes.items()}
    draws = bootstrap_draws(predicted.size, resamples=resamples, seed=seed)
    alone = {"kendall_tau": lambda values: _kendall_tau_rows(values[None], reference[None])[0],
             "band_tau": lambda values: _band_tau_rows(values[None], reference[None], cost[None], bands)[0]}
    margins = {}
    for name, margin_rows in (("kendall_tau", _tau_margin_rows), ("band_tau", _band_margin_rows)):
        scored = {rival: alone[name](values) for rival, values in rivals.items()}
        defined = {rival: t for rival, t in scored.items() if math.isfinite(t)}
        difference = float(margin_rows(predicted[None], [v[None] for v in rivals.values()], reference[None],
                                       cost[None], bands)[0]) if np.isfinite(predicted).all() else float("nan")
        low = high = float("nan")
        if math.isfinite(difference):
            low, high = percentile_interval(margin_rows(predicted[draws], [v[draws] for v in rivals.values()],
                                                        reference[draws], cost[draws], bands), level)
        margins[name] = {"rival": max(defined, key=defined.get) if defined else next(iter(rivals)),
                         "difference": finite_or_none(difference),
                         "interval": [finite_or_none(low), finite_or_none(high)]}
    return margins


def size_rankers(reference, *, higher_is_better: bool, params=None, macs=None, bands: int = 3, k: int = 5,
                 resamples: int = 2000, seed: int = 0) -> dict:
    """`agreement` of the trivial rankers (parameters, multiply-adds: bigger ranked better) with `reference`,
    as `ranking_report` reports them: {"params": ..., "macs": ...} (absent keys: not given)."""
    sign = 1.0 if higher_is_better else -1.0
    reference = sign * np.asarray(reference, float)
    cost = macs if macs is not None else params
    return {name: agreement(np.asarray(size, float), reference, cost=cost, bands=bands, k=k, resamples=resamples,
                            seed=seed, reference_sign=sign)
            for name, size in (("params", params), ("macs", macs)) if size is not None}


def ranking_report(scores, reference, *, higher_is_better: bool, params=None, macs=None, bands: int = 3,
                   k: int = 5, resamples: int = 2000, seed: int = 0, size_rows: bool = True) -> dict:
    """`agreement` of the ranker's `scores` with `reference`, beside the trivial rankers on the same archs.

    `scores` and `reference` are in the task's unit (accuracy: higher is better; bits per char: lower).
    Parameters and multiply-adds rank "bigger is better"; the bands and budgets are cut by multiply-adds
    when given, else by parameters. Regrets are in the reference's unit, positive = worse than the best
    (for a lower-is-better score they are reported in that unit too, e.g. bits per char lost). The ranker's
    report has `over_size` (`margin_over_size`) when a size is given. Returns {"ranker": ..., "params": ...,
    "macs": ...} (absent keys: not given; both absent with `size_rows=False`, for a caller that already has
    them against the same reference); `size_rankers` alone where only the size rows are wanted.
    """
    sign = 1.0 if higher_is_better else -1.0
    reference_up = sign * np.asarray(reference, float)
    cost = macs if macs is not None else params
    predicted = sign * np.asarray(scores, float)
    report = {"ranker": agreement(predicted, reference_up, cost=cost, bands=bands, k=k, resamples=resamples,
                                  seed=seed, reference_sign=sign)}
    sizes = {name: size for name, size in (("params", params), ("macs", macs)) if size is not None}
    if sizes:
        report["ranker"]["over_size"] = margin_over_size(predicted, reference_up, sizes, cost, bands=bands,
                                                         resamples=resamples, seed=seed)
    if size_rows:
        report.update(size_rankers(reference, higher_is_better=higher_is_better, params=params, macs=macs,
                                   bands=bands, k=k, resamples=resamples, seed=seed))
    return report
