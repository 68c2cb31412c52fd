"""The decision predictor: a ridge fit on the other archs' stand-alone scores, never on the arch's own."""
import numpy as np
import pytest

from nas.decision_predictor import MIN_ARCHS, design_matrix, leave_one_out_scores
from nas.rank_metrics import kendall_tau


def synthetic(count=24, seed=0):
    """Archs whose score is linear in their decisions: depth helps, op "b" hurts, width helps a little."""
    rng = np.random.default_rng(seed)
    archs = [{"depth": int(rng.integers(1, 5)), "l0.width": int(rng.choice([16, 32, 64])),
              "l1.width": int(rng.choice([16, 32, 64])), "cell0.op": str(rng.choice(["a", "b"])),
              "cell1.op": str(rng.choice(["a", "b"]))} for _ in range(count)]
    score = np.array([0.3 * a["depth"] - 0.2 * [a["cell0.op"], a["cell1.op"]].count("b")
                      + 0.002 * (a["l0.width"] + a["l1.width"]) for a in archs])
    params = rng.uniform(1e3, 1e5, count)  # unrelated to the score: size alone cannot rank these
    return archs, score, params


def test_a_score_linear_in_the_decisions_is_recovered_from_the_other_archs():
    archs, score, params = synthetic()
    predicted = leave_one_out_scores(archs, score, params=params)
    assert kendall_tau(predicted, score) > 0.85
    assert abs(kendall_tau(params, score)) < 0.3  # the decisions, not size, carry it


def test_an_archs_own_score_does_not_enter_its_prediction():
    archs, score, params = synthetic()
    before = leave_one_out_scores(archs, score, params=params)
    moved = score.copy()
    moved[3] += 10.0
    after = leave_one_out_scores(archs, moved, params=params)
    assert after[3] == pytest.approx(before[3])
    assert np.all(np.abs(np.delete(after - before, 3)) > 1e-6)  # every other arch's fit saw the change


def test_columns_are_the_decision_groups_then_log_sizes():
    archs, _, params = synthetic()
    design, names = design_matrix(archs, params=params, macs=params * 3)
    assert names == ["cell*.op=b", "depth", "l*.width", "log params", "log macs"]
    np.testing.assert_allclose(design[:, 3], np.log(params))


def test_bad_input_is_refused_with_what_is_allowed():
    archs, score, params = synthetic()
    with pytest.raises(ValueError, match=f"needs at least {MIN_ARCHS}"):
        leave_one_out_scores(archs[:3], score[:3], params=params[:3])
    with pytest.raises(ValueError, match="24 archs but 23 scores"):
        leave_one_out_scores(archs, score[:-1], params=params)
    with pytest.raises(ValueError, match="params must be 24 positive numbers"):
        leave_one_out_scores(archs, score, params=np.zeros(24))
    bad = score.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match=r"must be finite \(1 are not\)"):
        leave_one_out_scores(archs, bad, params=params)
