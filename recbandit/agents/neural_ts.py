"""NeuralTS: Thompson sampling with the network's prediction as mean and a gradient-based variance."""

from __future__ import annotations

from dataclasses import dataclass

from recbandit._validation import check_int
from recbandit.agents._neural import mc_propensity
from recbandit.agents.base import Decision, Obs
from recbandit.agents.neural_ucb import NeuralGradientAgent, NeuralGradientConfig


@dataclass(frozen=True)
class NeuralTSConfig(NeuralGradientConfig):
    """``NeuralGradientConfig`` with a wider default ``nu``, plus the propensity estimate.

    Attributes:
        nu: posterior standard deviation scale (0.03: on Synthetic-v0 it trims the seed-to-seed
            spread of 0.01 at no cost in mean regret; 0.1 explores too much there).
        propensity_samples: further draws M for the propensity estimate (0: NaN).
    """

    nu: float = 0.03
    propensity_samples: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("propensity_samples", self.propensity_samples, min_value=0)


class NeuralTS(NeuralGradientAgent):
    """Draw ``r~_k ~ N(f(x_k; theta), nu^2 lambda g_k^T Z^-1 g_k)`` per candidate, pick the max.

    Mean, gradient and the diagonal ``Z`` as ``NeuralUCB``; each candidate's score is drawn
    independently, as in the paper's Algorithm 1. The propensity of the chosen candidate
    is estimated from ``propensity_samples`` further draws M as ``(1 + wins) / (1 + M)``
    (NaN when M = 0).

    Paper: W. Zhang, D. Zhou, L. Li and Q. Gu, "Neural Thompson Sampling", ICLR 2021.
    """

    name = "neural-ts"
    deterministic = False
    family = "neural"
    Config = NeuralTSConfig
    config: NeuralTSConfig

    def _act(self, obs: Obs) -> Decision:
        """One draw per candidate; argmax per user."""
        mean, std = self.mean_std(obs)
        std *= self.config.nu
        actions = (mean + std * self.rng.standard_normal(mean.shape)).argmax(axis=1)
        m = self.config.propensity_samples
        further = mean + std * self.rng.standard_normal((m, *mean.shape))
        return Decision(actions, mc_propensity(further, actions))
