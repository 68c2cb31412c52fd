"""A rival ranker built from the stand-alone runs alone: ridge regression of the score on the archs' decisions
and size, each arch predicted by a model fit on the others.

An audit trains its archs alone anyway. Sorting by size is the trivial rival; this is the next one up: a linear
model of the decisions (`nas.rank_bias.decision_features`: each numeric group's mean, each categorical value's
share) and of log parameters and log multiply-adds, fit to the other archs' stand-alone scores. If it ranks the
audited archs as well as the supernet does, the supernet's shared weights tell the user nothing the runs do not,
and a search could as well use the fitted model. Leave-one-out keeps the comparison honest: no arch's own score
enters its prediction. Ridge on standardised columns keeps a fit of about as many columns as archs stable.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nas.rank_bias import decision_features
from nas.rank_metrics import agreement, margin_over_size

RIDGE = 1.0
MIN_ARCHS = 6  # below this a leave-one-out fit of even one column is mostly noise


def design_matrix(archs: Sequence[Mapping[str, Any]], *, params, macs=None) -> tuple[np.ndarray, list[str]]:
    """[archs, columns] and the columns' names: the decision features, then log params (and log MACs)."""
    features = decision_features(archs)
    names = sorted(features)
    columns = [features[name] for name in names]
    for name, size in (("log params", params), ("log macs", macs)):
        if size is None:
            continue
        size = np.asarray(size, float)
        if size.shape != (len(archs),) or not np.all(size > 0):
            raise ValueError(f"decision_predictor: {name[4:]} must be {len(archs)} positive numbers, one per arch")
        columns.append(np.log(size))
        names.append(name)
    return np.column_stack(columns) if columns else np.zeros((len(archs), 0)), names


def ridge_fit_predict(design: np.ndarray, scores: np.ndarray, train: np.ndarray, test: np.ndarray,
                      ridge: float = RIDGE) -> np.ndarray:
    """Ridge regression on `train`'s standardised columns (scaled by `train` alone), evaluated on `test`."""
    mean, scale = design[train].mean(0), design[train].std(0)
    scale = np.where(scale > 0, scale, 1.0)  # a column constant over the training archs then weighs nothing
    z = (design - mean) / scale
    offset = scores[train].mean()
    gram = z[train].T @ z[train] + ridge * np.eye(z.shape[1])
    weights = np.linalg.solve(gram, z[train].T @ (scores[train] - offset))
    return z[test] @ weights + offset


def cross_fitted(design: np.ndarray, scores, folds: Sequence[np.ndarray], ridge: float = RIDGE) -> np.ndarray:
    """Each arch's prediction from the model fit on the archs outside its fold (`folds` partition the archs)."""
    scores = np.asarray(scores, float)
    prediction = np.full(scores.size, np.nan)
    everyone = np.arange(scores.size)
    for test in folds:
        prediction[test] = ridge_fit_predict(design, scores, np.setdiff1d(everyone, test), test, ridge)
    return prediction


def _checked(archs, scores) -> np.ndarray:
    scores = np.asarray(scores, float)
    if scores.shape != (len(archs),):
        raise ValueError(f"decision_predictor: {len(archs)} archs but {scores.size} scores")
    if len(archs) < MIN_ARCHS:
        raise ValueError(f"decision_predictor: {len(archs)} archs; a leave-one-out fit needs at least {MIN_ARCHS}")
    if not np.isfinite(scores).all():
        raise ValueError("decision_predictor: every stand-alone score must be finite "
                         f"({int(np.sum(~np.isfinite(scores)))} are not)")
    return scores


def _leave_one_out(design: np.ndarray, scores: np.ndarray, ridge: float) -> np.ndarray:
    return cross_fitted(design, scores, [np.array([i]) for i in range(len(scores))], ridge)


def leave_one_out_scores(archs: Sequence[Mapping[str, Any]], scores, *, params, macs=None,
                         ridge: float = RIDGE) -> np.ndarray:
    """Each arch's score as predicted from the others' (same unit and orientation as `scores`)."""
    scores = _checked(archs, scores)
    design, _ = design_matrix(archs, params=params, macs=macs)
    return _leave_one_out(design, scores, ridge)


def predictor_report(archs: Sequence[Mapping[str, Any]], reference, *, higher_is_better: bool, params,
                     macs=None, bands: int = 3, resamples: int = 2000, seed: int = 0) -> dict:
    """The predictor as a ranker of `reference` (stand-alone scores in the task's unit): its columns, its
    leave-one-out predictions and their agreement with `reference` (`rank_metrics.agreement`, bands and
    budgets cut by MACs where given, else params); {"undefined": why} where too few archs or a score is not
    finite."""
    reference = np.asarray(reference, float)
    if len(archs) < MIN_ARCHS:
        return {"undefined": f"{len(archs)} archs; the leave-one-out fit needs at least {MIN_ARCHS}"}
    if not np.isfinite(reference).all():
        return {"undefined": "a stand-alone mean is not finite"}
    design, columns = design_matrix(archs, params=params, macs=macs)
    predicted = _leave_one_out(design, _checked(archs, reference), RIDGE)
    sign = 1.0 if higher_is_better else -1.0
    cost = np.asarray(macs if macs is not None else params, float)
    return {"columns": columns, "ridge": RIDGE, "predicted": [float(v) for v in predicted],
            "agreement": agreement(sign * predicted, sign * reference, cost=cost, bands=bands, resamples=resamples,
                                   seed=seed, reference_sign=sign)}


def margin_over_predictor(scores, reference, predictor: dict, *, higher_is_better: bool, cost, bands: int = 3,
                          resamples: int = 2000, seed: int = 0) -> dict | None:
    """A ranker's paired margin in tau over the predictor of `predictor_report` (`rank_metrics.margin_over_size`
    with the predictor as the one rival); None where the predictor or a score is undefined."""
    scores = np.asarray(scores, float)
    if "undefined" in predictor or not np.isfinite(scores).all():
        return None
    sign = 1.0 if higher_is_better else -1.0
    return margin_over_size(sign * scores, sign * np.asarray(reference, float),
                            {"decisions": sign * np.asarray(predictor["predicted"])}, np.asarray(cost, float),
                            bands=bands, resamples=resamples, seed=seed)["kendall_tau"]


def rival_report(archs: Sequence[Mapping[str, Any]], scores, reference, *, higher_is_better: bool, params,
                 macs=None, bands: int = 3, resamples: int = 2000, seed: int = 0) -> dict:
    """The predictor as a rival to a ranker's `scores`: `predictor_report` and the ranker's paired margin over
    it in tau (`ranker_margin`). Scores and reference in the task's unit; {"undefined": why} where too few
    archs or a score is not finite."""
    report = predictor_report(archs, reference, higher_is_better=higher_is_better, params=params, macs=macs,
                              bands=bands, resamples=resamples, seed=seed)
    if "undefined" in report:
        return report
    margin = margin_over_predictor(scores, reference, report, higher_is_better=higher_is_better,
                                   cost=macs if macs is not None else params, bands=bands, resamples=resamples,
                                   seed=seed)
    if margin is None:
        return {"undefined": "a score or a stand-alone mean is not finite"}
    return {**report, "ranker_margin": margin}
