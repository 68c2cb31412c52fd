"""What a ranker's errors lean toward: at equal true quality and equal cost, which decisions it favours.

A supernet that ranks at tau 0.85 is wrong about some archs, and a user deciding within a budget wants
to know whether those errors are noise or a lean: for instance an LM supernet that, among archs of the
same cost and the same stand-alone quality, scores the ones with more attention heads higher. Such a
lean moves every budgeted pick the same way, which no tau shows.

The measure is a partial Spearman correlation: the ranker's scores against one feature of the archs,
both with the reference (the stand-alone truth) and the cost partialled out of their ranks. Positive:
at equal truth and cost the ranker prefers archs with more of the feature. Partialling out the truth
matters: a merely noisy ranker's rank error anticorrelates with the truth (regression to the mean), so
the plain error would "lean against" every feature that goes with quality.

Features come from the archs' decisions, grouped by name with each run of digits read as `*`
(`l0.heads`, `l1.heads` -> `l*.heads`): a numeric group is the mean of its active decisions' values, a
categorical group gives each value's share of its active decisions (`node*.from*=nor_conv_3x3`).
The reference is itself noisy: a decision that truly raises quality at equal cost is under-corrected by
it, so a ranker with no lean of its own still shows some lean toward that decision. Given the reference's
seeds, each feature gets a seed floor: the largest lean one seed shows against the mean of the others (a
stand-alone run has no lean of its own), and a lean must exceed it to be named.

Each feature's 95% interval is a paired bootstrap over archs (how large the lean is). Whether it is
`clear` is a permutation test (Freedman & Lane: the ranker's rank residual after the truth and the cost
is shuffled over the archs and added back to the fitted part), Bonferroni-corrected over the features
tested, so the report as a whole flags a lean by chance at about the stated level. The bootstrap alone
is not enough for that: a near-perfect ranker's residual is a few swapped pairs, and resampling those
few archs gives intervals far narrower than the correlation's real spread.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from nas.rank_metrics import bootstrap_draws, finite_or_none, percentile_interval, signed

_DIGITS = re.compile(r"\d+")


def group_name(decision: str) -> str:
    """The decision's group: its name with each run of digits read as `*` (per-layer choices share one)."""
    return _DIGITS.sub("*", decision)


def _numeric(value: Any) -> bool:
    """Numbers and booleans (a boolean group is the share of its decisions that are True)."""
    return isinstance(value, (int, float, np.integer, np.floating, bool, np.bool_))


def decision_features(archs: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """{feature: value per arch}: the mean of each numeric group (booleans as 0/1), the share of each value of
    each categorical group (0 in an arch where none of the group's decisions is active; of a two-valued group
    only the second value, the first's share being its complement); numeric groups undefined for some arch
    and features constant over the archs are left out."""
    grouped = [{} for _ in archs]
    for values, arch in zip(grouped, archs):
        for name, value in arch.items():
            values.setdefault(group_name(name), []).append(value)
    features = {}
    for group in sorted({g for values in grouped for g in values}):
        per_arch = [values.get(group, []) for values in grouped]
        if all(_numeric(v) for chosen in per_arch for v in chosen):
            if all(per_arch):
                features[group] = np.array([np.mean(chosen) for chosen in per_arch], float)
            continue
        options = sorted({str(v) for chosen in per_arch for v in chosen})
        for option in options[1:] if len(options) == 2 else options:
            features[f"{group}={option}"] = np.array(
                [sum(str(v) == option for v in chosen) / len(chosen) if chosen else 0.0 for chosen in per_arch])
    return {name: values for name, values in features.items() if np.ptp(values) > 0}


def _partial_rows(x: np.ndarray, y: np.ndarray, controls: np.ndarray) -> np.ndarray:
    """Per row, the correlation of the ranks of x and y after a least-squares fit of each on the ranks of
    the controls (and a constant) is removed. x, y [R, n]; controls [R, c, n]. NaN where undefined."""
    rows, n = x.shape
    design = np.concatenate([np.ones((rows, n, 1)),
                             np.moveaxis(stats.rankdata(controls, axis=-1), 1, 2)], axis=2)   # [R, n, c+1]
    projector = np.linalg.pinv(design)                                                          # [R, c+1, n]

    def residual(values):
        ranks = stats.rankdata(values, axis=-1)
        return ranks - np.einsum("rnc,rc->rn", design, np.einsum("rcn,rn->rc", projector, ranks))

    a, b = residual(x), residual(y)
    norms = np.sqrt(np.einsum("rn,rn->r", a, a)), np.sqrt(np.einsum("rn,rn->r", b, b))
    # A residual at rounding level means the controls explain that side fully (a ranker that is the cost):
    # no correlation is defined.
    defined = (norms[0] > 1e-8 * n) & (norms[1] > 1e-8 * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, np.einsum("rn,rn->r", a, b) / (norms[0] * norms[1]), np.nan)


def partial_spearman(x, y, controls: Sequence) -> float:
    """Spearman correlation of x and y with the ranks of `controls` partialled out (NaN: undefined)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(_partial_rows(x[None], y[None], np.asarray(controls, float)[None])[0])


def permutation_p_value(x, y, controls: Sequence, *, permutations: int = 2000, seed: int = 0) -> float:
    """Two-sided p-value of `partial_spearman(x, y, controls)` by Freedman-Lane permutation: the residual
    of x's ranks after the controls' ranks is permuted and added back to the fitted part (NaN: undefined)."""
    x, y = stats.rankdata(np.asarray(x, float)), stats.rankdata(np.asarray(y, float))
    design = np.column_stack([np.ones(x.size), *[stats.rankdata(np.asarray(c, float)) for c in controls]])
    projector = np.linalg.pinv(design)
    fitted = design @ (projector @ x)
    residual, target = x - fitted, y - design @ (projector @ y)
    if np.linalg.norm(residual) <= 1e-8 * x.size or np.linalg.norm(target) <= 1e-8 * x.size:
        return float("nan")
    order = np.argsort(np.random.default_rng(seed).random((permutations, x.size)), axis=1)
    shuffled = residual[order]                                  # [P, n]; x* = fitted + shuffled
    # The partial correlation of x* with y: its residual after the controls is the shuffled residual's.
    shuffled = shuffled - (shuffled @ projector.T) @ design.T
    # A shuffle whose residual falls inside the controls' span (possible at a handful of archs) has no
    # partial correlation: it is left out of the null rather than counted as a mild one.
    norms = np.linalg.norm(shuffled, axis=1)
    defined = norms > 1e-8 * x.size
    null = (shuffled[defined] @ target) / (norms[defined] * np.linalg.norm(target))
    observed = residual @ target / (np.linalg.norm(residual) * np.linalg.norm(target))
    return float((1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (1 + defined.sum()))


def seed_floor(features: Mapping[str, np.ndarray], seed_table: np.ndarray, cost: np.ndarray) -> dict[str, float]:
    """Per feature, the largest |partial Spearman| one stand-alone seed shows against the mean of the others
    (oriented scores [archs, seeds], at least 2 seeds): the lean a ranker with no lean of its own shows
    because the reference is noisy. A decision that truly raises quality at equal cost is under-corrected by
    a noisy reference, so any ranker tracking quality shows some lean toward it; a seed is such a ranker."""
    floor = dict.fromkeys(features, 0.0)
    for k in range(seed_table.shape[1]):
        others = np.delete(seed_table, k, axis=1).mean(axis=1)
        for name, values in features.items():
            value = partial_spearman(seed_table[:, k], values, [others, cost])
            if np.isfinite(value):
                floor[name] = max(floor[name], abs(value))
    return floor


def ranking_biases(archs: Sequence[Mapping[str, Any]], scores, reference, cost, *, higher_is_better: bool,
                   seed_table=None, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict:
    """The lean of `scores` over the archs' decision features, against `reference` at equal cost.

    `scores` and `reference` are in the task's unit, oriented by `higher_is_better`; `seed_table` [archs,
    seeds], the reference's seeds where it is their mean, sets each feature's `seed_floor` (`seed_floor`).
    Returns {"level", "threshold" (the p-value below which a lean is clear: Bonferroni over the features),
    "features": [{"feature", "partial_spearman", "interval" (bootstrap, `level`), "p_value", "seed_floor",
    "clear"}] sorted by strength}: clear where the p-value is at most the threshold and the lean is stronger
    than the seed floor. Where a score, reference value or cost is not finite: no features, and "undefined"
    saying why.
    """
    sign = 1.0 if higher_is_better else -1.0
    scores, reference = sign * np.asarray(scores, float), sign * np.asarray(reference, float)
    cost = np.asarray(cost, float)
    if not (len(archs) == scores.size == reference.size == cost.size):
        raise ValueError(f"ranking_biases: {len(archs)} archs, {scores.size} scores, {reference.size} reference "
                         f"values and {cost.size} costs; all must match")
    for name, values in (("scores", scores), ("reference", reference), ("cost", cost)):
        if not np.isfinite(values).all():  # a diverged ranker is still reported, without leans
            return {"level": level, "threshold": None, "features": [],
                    "undefined": f"{int(np.sum(~np.isfinite(values)))} of the {values.size} {name} are not finite"}
    features = decision_features(archs)
    threshold = (1 - level) / max(len(features), 1)
    draws = bootstrap_draws(scores.size, resamples=resamples, seed=seed)
    controls = np.stack([reference, cost])
    table = None if seed_table is None else sign * np.asarray(seed_table, float)
    if table is not None and (table.ndim != 2 or table.shape[0] != scores.size):
        raise ValueError(f"ranking_biases: seed_table must be [archs, seeds] with {scores.size} archs, got shape "
                         f"{table.shape}")
    floor = (seed_floor(features, table, cost) if table is not None and table.shape[1] >= 2
             and np.isfinite(table).all() else dict.fromkeys(features, 0.0))
    rows = []
    for name, values in features.items():
        estimate = partial_spearman(scores, values, controls)
        low, high = percentile_interval(_partial_rows(scores[draws], values[draws], controls[:, draws].swapaxes(0, 1)),
                                        level)
        p_value = permutation_p_value(scores, values, controls, permutations=resamples, seed=seed)
        rows.append({"feature": name, "partial_spearman": finite_or_none(estimate),
                     "interval": [finite_or_none(low), finite_or_none(high)], "p_value": finite_or_none(p_value),
                     "seed_floor": floor[name],
                     "clear": bool(np.isfinite(p_value) and p_value <= threshold and abs(estimate) > floor[name])})
    rows.sort(key=lambda r: -abs(r["partial_spearman"] or 0.0))
    return {"level": level, "threshold": threshold, "features": rows}


def leans(biases: dict, *, intervals: bool = True) -> str:
    """The clear leans in words ("more l*.heads (+0.53 [95% +0.08, +0.77], p 0.004), fewer ..."; without
    `intervals`, "more l*.heads (+0.53, p 0.004)"); "" when none."""
    def measured(r):
        interval = f" [95% {signed(r['interval'][0])}, {signed(r['interval'][1])}]" if intervals else ""
        return f"{signed(r['partial_spearman'])}{interval}, p {r['p_value']:.2g}"

    words = [f"{'more' if r['partial_spearman'] > 0 else 'fewer'} {r['feature']} ({measured(r)})"
             for r in biases["features"] if r["clear"]]
    return ", ".join(words)
