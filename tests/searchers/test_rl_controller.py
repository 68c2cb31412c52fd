import numpy as np
import pytest

from nas.errors import ConfigError
from nas.space import Choice, Space
from searchers.rl_controller import RLController


def test_tunas_absolute_reward(zdt):
    controller = RLController(zdt, targets=[2.0], beta=-0.5)
    # objectives: (-accuracy, latency); reward = acc + beta * |latency / target - 1|
    assert controller.reward(np.array([-0.9, 3.0]), 0.0, 0) == pytest.approx(0.9 - 0.5 * 0.5)
    assert controller.reward(np.array([-0.9, 1.0]), 0.2, 0) == pytest.approx(0.9 - 0.5 * 0.5 - 0.2)
    with pytest.raises(ConfigError, match="beta must be negative"):
        RLController(zdt, beta=0.1)


def test_reinforce_concentrates_on_the_target():
    space = Space("toy", [Choice("a", [0, 1, 2, 3]), Choice("b", [0, 1, 2, 3])])
    controller = RLController(space, targets=[2.0], beta=-1.0, learning_rate=0.5, seed=0)
    for _ in range(60):
        archs = controller.ask(8)
        # accuracy grows with b; cost is a: the best reward is b = 3 with a = 2 (the target)
        controller.tell(archs, np.array([[-arch["b"] / 3, float(arch["a"])] for arch in archs]))
    probabilities = controller.probabilities(0)
    assert probabilities[0].argmax() == 2 and probabilities[0][2] > 0.6
    assert probabilities[1].argmax() == 3 and probabilities[1][3] > 0.6


def test_several_targets_take_turns_and_state_round_trips(zdt):
    controller = RLController(zdt, targets=[0.2, 0.8], seed=1)
    archs = controller.ask(4)
    controller.tell(archs[:2], np.ones((2, 2)))  # two still pending
    saved = controller.state()
    expected = controller.ask(6)
    fresh = RLController(zdt, targets=[0.2, 0.8], seed=5)
    fresh.restore(saved)
    assert fresh.ask(6) == expected
    fresh.tell(archs[2:], np.ones((2, 2)))
    assert not any(fresh._pending[a.to_string()] for a in archs)


def _asked(space, scale, normalise, rounds=15):
    controller = RLController(space, learning_rate=0.5, normalise_rewards=normalise, seed=3)
    asked = []
    for _ in range(rounds):
        archs = controller.ask(8)
        asked += [a.to_string() for a in archs]
        # a percent-like accuracy (minimised as its negative), times `scale`
        controller.tell(archs, np.array([[-scale * (60 + 10 * arch["a"] - 5 * arch["b"])] for arch in archs]))
    return asked, controller.probabilities()


def test_normalised_rewards_make_the_update_independent_of_the_metric_scale():
    space = Space("toy", [Choice("a", [0, 1, 2, 3]), Choice("b", [0, 1, 2, 3])])
    asked, probabilities = _asked(space, 1.0, True)
    scaled, scaled_probabilities = _asked(space, 1000.0, True)
    assert scaled == asked
    np.testing.assert_allclose(np.concatenate(scaled_probabilities), np.concatenate(probabilities), atol=1e-9)
    assert probabilities[0][3] > 0.5 and probabilities[1][0] > 0.5  # and it learns: a=3, b=0 score best
    assert len(set(asked[8:16])) > 2  # still exploring after the first update
    # Raw rewards: the step grows with the scale. Accuracy as a fraction and in percent give other
    # proposals, and in percent the policy collapses after the first batch, onto an arch that is not the best.
    raw_fraction, _ = _asked(space, 0.01, False)
    raw_percent, _ = _asked(space, 1.0, False)
    assert raw_fraction != raw_percent
    assert len(set(raw_percent[8:])) == 1 and raw_percent[-1] != "a=3;b=0"
