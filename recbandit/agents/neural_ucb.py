"""NeuralUCB: a network's prediction plus a confidence width from its gradient (diagonal covariance)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recbandit._validation import check_float
from recbandit.agents._neural import NeuralAgent, NeuralConfig
from recbandit.agents.base import Decision, Obs, deterministic

if TYPE_CHECKING:
    from recbandit.agents._mlp import GradientCovariance


@dataclass(frozen=True)
class NeuralGradientConfig(NeuralConfig):
    """``NeuralConfig`` plus the gradient-covariance exploration of NeuralUCB / NeuralTS.

    Attributes:
        ridge: lambda, prior precision of every network parameter (``Z_0 = lambda I``).
        nu: exploration scale (UCB width multiplier / TS posterior standard deviation scale).
    """

    ridge: float = 1.0
    nu: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float("ridge", self.ridge, min_value=0.0, min_inclusive=False)
        check_float("nu", self.nu, min_value=0.0)


class NeuralGradientAgent(NeuralAgent):
    """Shared state of NeuralUCB and NeuralTS: the diagonal ``Z`` and per-candidate widths."""

    config: NeuralGradientConfig

    def _build(self, p: int) -> None:
        from recbandit.agents._mlp import GradientCovariance

        assert self.net is not None
        self.cov: GradientCovariance = GradientCovariance(self.net, self.config.ridge)

    def mean_std(self, obs: Obs) -> tuple[np.ndarray, np.ndarray]:
        """Network outputs ``f(x)`` and widths ``sqrt(lambda g^T Z^-1 g)`` of every candidate; each float64[B, K]."""
        x, ids = self.inputs(obs)
        b, k, p = x.shape
        mean, var = self.cov.mean_var(x.reshape(b * k, p), None if ids is None else ids.reshape(b * k))
        return mean.reshape(b, k), np.sqrt(np.maximum(var, 0.0)).reshape(b, k)

    def _extra_bytes(self) -> int:
        return sum(z.numel() * z.element_size() for z in self.cov.tensors())

    def _observed(self, x: np.ndarray, r: np.ndarray, ids: np.ndarray | None) -> None:
        # Z_t = Z_{t-1} + g(x_t; theta_{t-1})^2: gradients at the parameters that chose x_t.
        self.cov.add(x, ids)


class NeuralUCB(NeuralGradientAgent):
    """Upper confidence bound ``f(x; theta) + nu * sqrt(lambda g^T Z^-1 g)`` with a diagonal ``Z``.

    ``f`` is a ReLU MLP trained on the observed rewards (squared error plus L2, every
    ``train_every`` decisions), ``g = df/dtheta`` at the current parameters and
    ``Z = lambda I + sum_t g(x_t) g(x_t)^T`` over the chosen candidates, kept diagonal
    (the usual approximation in the authors' code and later work), so one width costs a
    few matrix products per layer (``recbandit.agents._mlp.GradientCovariance``). The
    width's ``1 / sqrt(m)`` (network width) factor of the paper's NTK parametrisation is
    absorbed into ``nu``. The choice is a deterministic argmax, so its propensity is 1.

    Paper: D. Zhou, L. Li and Q. Gu, "Neural Contextual Bandits with UCB-based
    Exploration", ICML 2020.
    """

    name = "neural-ucb"
    deterministic = True
    family = "neural"
    Config = NeuralGradientConfig

    def _act(self, obs: Obs) -> Decision:
        """Highest upper confidence bound per user."""
        mean, std = self.mean_std(obs)
        actions = (mean + self.config.nu * std).argmax(axis=1)
        return Decision(actions, deterministic(len(actions)))
