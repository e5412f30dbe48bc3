"""LinUCB, shared (one bilinear model over user x item contexts) and disjoint (one model per item)."""

from __future__ import annotations

from dataclasses import dataclass

from recbandit._validation import check_float
from recbandit.agents._linear import LinearAgent, LinearConfig, ucb_argmax
from recbandit.agents.base import Decision, Obs, deterministic


@dataclass(frozen=True)
class LinUCBConfig(LinearConfig):
    """Attributes: alpha: width multiplier of the confidence bound (plus ``LinearConfig``'s)."""

    alpha: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float("alpha", self.alpha, min_value=0.0)


class LinUCB(LinearAgent):
    """Shared LinUCB: score ``x^T theta + alpha * sqrt(x^T A^-1 x)`` with x = features(user, item).

    One ridge model over ``vec((user, 1) ⊗ (item, 1))`` (``features="outer"``), so what
    is learned about one item's context transfers to every item, unseen ones included.
    With ``item_id_features=True`` each item id also gets a bias learned per id ("text +
    item id"; mean and variance as ``linucb-hybrid`` with per-item features x = 1).
    The choice is a deterministic argmax, so its propensity is 1.

    Paper: L. Li, W. Chu, J. Langford, R. E. Schapire, "A Contextual-Bandit Approach to
    Personalized News Article Recommendation", WWW 2010 (Alg. 1, with shared features as
    in its hybrid model).
    """

    name = "linucb-shared"
    deterministic = True
    family = "linear"
    Config = LinUCBConfig
    config: LinUCBConfig
    hybrid_capable = True

    def act(self, obs: Obs) -> Decision:
        """Highest upper confidence bound per user."""
        actions = ucb_argmax(*self.mean_var(obs), self.config.alpha)
        return Decision(actions, deterministic(len(actions)))


class DisjointLinUCB(LinearAgent):
    """Disjoint LinUCB: one ridge model per item id over the user context (+ 1).

    Learns nothing about an item before it is pulled; the per-item baseline of the shared
    form. The choice is a deterministic argmax, so its propensity is 1.

    Paper: L. Li et al., WWW 2010 (Alg. 1, disjoint linear models).
    """

    name = "linucb-disjoint"
    deterministic = True
    family = "linear"
    Config = LinUCBConfig
    config: LinUCBConfig
    disjoint = True

    def act(self, obs: Obs) -> Decision:
        """Highest upper confidence bound per user (scores and argmax in one compiled pass)."""
        x, ids, model = self.disjoint_gather(obs)
        actions = model.ucb_argmax(x, ids, self.config.alpha)
        return Decision(actions, deterministic(len(actions)))
