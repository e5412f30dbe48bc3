"""Uniform random policy: the regret baseline every other agent must beat."""

from __future__ import annotations

import numpy as np

from recbandit.agents.base import Agent, Decision, Obs, check_rewards


class RandomAgent(Agent):
    """Picks each candidate with probability 1/K; learns nothing."""

    name = "random"
    deterministic = False
    family = "context-free"

    def _reset(self) -> None:
        pass

    def act(self, obs: Obs) -> Decision:
        """Uniform choice; propensity 1/K."""
        b, k = np.shape(obs["items"])[:2]
        return Decision(np.asarray(self.rng.integers(k, size=b)), np.full(b, 1.0 / k))

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Validate and ignore."""
        b, k = np.shape(obs["items"])[:2]
        check_rewards(actions, rewards, b, k)
