"""Conservative RL controller (Auto-GNN's reinforced conservative controller, Zhou et al. 2019), ask/tell.

The controller keeps the best arch told so far and proposes children that differ from it in one class of
decisions only, a small step: a *guider* picks the class (hidden width, attention, aggregation,
activation, heads, depth, ...: `searchers.decision_classes`, read from the decision names; a decision no
class names is a class of its own), then that class's *modifier* picks new values for the class's
decisions that are active in the best arch; every other decision keeps the best arch's value. A child
always differs from the best: a class none of whose active decisions has two values is never picked,
and when every decision of the class but the last has kept its value, the last one's current value is
excluded from its draw.

Guider and modifiers are REINFORCE policies: one logit vector over the classes, and one per decision over
its values (the modifier of a class is the product of its decisions' categoricals). Auto-GNN's policies
are RNNs conditioned on the best arch; these are tabular, as the RL controller's (TuNAS). Each draw is
made from the masked softmax the rules above leave, and the update is the exact gradient of that draw's
log-probability (`searchers.reinforce`).

Reward: quality = -objectives[:, quality_index] (the loop minimises -accuracy), lowered by
`violation_penalty * violation` for an arch over its budgets. A child's *improvement* is its reward minus
its parent's (the best arch when it was asked); the advantage is the improvement against a moving baseline
of improvements, divided by their running scale (`searchers.reinforce.Advantage`, as the RL controller
normalises rewards), so classes and values whose steps lose least (or gain) become likelier.

Archs the controller did not propose (the search loop's initial archs, other workers' trials, replays)
can become the best, but train no policy. Until some arch has been told, `ask` samples uniformly.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from nas.errors import ConfigError
from nas.option_bounds import Momentum, NonNegativeFloat, PositiveFloat
from nas.space import Arch, Space
from searchers.base import check_ask, check_told, rng_from_state, rng_state
from searchers.decision_classes import decision_classes
from searchers.reinforce import Advantage, masked_softmax, reinforce


class ConservativeRL:
    def __init__(self, space: Space, *, classes: str | Callable[[str], str] = "suffix",
                 learning_rate: PositiveFloat = 0.2, baseline_momentum: Momentum = 0.95, quality_index: int = 0,
                 violation_penalty: NonNegativeFloat = 1.0,
                 normalise_rewards: bool = True, seed: int = 0):
        if not learning_rate > 0:
            raise ConfigError(f"conservative RL: learning_rate must be > 0, got {learning_rate!r}")
        if not 0 <= baseline_momentum < 1:
            raise ConfigError(f"conservative RL: baseline_momentum must be in [0, 1), got {baseline_momentum!r}")
        self.space = space
        self.classes = decision_classes(space, classes)
        self.class_names = list(self.classes)
        self.learning_rate, self.quality_index = learning_rate, quality_index
        self.violation_penalty = violation_penalty
        self._rng = np.random.default_rng(seed)
        self._guider = np.zeros(len(self.class_names))
        self._modifiers = [np.zeros(n) for n in space.choice_counts]
        self._advantage = Advantage(baseline_momentum, normalise_rewards)
        self._best: tuple[str, float] | None = None  # (arch string, reward)
        # arch string -> draws not yet told: {"class", "guider": [allowed], "draws": [[position, index, allowed]],
        # "parent": reward}
        self._pending: dict[str, list[dict]] = defaultdict(list)
        self.steps: list[str] = []  # the class of every proposal, in order

    # -- policies ----------------------------------------------------------------

    def probabilities(self) -> dict[str, float]:
        """The guider's probability of each class (unmasked)."""
        return dict(zip(self.class_names, masked_softmax(self._guider).tolist()))

    def value_probabilities(self, name: str) -> np.ndarray:
        """The modifier's probabilities over the values of decision `name` (unmasked)."""
        position = [d.name for d in self.space.free].index(name)
        return masked_softmax(self._modifiers[position])

    @property
    def best(self) -> Arch | None:
        return None if self._best is None else self.space.from_string(self._best[0])

    def reward(self, objectives: np.ndarray, violation: float) -> float:
        if objectives.shape[0] <= self.quality_index:
            raise ConfigError(f"conservative RL: quality_index {self.quality_index} but only {objectives.shape[0]} "
                              "objectives")
        return -float(objectives[self.quality_index]) - self.violation_penalty * violation

    # -- proposing ---------------------------------------------------------------

    def _changeable(self, best: Arch) -> list[list[int]]:
        """Per class, the positions of its decisions active in `best` with at least two values."""
        return [[p for p in self.classes[name] if self.space.free[p].name in best and self.space.choice_counts[p] > 1]
                for name in self.class_names]

    def _child(self) -> Arch:
        best = self.space.from_string(self._best[0])
        changeable = self._changeable(best)
        allowed = np.array([bool(positions) for positions in changeable])
        if not allowed.any():
            return self.space.sample(self._rng)  # a space with nothing to change (one arch)
        guider = masked_softmax(self._guider, allowed)
        klass = int(self._rng.choice(len(guider), p=guider))
        current = best.to_vector()
        vector, draws, kept = current.copy(), [], True
        positions = changeable[klass]
        for i, position in enumerate(positions):
            values = np.ones(self.space.choice_counts[position], bool)
            if kept and i == len(positions) - 1:
                values[current[position]] = False  # everything else kept: this one must change
            probabilities = masked_softmax(self._modifiers[position], values)
            index = int(self._rng.choice(len(probabilities), p=probabilities))
            vector[position] = index
            kept = kept and index == current[position]
            draws.append([position, index, values.tolist()])
        child = self.space.from_vector(vector)
        self._pending[child.to_string()].append({"class": klass, "guider": allowed.tolist(), "draws": draws,
                                                 "parent": self._best[1]})
        self.steps.append(self.class_names[klass])
        return child

    def ask(self, n: int) -> list[Arch]:
        n = check_ask(n)
        return [self.space.sample(self._rng) if self._best is None else self._child() for _ in range(n)]

    # -- learning ----------------------------------------------------------------

    def tell(self, archs, objectives, violations=None) -> None:
        objectives, violations = check_told(archs, objectives, violations)
        for arch, values, violation in zip(archs, objectives, violations):
            key = self.space.validate(arch).to_string()
            reward = self.reward(values, float(violation))
            pending = self._pending.get(key)
            if pending:
                self._update(pending.pop(0), reward)
            if self._best is None or reward > self._best[1]:
                self._best = (key, reward)

    def _update(self, draw: dict, reward: float) -> None:
        step = self.learning_rate * self._advantage(reward - draw["parent"])
        guider = masked_softmax(self._guider, np.asarray(draw["guider"]))
        reinforce(self._guider, guider, draw["class"], step)
        for position, index, allowed in draw["draws"]:
            probabilities = masked_softmax(self._modifiers[position], np.asarray(allowed))
            reinforce(self._modifiers[position], probabilities, index, step)

    def state(self) -> dict:
        return {"rng": rng_state(self._rng), "guider": self._guider.tolist(),
                "modifiers": [m.tolist() for m in self._modifiers], "advantage": self._advantage.state(),
                "best": None if self._best is None else list(self._best),
                "pending": {k: v for k, v in self._pending.items() if v}, "steps": list(self.steps)}

    def restore(self, state: dict) -> None:
        self._rng = rng_from_state(state["rng"])
        self._guider = np.asarray(state["guider"], float)
        self._modifiers = [np.asarray(m, float) for m in state["modifiers"]]
        self._advantage.restore(state["advantage"])
        self._best = None if state["best"] is None else (state["best"][0], float(state["best"][1]))
        self._pending = defaultdict(list, {k: list(v) for k, v in state["pending"].items()})
        self.steps = list(state["steps"])
