"""The synthetic objectives' optimum is exact: the dynamic programme agrees with enumeration."""
import numpy as np
import pytest

from nas.pareto import hypervolume, pareto_front
from nas.search.synthetic import ZDT1, NKLandscape
from nas.space import AtLeast, Choice, Space

CONDITIONAL = Space("conditional", [Choice("depth", [1, 2, 3]), Choice("a", [0, 1, 2]),
                                    Choice("b", [0, 1], when=AtLeast("depth", 2)),
                                    Choice("c", [0, 1, 2], when=AtLeast("depth", 3)), Choice("e", [0, 1])])


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_nk_optimum_and_worst_are_exact_on_a_conditional_space(k):
    landscape = NKLandscape(CONDITIONAL, k=k, trend=0.3, seed=k)
    scores = {a.to_string(): landscape.score(a) for a in CONDITIONAL.enumerate()}
    assert max(scores.values()) == pytest.approx(landscape.best_score)
    assert min(scores.values()) == pytest.approx(landscape.worst_score)
    best = landscape.optimal_arch()
    assert landscape.accuracy(best) == pytest.approx(landscape.optimum)
    accuracies = [landscape.accuracy(a) for a in CONDITIONAL.enumerate()]
    assert min(accuracies) == pytest.approx(landscape.low) and max(accuracies) == pytest.approx(94.37)


def test_nk_is_rugged_and_seeded():
    space = Space("grid", [Choice(f"x{i}", [0, 1, 2]) for i in range(6)])
    a, b = NKLandscape(space, k=2, seed=0), NKLandscape(space, k=2, seed=1)
    archs = list(space.enumerate())
    assert [a.score(x) for x in archs[:20]] != [b.score(x) for x in archs[:20]]
    # rugged: some arch is a local optimum (no single-decision change improves it) without being the best
    def local_optimum(arch):
        vector = arch.to_vector()
        for p in range(6):
            for v in range(3):
                neighbour = vector.copy()
                neighbour[p] = v
                if a.score(space.from_vector(neighbour)) > a.score(arch) + 1e-12:
                    return False
        return True
    assert sum(map(local_optimum, archs)) > 1


def test_zdt1_front_is_the_archs_with_y_at_their_first_choices():
    zdt = ZDT1(CONDITIONAL)
    archs = list(CONDITIONAL.enumerate())
    points = np.array([[zdt(a)["f1"], zdt(a)["f2"]] for a in archs])
    front = points[pareto_front(points)]
    np.testing.assert_allclose(np.unique(front[:, 0].round(12)), zdt.front_f1())  # archs may tie
    np.testing.assert_allclose(front[:, 1], 1 - np.sqrt(front[:, 0]))
    assert hypervolume(points, np.array([1.1, 1.1])) == pytest.approx(zdt.front_hypervolume([1.1, 1.1]))
