"""RL controller (TuNAS, Bender et al. 2020): independent categoricals trained by REINFORCE.

The policy holds one logit vector per free decision and samples each decision
independently (an inactive conditional decision is sampled but neither used nor
trained). After each evaluated batch, every arch the policy proposed moves the
logits along advantage * grad log pi(arch), advantage = (reward - baseline) / scale:
the baseline an exponential moving average of the rewards (TuNAS: momentum 0.95), the
scale the root of an exponential moving average of (reward - baseline)^2. Dividing by the
scale makes the update the same for any scale of the metric (accuracy as a fraction or in
percent, bits per character, a reward x1000); TuNAS gets the same invariance from Adam
(beta1 = 0), whose step divides the gradient by its running root mean square.
`normalise_rewards=False` is the raw (reward - baseline), whose step grows with the metric's scale.
The defaults (learning rate 0.2, momentum 0.95) were picked on `experiments/searchers.py`'s objectives
with tuning seeds 100-105, apart from the seeds it reports (0-19): 0.5 collapses on NB201's small space,
0.05 learns too slowly in 300 trials.

Reward, TuNAS's absolute reward:  quality + beta * |cost / target - 1|,  beta < 0,
with quality = -objectives[:, quality_index] (the loop minimises -accuracy) and cost =
objectives[:, cost_index] (latency, FLOPs or params). With several `targets`, one policy
per target is trained, asked in turn, so that the proposals spread along the front. An
infeasible arch's reward is lowered by `violation_penalty * violation`. With one
objective the reward is the quality alone. Archs the controller did not propose
(other workers', replays) are ignored by the on-policy update.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated

import numpy as np

from nas.errors import ConfigError
from nas.option_bounds import Bounds, Momentum, NonNegativeFloat, PositiveFloat
from nas.space import Arch, Space
from searchers.base import check_ask, check_told, rng_from_state, rng_state


class RLController:
    def __init__(self, space: Space, *, targets: Sequence[float] = (),
                 beta: Annotated[float, Bounds(high=0, high_inclusive=False)] = -0.5,
                 quality_index: int = 0, cost_index: int = 1, learning_rate: PositiveFloat = 0.2,
                 baseline_momentum: Momentum = 0.95, violation_penalty: NonNegativeFloat = 1.0,
                 normalise_rewards: bool = True, seed: int = 0):
        if not beta < 0:
            raise ConfigError(f"RL controller: beta must be negative (TuNAS absolute reward), got {beta}")
        if any(not t > 0 for t in targets):
            raise ConfigError(f"RL controller: cost targets must be > 0, got {list(targets)}")
        self.space = space
        self.targets = [float(t) for t in targets] or [None]
        self.beta, self.quality_index, self.cost_index = beta, quality_index, cost_index
        self.learning_rate, self.baseline_momentum = learning_rate, baseline_momentum
        self.violation_penalty, self.normalise_rewards = violation_penalty, normalise_rewards
        self._rng = np.random.default_rng(seed)
        self._logits = [[np.zeros(n) for n in space.choice_counts] for _ in self.targets]
        self._baselines: list[float | None] = [None for _ in self.targets]
        self._variances: list[float | None] = [None for _ in self.targets]  # EMA of (reward - baseline)^2
        self._next_policy = 0
        self._pending: dict[str, list[int]] = defaultdict(list)

    def probabilities(self, policy: int = 0) -> list[np.ndarray]:
        return [np.exp(l - l.max()) / np.exp(l - l.max()).sum() for l in self._logits[policy]]

    def reward(self, objectives: np.ndarray, violation: float, policy: int) -> float:
        quality = -float(objectives[self.quality_index])
        target = self.targets[policy]
        if target is not None:
            if objectives.shape[0] <= self.cost_index:
                raise ConfigError(f"RL controller: cost_index {self.cost_index} but only {objectives.shape[0]} objectives")
            quality += self.beta * abs(float(objectives[self.cost_index]) / target - 1.0)
        return quality - self.violation_penalty * violation

    def ask(self, n: int) -> list[Arch]:
        archs = []
        for _ in range(check_ask(n)):
            policy = self._next_policy
            self._next_policy = (self._next_policy + 1) % len(self.targets)
            vector = [self._rng.choice(len(p), p=p) for p in self.probabilities(policy)]
            arch = self.space.from_vector(np.asarray(vector, np.int32))
            self._pending[arch.to_string()].append(policy)
            archs.append(arch)
        return archs

    def tell(self, archs, objectives, violations=None) -> None:
        objectives, violations = check_told(archs, objectives, violations)
        for arch, values, violation in zip(archs, objectives, violations):
            pending = self._pending.get(arch.to_string())
            if pending:
                self._update(pending.pop(0), arch, values, float(violation))

    def _update(self, policy: int, arch: Arch, values, violation: float) -> None:
        reward = self.reward(values, violation, policy)
        baseline = self._baselines[policy]
        baseline = reward if baseline is None else baseline
        advantage = reward - baseline
        if self.normalise_rewards:
            variance = self._variances[policy]
            if advantage != 0.0 or variance is not None:
                variance = advantage ** 2 if variance is None else (
                    self.baseline_momentum * variance + (1 - self.baseline_momentum) * advantage ** 2)
                self._variances[policy] = variance
            advantage = advantage / np.sqrt(variance) if variance else 0.0
        vector = arch.to_vector()
        active = {p for p, d in enumerate(self.space.free) if d.name in arch}
        for p, probabilities in enumerate(self.probabilities(policy)):
            if p in active:
                gradient = -probabilities
                gradient[vector[p]] += 1.0
                self._logits[policy][p] += self.learning_rate * advantage * gradient
        self._baselines[policy] = self.baseline_momentum * baseline + (1 - self.baseline_momentum) * reward

    def state(self) -> dict:
        return {"rng": rng_state(self._rng), "logits": [[l.tolist() for l in ls] for ls in self._logits],
                "baselines": self._baselines, "variances": self._variances, "next_policy": self._next_policy,
                "pending": {k: v for k, v in self._pending.items() if v}}

    def restore(self, state: dict) -> None:
        self._rng = rng_from_state(state["rng"])
        self._logits = [[np.asarray(l, float) for l in ls] for ls in state["logits"]]
        self._baselines = list(state["baselines"])
        self._variances = list(state["variances"])
        self._next_policy = state["next_policy"]
        self._pending = defaultdict(list, {k: list(v) for k, v in state["pending"].items()})
