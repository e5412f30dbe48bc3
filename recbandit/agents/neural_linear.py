"""NeuralLinear: Bayesian linear regression on a trained network's last hidden layer, Thompson sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbandit._validation import check_float, check_int
from recbandit.agents._neural import NeuralAgent, NeuralConfig
from recbandit.agents._propensity import RESAMPLING_CAP, geometric_resampling
from recbandit.agents._ridge import SharedRidge
from recbandit.agents.base import Decision, Obs


@dataclass(frozen=True)
class NeuralLinearConfig(NeuralConfig):
    """``NeuralConfig`` plus the Bayesian linear regression's Normal-inverse-gamma prior.

    Attributes:
        ridge: prior precision lambda of the last-layer weights (``beta ~ N(0, sigma^2 / lambda I)``).
        a0: shape of the inverse-gamma prior of the noise variance sigma^2.
        b0: scale of that prior (prior mean ``b0 / (a0 - 1)``).
        propensity_samples: the most further posterior draws per decision for the propensity
            (geometric resampling, as ``LinTS``); 0: no propensity (NaN).
    """

    ridge: float = 1.0
    a0: float = 3.0
    b0: float = 0.3
    propensity_samples: int = RESAMPLING_CAP

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float("ridge", self.ridge, min_value=0.0, min_inclusive=False)
        check_float("a0", self.a0, min_value=0.0, min_inclusive=False)
        check_float("b0", self.b0, min_value=0.0, min_inclusive=False)
        check_int("propensity_samples", self.propensity_samples, min_value=0)


class NeuralLinear(NeuralAgent):
    """Thompson sampling with a Bayesian linear head on learned features.

    A ReLU MLP is trained on the observed (features, reward) rows (squared error, every
    ``train_every`` decisions). Its last hidden layer plus a constant, ``phi(x)`` float[h + 1],
    is the representation of a Bayesian linear regression ``r = phi(x)^T beta + noise``
    with the Normal-inverse-gamma prior ``sigma^2 ~ IG(a0, b0)``,
    ``beta | sigma^2 ~ N(0, sigma^2 / lambda I)``. Its posterior is exact: rebuilt from the
    whole replay buffer under the new representation after each retraining and updated
    exactly with each new batch (Sherman–Morrison / Woodbury, ``SharedRidge``) in
    between. Each user gets one posterior draw ``sigma^2 ~ IG(a_n, b_n)``,
    ``beta ~ N(mu_n, sigma^2 Lambda_n^-1)`` (Cholesky, as ``LinTS``) and the argmax of
    ``phi(x)^T beta`` over its candidates. One draw per user makes the candidates' scores
    jointly distributed, so the choice's propensity is estimated as ``LinTS``'s is: by
    geometric resampling (Neu and Bartók, ALT 2013), further draws (sigma^2 and beta) until
    the chosen candidate wins again, N of them, ``1 / N`` logged; ``E[N] = 1 / p``, so IPS
    weights are unbiased up to the cap ``propensity_samples``. The further draws come from
    a generator of their own (spawned from the agent's seed), so they do not change the
    actions of a seed.

    Paper: C. Riquelme, G. Tucker and J. Snoek, "Deep Bayesian Bandits Showdown: An
    Empirical Comparison of Bayesian Deep Networks for Thompson Sampling", ICLR 2018.
    """

    name = "neural-linear"
    deterministic = False
    family = "neural"
    Config = NeuralLinearConfig
    config: NeuralLinearConfig

    def _reset(self) -> None:
        super()._reset()
        self._resample_rng = self.rng.spawn(1)[0]

    def _build(self, p: int) -> None:
        self._refit()

    def _phi(self, x: np.ndarray, ids: np.ndarray | None) -> np.ndarray:
        """float64[N, h + 1]: last hidden layer of rows x [N, p] (item ids int64[N] or None), plus a constant 1."""
        assert self.net is not None
        h = self.net.embed(x, ids)
        return np.concatenate([h, np.ones((len(h), 1))], axis=1)

    def _refit(self) -> None:
        """Posterior from every buffered row under the current representation."""
        assert self.net is not None and self.buffer is not None
        self.head = SharedRidge(self.net.weights[-1].shape[1] + 1, self.config.ridge)
        x, r, _ = self.buffer.rows()
        self.yy = float(r @ r)
        self.n = len(r)
        if self.n:
            self.head.update(self._phi(x, self.buffer.item_ids()), r)
        self._cache: tuple[int, np.ndarray, float, float] | None = None

    def posterior(self) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Posterior: mean mu float64[h + 1], Cholesky factor of ``Lambda^-1`` float64[h + 1, h + 1], a_n, b_n."""
        head = self.head
        if self._cache is None or self._cache[0] != head.version:
            chol = np.linalg.cholesky(head.A_inv)
            # b_n = b0 + (r^T r - mu^T Lambda mu) / 2, with Lambda mu = Phi^T r.
            b_n = self.config.b0 + 0.5 * max(self.yy - float(head.theta @ head.b), 0.0)
            self._cache = (head.version, chol, self.config.a0 + 0.5 * self.n, b_n)
        _, chol, a_n, b_n = self._cache
        return head.theta, chol, a_n, b_n

    @staticmethod
    def _draws(
        rng: np.random.Generator, mean: np.ndarray, xl: np.ndarray, a_n: float, b_n: float, m: int
    ) -> np.ndarray:
        """float64[m, B, K] scores under m posterior draws per user, from ``rng``."""
        b, _, d = xl.shape
        sigma = np.sqrt(b_n / rng.gamma(a_n, size=(m, b)))
        z = rng.standard_normal((m, b, d))
        return mean + sigma[:, :, None] * np.einsum("bkd,mbd->mbk", xl, z)

    def _act(self, obs: Obs) -> Decision:
        """One posterior draw per user; argmax over its candidates."""
        x, ids = self.inputs(obs)
        b, k, p = x.shape
        phi = self._phi(x.reshape(b * k, p), None if ids is None else ids.reshape(b * k)).reshape(b, k, -1)
        mu, chol, a_n, b_n = self.posterior()
        mean, xl = phi @ mu, phi @ chol
        actions = self._draws(self.rng, mean, xl, a_n, b_n, 1)[0].argmax(axis=1)
        cap = self.config.propensity_samples
        if cap == 0:
            return Decision(actions, np.full(b, np.nan))

        def draw(rows: np.ndarray, m: int) -> np.ndarray:
            return self._draws(self._resample_rng, mean[rows], xl[rows], a_n, b_n, m)

        return Decision(actions, geometric_resampling(draw, actions, k, cap))

    def _extra_bytes(self) -> int:
        d = self.head.p
        return 8 * (d * (d + 1) + d * d + d) + (0 if self._cache is None else self._cache[1].nbytes)

    def _observed(self, x: np.ndarray, r: np.ndarray, ids: np.ndarray | None) -> None:
        self.head.update(self._phi(x, ids), r)
        self.yy += float(r @ r)
        self.n += len(r)

    def _retrained(self) -> None:
        self._refit()
