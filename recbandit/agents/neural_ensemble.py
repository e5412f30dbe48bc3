"""Bootstrapped ensemble of networks: act with one member drawn at random (Thompson-like)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbandit._validation import check_choice, check_int
from recbandit.agents._neural import NeuralAgent, NeuralConfig
from recbandit.agents.base import Decision, Obs

BOOTSTRAP = ("poisson", "bernoulli", "none")


@dataclass(frozen=True)
class NeuralEnsembleConfig(NeuralConfig):
    """``NeuralConfig`` plus the ensemble's size and bootstrap.

    Attributes:
        members: networks in the ensemble (>= 2).
        bootstrap: weight of each new row in each member's loss: ``"poisson"`` (Poisson(1),
            the online bootstrap), ``"bernoulli"`` (a 0/1 mask with p = 1/2, as in
            Bootstrapped DQN) or ``"none"`` (1: members differ by initialisation only).
    """

    members: int = 5
    bootstrap: str = "bernoulli"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("members", self.members, min_value=2)
        check_choice("bootstrap", self.bootstrap, BOOTSTRAP)


class NeuralEnsemble(NeuralAgent):
    """E ReLU MLPs, each trained on its own bootstrap of the data; each user follows one at random.

    Every stored row carries one weight per member (``bootstrap``), and member e minimises
    its weighted squared error, so the spread of the members' predictions stands for the
    uncertainty. For each user a member is drawn uniformly and the user gets that
    member's argmax: an approximate Thompson sample. All members are evaluated anyway
    (one batched forward pass), so the propensity is exact: the share of members whose
    argmax is the chosen candidate.

    Paper: I. Osband, C. Blundell, A. Pritzel and B. Van Roy, "Deep Exploration via
    Bootstrapped DQN", NeurIPS 2016 (bandit form: I. Osband and B. Van Roy,
    "Bootstrapped Thompson Sampling and Deep Exploration", arXiv:1507.00300, 2015).
    """

    name = "neural-ensemble"
    deterministic = False
    family = "neural"
    Config = NeuralEnsembleConfig
    config: NeuralEnsembleConfig
    weighted = True

    @property
    def members(self) -> int:
        """Ensemble size E."""
        return self.config.members

    def _row_weights(self, n: int) -> np.ndarray:
        """float32[n, E] bootstrap weights of n new rows."""
        e = self.config.members
        if self.config.bootstrap == "poisson":
            return self.rng.poisson(1.0, size=(n, e)).astype(np.float32)
        if self.config.bootstrap == "bernoulli":
            return (self.rng.random((n, e)) < 0.5).astype(np.float32)
        return np.ones((n, e), dtype=np.float32)

    def scores(self, obs: Obs) -> np.ndarray:
        """float64[E, B, K]: every member's prediction for every candidate."""
        x, ids = self.inputs(obs)
        b, k, p = x.shape
        assert self.net is not None
        return self.net.predict(x.reshape(b * k, p), None if ids is None else ids.reshape(b * k)).reshape(-1, b, k)

    def _act(self, obs: Obs) -> Decision:
        """A uniformly drawn member's argmax per user; propensity = share of members that agree."""
        choices = self.scores(obs).argmax(axis=2)  # [E, B]
        e, b = choices.shape
        actions = choices[self.rng.integers(e, size=b), np.arange(b)]
        return Decision(actions, (choices == actions).mean(axis=0))
