"""Hybrid LinUCB: a shared model on user x item context features plus a model per item id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recbandit.agents._linear import LinearAgent, ucb_argmax
from recbandit.agents.base import AgentConfig, Decision, Obs, deterministic
from recbandit.agents.linucb import LinUCBConfig


@dataclass(frozen=True)
class HybridLinUCBConfig(LinUCBConfig):
    """``LinUCBConfig``'s attributes; ``ridge`` is the prior precision of both parts (Alg. 2's I).

    ``item_id_features`` must stay False: the per-item part already learns per id.
    """


class HybridLinUCB(LinearAgent):
    """Hybrid LinUCB: score ``z^T beta + x^T theta_a + alpha * sqrt(s_a)`` (Li et al. 2010, Alg. 2).

    Shared features ``z`` are those of ``linucb-shared`` (``vec((user, 1) ⊗ (item, 1))``
    with ``features="outer"``, the item context alone with ``features="item"``), with one
    coefficient ``beta`` for all items; per-item features ``x`` are the user context (+ 1),
    with a coefficient ``theta_a`` per item id, created at the prior (``A_a = ridge * I``,
    ``B_a = 0``, ``b_a = 0``) the first time an id is seen among the candidates, so the
    catalogue may grow. ``s_a`` is Alg. 2's variance with its cross terms. What the item's
    context predicts transfers to unseen items through ``beta``; what it does not (a warm
    item's own appeal to each kind of user) is learned per id in ``theta_a``.

    State and updates are in ``recbandit.agents._hybrid.HybridRidge``: exact rank-one
    updates equal to Alg. 2's, and a batch of B rows folded in exactly (the same state as
    B updates one by one; one vectorised pass per occurrence of an item in the batch).
    Scoring is vectorised over users and candidates. The choice is a deterministic argmax,
    so its propensity is 1.

    Paper: L. Li, W. Chu, J. Langford, R. E. Schapire, "A Contextual-Bandit Approach to
    Personalized News Article Recommendation", WWW 2010 (Alg. 2, LinUCB with hybrid
    linear models).
    """

    name = "linucb-hybrid"
    deterministic = True
    family = "linear"
    Config = HybridLinUCBConfig
    config: HybridLinUCBConfig
    hybrid_capable = True

    @classmethod
    def make_config(cls, **params: Any) -> AgentConfig:
        """``LinearAgent.make_config``; ``item_id_features=True`` is refused (already per id)."""
        config = super().make_config(**params)
        if config.item_id_features:  # type: ignore[attr-defined]
            raise ValueError(f"item_id_features does not apply to {cls.name!r}: its per-item part learns per item id")
        return config

    def _item_part(self, user: np.ndarray) -> np.ndarray:
        """float64[B, d] per-item features: the user context [B, d_u] (+ 1)."""
        return self._user_features(user)

    def act(self, obs: Obs) -> Decision:
        """Highest upper confidence bound per user."""
        actions = ucb_argmax(*self.mean_var(obs), self.config.alpha)
        return Decision(actions, deterministic(len(actions)))
