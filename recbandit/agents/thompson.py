"""Bernoulli Thompson sampling over item ids (context-free)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbandit._validation import check_float, check_int
from recbandit.agents._items import ItemCounts, obs_ids
from recbandit.agents.base import Agent, AgentConfig, Decision, Obs, check_rewards


@dataclass(frozen=True)
class BernoulliTSConfig(AgentConfig):
    """Attributes: alpha, beta: Beta prior; propensity_samples: Monte Carlo draws for propensities."""

    alpha: float = 1.0
    beta: float = 1.0
    propensity_samples: int = 20

    def __post_init__(self) -> None:
        check_float("alpha", self.alpha, min_value=0.0, min_inclusive=False)
        check_float("beta", self.beta, min_value=0.0, min_inclusive=False)
        check_int("propensity_samples", self.propensity_samples, min_value=0)


class BernoulliTS(Agent):
    """Draw ``theta_i ~ Beta(alpha + successes_i, beta + failures_i)`` per candidate, pick the max.

    Rewards must be in [0, 1]; a reward r counts r successes and 1 - r failures (exact for
    0/1 rewards). The propensity of the chosen item is estimated from
    ``propensity_samples`` further posterior draws M as ``(1 + wins) / (1 + M)`` (never 0);
    with M = 0 it is not estimated and reported as NaN.

    Paper: W. R. Thompson, Biometrika 25, 1933; O. Chapelle and L. Li, "An Empirical
    Evaluation of Thompson Sampling", NeurIPS 2011.
    """

    name = "ts"
    deterministic = False
    family = "context-free"
    Config = BernoulliTSConfig
    config: BernoulliTSConfig

    def _reset(self) -> None:
        self.stats = ItemCounts()

    def posterior(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Beta parameters (a, b), each float64 shaped like ``ids``."""
        n, s = self.stats.gather(ids)
        return self.config.alpha + s, self.config.beta + (n - s)

    def act(self, obs: Obs) -> Decision:
        """One posterior draw per candidate; argmax per user."""
        ids = obs_ids(obs)
        a, b = self.posterior(ids)
        actions = self.rng.beta(a, b).argmax(axis=1)
        m = self.config.propensity_samples
        if m == 0:
            return Decision(actions, np.full(len(actions), np.nan))
        wins = (self.rng.beta(a, b, size=(m, *a.shape)).argmax(axis=2) == actions).sum(axis=0)
        return Decision(actions, (1.0 + wins) / (1.0 + m))

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add successes and failures of each chosen item."""
        ids = obs_ids(obs)
        actions, rewards = check_rewards(actions, rewards, *ids.shape)
        if rewards.min() < 0.0 or rewards.max() > 1.0:
            raise ValueError("BernoulliTS needs rewards in [0, 1]")
        self.stats.add(ids[np.arange(len(actions)), actions], rewards)
