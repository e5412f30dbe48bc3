"""Linear Thompson sampling, shared and disjoint, with Cholesky posterior sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbandit._validation import check_float, check_int
from recbandit.agents._linear import LinearAgent, LinearConfig, SharedRidge
from recbandit.agents.base import Decision, Obs


@dataclass(frozen=True)
class LinTSConfig(LinearConfig):
    """Attributes: v: posterior scale; propensity_samples: Monte Carlo draws for propensities."""

    v: float = 0.2
    propensity_samples: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float("v", self.v, min_value=0.0)
        check_int("propensity_samples", self.propensity_samples, min_value=0)


def _propensity(wins: np.ndarray, m: int) -> np.ndarray:
    """(1 + wins) / (1 + M), or NaN when no Monte Carlo draws were asked for."""
    return np.full(wins.shape, np.nan) if m == 0 else (1.0 + wins) / (1.0 + m)


class LinTS(LinearAgent):
    """Shared linear TS: ``theta~ ~ N(theta, v^2 A^-1)`` drawn per user, pick argmax ``x^T theta~``.

    Samples use the Cholesky factor L of ``A^-1`` (``theta + v L z``), recomputed once per
    model update, never an SVD (reproducible across BLAS builds). The propensity of the
    chosen candidate is estimated from ``propensity_samples`` further draws M as
    ``(1 + wins) / (1 + M)``; NaN when M = 0.

    Paper: S. Agrawal and N. Goyal, "Thompson Sampling for Contextual Bandits with Linear
    Payoffs", ICML 2013.
    """

    name = "lints-shared"
    deterministic = False
    family = "linear"
    Config = LinTSConfig
    config: LinTSConfig

    def _reset(self) -> None:
        super()._reset()
        self._chol: tuple[int, np.ndarray] | None = None

    def _factor(self, model: SharedRidge) -> np.ndarray:
        if self._chol is None or self._chol[0] != model.version:
            self._chol = (model.version, np.linalg.cholesky(model.A_inv))
        return self._chol[1]

    def act(self, obs: Obs) -> Decision:
        """One posterior draw per user; argmax over its candidates."""
        x, model = self.shared_scores(obs)
        # Scores under theta + v L z are x^T theta + v (x^T L) z: factor x^T L once per batch,
        # then every draw (the choice and the M propensity draws) costs K * p per user.
        xl = x @ self._factor(model)
        mean = x @ model.theta
        b, p = x.shape[0], x.shape[2]
        v = self.config.v
        actions = (mean + v * np.einsum("bkp,bp->bk", xl, self.rng.standard_normal((b, p)))).argmax(axis=1)
        m = self.config.propensity_samples
        wins = np.zeros(b)
        if m:
            z = self.rng.standard_normal((m, b, p))
            wins = ((mean + v * np.einsum("bkp,mbp->mbk", xl, z)).argmax(axis=2) == actions).sum(axis=0)
        return Decision(actions, _propensity(wins, m))


class DisjointLinTS(LinearAgent):
    """Disjoint linear TS: one ridge posterior per item id over the user context (+ 1).

    Each item's draw enters the choice only through its score ``x^T theta~_i``, which is
    exactly ``N(x^T theta_i, v^2 x^T A_i^-1 x)`` and independent across items, so scores
    are sampled directly (no p x p factorisation per candidate). Propensities as ``LinTS``.

    Paper: S. Agrawal and N. Goyal, ICML 2013.
    """

    name = "lints-disjoint"
    deterministic = False
    family = "linear"
    Config = LinTSConfig
    config: LinTSConfig
    disjoint = True

    def act(self, obs: Obs) -> Decision:
        """One posterior draw per candidate; argmax per user."""
        mean, var = self.mean_var(obs)
        std = self.config.v * np.sqrt(np.maximum(var, 0.0))
        actions = (mean + std * self.rng.standard_normal(mean.shape)).argmax(axis=1)
        m = self.config.propensity_samples
        wins = np.zeros(len(actions))
        if m:
            draws = mean + std * self.rng.standard_normal((m, *mean.shape))
            wins = (draws.argmax(axis=2) == actions).sum(axis=0)
        return Decision(actions, _propensity(wins, m))
