"""Linear Thompson sampling, shared and disjoint, with Cholesky posterior sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbandit._validation import check_float, check_int
from recbandit.agents._linear import LinearAgent, LinearConfig
from recbandit.agents._propensity import (
    PROPENSITY_EVALS,
    RESAMPLING_CAP,
    check_evals,
    gaussian_choice_probability,
    geometric_resampling,
)
from recbandit.agents.base import Decision, Obs


@dataclass(frozen=True)
class LinTSConfig(LinearConfig):
    """Hyper-parameters of ``LinTS`` (shared model).

    Attributes:
        v: posterior scale.
        propensity_samples: the most further posterior draws per decision for the propensity
            (geometric resampling, see ``LinTS``); 0: no propensity (NaN).
    """

    v: float = 0.2
    propensity_samples: int = RESAMPLING_CAP

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float("v", self.v, min_value=0.0)
        check_int("propensity_samples", self.propensity_samples, min_value=0)


@dataclass(frozen=True)
class DisjointLinTSConfig(LinTSConfig):
    """Hyper-parameters of ``DisjointLinTS``.

    Attributes:
        v: posterior scale.
        propensity_samples: the most evaluations of the propensity integrand per decision
            (``recbandit.agents._propensity``: a first pass of 17 or 65, then 17 per refined
            panel), at least 65; 0: no propensity (NaN).
    """

    propensity_samples: int = PROPENSITY_EVALS

    def __post_init__(self) -> None:
        super().__post_init__()
        check_evals("propensity_samples", self.propensity_samples)


class LinTS(LinearAgent):
    """Shared linear TS: ``theta~ ~ N(theta, v^2 A^-1)`` drawn per user, pick argmax ``x^T theta~``.

    Samples use the Cholesky factor L of ``A^-1`` (``theta + v L z``), recomputed once per
    model update, never an SVD (reproducible across BLAS builds).

    Propensity: one ``theta~`` per user makes the candidates' scores jointly Gaussian, so
    the choice probability has no one-dimensional form. It is estimated by geometric
    resampling (Neu and Bartók, ALT 2013): further draws until the chosen candidate wins
    again, N of them, and ``1 / N`` is logged. ``E[N] = 1 / p`` exactly, so IPS weights
    on the log are unbiased up to the cap M = ``propensity_samples``: it scales an
    action's expected weight by ``1 - (1 - p)^M``, a bias below ``e^-10 = 4.5e-5`` for
    every choice with ``p >= 10 / M`` (``1e-4`` at the default M = 100,000); choices rarer
    than ``1 / M`` are under-weighted. A decision costs ``1 / p`` further draws on average
    (at most M), K (candidates) at most averaged over decisions, drawn in chunks of 8, 16,
    32, ... (up to twice the draws needed). The price of unbiasedness is variance: ``N``
    is noisier than ``1 / p`` (``E[N^2] = (2 - p) / p^2``), which about doubles the second
    moment of an IPS weight. These draws come from a generator of their own (spawned from
    the agent's seed), so the actions of a seed do not depend on them.

    Paper: S. Agrawal and N. Goyal, "Thompson Sampling for Contextual Bandits with Linear
    Payoffs", ICML 2013.
    """

    name = "lints-shared"
    deterministic = False
    family = "linear"
    Config = LinTSConfig
    config: LinTSConfig

    hybrid_capable = True

    def _reset(self) -> None:
        super()._reset()
        self._resample_rng = self.rng.spawn(1)[0]

    def act(self, obs: Obs) -> Decision:
        """One posterior draw per user; argmax over its candidates.

        With ``item_id_features`` the draw is the hybrid model's exact joint draw: the shared
        part through its Cholesky root, plus an independent per-item part (``shared_posterior``).
        """
        # Scores under theta + v L z are x^T theta + v (x^T L) z: the root x^T L is formed once
        # per batch, then every draw (the choice and the resampled ones) costs K * p per user.
        mean, root, item_sd = self.shared_posterior(obs)
        b, k, p = root.shape
        v = self.config.v
        noise = np.einsum("bkp,bp->bk", root, self.rng.standard_normal((b, p)))
        if item_sd is not None:
            noise += item_sd * self.rng.standard_normal(mean.shape)
        actions = (mean + v * noise).argmax(axis=1)
        cap = self.config.propensity_samples
        if cap == 0:
            return Decision(actions, np.full(b, np.nan))

        def draw(rows: np.ndarray, m: int) -> np.ndarray:
            part = slice(None) if len(rows) == b else rows
            z = self._resample_rng.standard_normal((len(rows), p, m))
            scores = mean[part][:, :, None] + v * (root[part] @ z)
            if item_sd is not None:
                eps = self._resample_rng.standard_normal((len(rows), k, m))
                scores = scores + v * item_sd[part][:, :, None] * eps
            return scores.transpose(2, 0, 1)

        return Decision(actions, geometric_resampling(draw, actions, k, cap))


class DisjointLinTS(LinearAgent):
    """Disjoint linear TS: one ridge posterior per item id over the user context (+ 1).

    Each item's draw enters the choice only through its score ``x^T theta~_i``, which is
    exactly ``N(x^T theta_i, v^2 x^T A_i^-1 x)`` and independent across items, so scores
    are sampled directly (no p x p factorisation per candidate). For the same reason the
    propensity of the chosen candidate is the one-dimensional integral of its normal
    density times the other candidates' normal CDFs, computed by adaptive quadrature to a
    relative error of about 1e-5 (``gaussian_choice_probability``; rare choices included),
    so IPS on the log is unbiased up to that error. No random draws are spent on it, so
    the actions of a seed do not depend on it.

    Paper: S. Agrawal and N. Goyal, ICML 2013.
    """

    name = "lints-disjoint"
    deterministic = False
    family = "linear"
    Config = DisjointLinTSConfig
    config: DisjointLinTSConfig
    disjoint = True

    def act(self, obs: Obs) -> Decision:
        """One posterior draw per candidate; argmax per user."""
        mean, var = self.mean_var(obs)
        std = self.config.v * np.sqrt(np.maximum(var, 0.0))
        actions = (mean + std * self.rng.standard_normal(mean.shape)).argmax(axis=1)
        evals = self.config.propensity_samples
        if evals == 0:
            return Decision(actions, np.full(len(actions), np.nan))
        return Decision(actions, gaussian_choice_probability(mean, std, actions, evals))
