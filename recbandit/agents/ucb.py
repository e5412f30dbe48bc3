"""UCB1 over item ids (context-free)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbandit._validation import check_float
from recbandit.agents._items import ItemCounts, obs_ids
from recbandit.agents.base import Agent, AgentConfig, Decision, Obs, argmax_random_ties, check_rewards


@dataclass(frozen=True)
class UCB1Config(AgentConfig):
    """Attributes: c: width multiplier (``sqrt(2)`` is Auer et al.'s constant)."""

    c: float = float(np.sqrt(2.0))

    def __post_init__(self) -> None:
        check_float("c", self.c, min_value=0.0)


class UCB1(Agent):
    """Score ``mean_i + c * sqrt(ln N / n_i)``; an item never pulled scores +inf.

    ``N`` is the total number of updates so far. The choice is deterministic up to
    uniform tie-breaking, so the propensity is ``1 / n_ties``.

    Paper: P. Auer, N. Cesa-Bianchi, P. Fischer, "Finite-time Analysis of the Multiarmed
    Bandit Problem", Machine Learning 47, 2002.
    """

    name = "ucb1"
    deterministic = False
    family = "context-free"
    Config = UCB1Config
    config: UCB1Config

    def _reset(self) -> None:
        self.stats = ItemCounts()
        self.total = 0

    def act(self, obs: Obs) -> Decision:
        """Highest upper confidence bound per user."""
        ids = obs_ids(obs)
        n, s = self.stats.gather(ids)
        with np.errstate(divide="ignore", invalid="ignore"):
            width = self.config.c * np.sqrt(np.log(max(self.total, 1)) / n)
            scores = np.where(n > 0, s / n + width, np.inf)
        actions, ties = argmax_random_ties(scores, self.rng)
        return Decision(actions, 1.0 / ties.sum(axis=1))

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add each reward to its item's count and sum."""
        ids = obs_ids(obs)
        actions, rewards = check_rewards(actions, rewards, *ids.shape)
        self.stats.add(ids[np.arange(len(actions)), actions], rewards)
        self.total += len(actions)
