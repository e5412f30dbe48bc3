"""ε-greedy over item ids (context-free)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbandit._validation import check_float
from recbandit.agents._items import ItemCounts, obs_ids
from recbandit.agents.base import Agent, AgentConfig, Decision, Obs, argmax_random_ties, check_rewards


@dataclass(frozen=True)
class EpsilonGreedyConfig(AgentConfig):
    """Attributes: epsilon: exploration rate in [0, 1]; initial_value: mean assumed for unseen items."""

    epsilon: float = 0.1
    initial_value: float = 1.0

    def __post_init__(self) -> None:
        check_float("epsilon", self.epsilon, min_value=0.0, max_value=1.0)
        check_float("initial_value", self.initial_value)


class EpsilonGreedy(Agent):
    """With probability ε a uniformly random candidate, else the best empirical mean.

    Means are per item id; an item never pulled has mean ``initial_value`` (optimistic by
    default). Ties between greedy candidates are broken uniformly, and the propensity is
    exact: ``ε/K + (1-ε)/n_ties`` for a greedy maximiser, ``ε/K`` otherwise.

    Paper: R. S. Sutton and A. G. Barto, Reinforcement Learning: An Introduction, 1998, §2.2.
    """

    name = "eps-greedy"
    deterministic = False
    family = "context-free"
    Config = EpsilonGreedyConfig
    config: EpsilonGreedyConfig

    def _reset(self) -> None:
        self.stats = ItemCounts()

    def act(self, obs: Obs) -> Decision:
        """ε-greedy choice for each user; see the class docstring for the propensity."""
        ids = obs_ids(obs)
        n, s = self.stats.gather(ids)
        means = np.where(n > 0, s / np.maximum(n, 1.0), self.config.initial_value)
        greedy, ties = argmax_random_ties(means, self.rng)
        b, k = ids.shape
        eps = self.config.epsilon
        explore = self.rng.random(b) < eps
        actions = np.where(explore, self.rng.integers(k, size=b), greedy)
        in_ties = ties[np.arange(b), actions]
        prop = eps / k + (1.0 - eps) * in_ties / ties.sum(axis=1)
        return Decision(actions, prop)

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add each reward to its item's count and sum."""
        ids = obs_ids(obs)
        actions, rewards = check_rewards(actions, rewards, *ids.shape)
        self.stats.add(ids[np.arange(len(actions)), actions], rewards)
