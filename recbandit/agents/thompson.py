"""Bernoulli Thompson sampling over item ids (context-free)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbandit._validation import check_float
from recbandit.agents._items import ItemCounts, obs_ids
from recbandit.agents._propensity import PROPENSITY_EVALS, beta_choice_probability, check_evals
from recbandit.agents.base import Agent, AgentConfig, Decision, Obs, check_rewards


@dataclass(frozen=True)
class BernoulliTSConfig(AgentConfig):
    """Hyper-parameters of ``BernoulliTS``.

    Attributes:
        alpha, beta: Beta prior.
        propensity_samples: the most evaluations of the propensity integrand per decision
            (``recbandit.agents._propensity``: a first pass of 17 or 65, then 17 per refined
            panel), at least 65; 0: no propensity (NaN).
    """

    alpha: float = 1.0
    beta: float = 1.0
    propensity_samples: int = PROPENSITY_EVALS

    def __post_init__(self) -> None:
        check_float("alpha", self.alpha, min_value=0.0, min_inclusive=False)
        check_float("beta", self.beta, min_value=0.0, min_inclusive=False)
        check_evals("propensity_samples", self.propensity_samples)


class BernoulliTS(Agent):
    """Draw ``theta_i ~ Beta(alpha + successes_i, beta + failures_i)`` per candidate, pick the max.

    Rewards must be in [0, 1]; a reward r counts r successes and 1 - r failures (exact for
    0/1 rewards). The propensity of the chosen item, ``P(its draw is the largest)``, is the
    integral of its Beta density times the other candidates' Beta CDFs, computed by
    adaptive quadrature to a relative error of about 1e-5 (``beta_choice_probability``;
    rare choices included), so IPS on the log is unbiased up to that error; no random
    draws are spent on it, so the actions of a seed do not depend on it. ``propensity_samples = 0`` skips it
    (NaN).

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
        evals = self.config.propensity_samples
        if evals == 0:
            return Decision(actions, np.full(len(actions), np.nan))
        return Decision(actions, beta_choice_probability(a, b, actions, evals))

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add successes and failures of each chosen item."""
        ids = obs_ids(obs)
        actions, rewards = check_rewards(actions, rewards, *ids.shape)
        if rewards.min() < 0.0 or rewards.max() > 1.0:
            raise ValueError("BernoulliTS needs rewards in [0, 1]")
        self.stats.add(ids[np.arange(len(actions)), actions], rewards)
