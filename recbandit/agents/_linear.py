"""The linear agents' shared parts: their configuration and the agent base over the ridge models.

``LinearAgent`` turns observations into features (the user context for the per-item models,
``vec((user, 1) x (item, 1))`` or the item context for the shared one, plus a per-id part
with ``item_id_features``), keeps the model (``recbandit.agents._ridge``: ``SharedRidge``,
``DisjointRidge``; ``recbandit.agents._hybrid``: ``HybridRidge``) and gives the algorithms
(LinUCB, LinTS, hybrid LinUCB) posterior means and variances of every candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from recbandit._validation import check_choice, check_float
from recbandit.agents._items import obs_ids
from recbandit.agents._ridge import DisjointRidge, SharedRidge
from recbandit.agents.base import Agent, AgentConfig, Obs, check_rewards, checked_contexts

if TYPE_CHECKING:
    from recbandit.agents._hybrid import HybridRidge

FEATURES = ("outer", "item")

__all__ = ["DisjointRidge", "LinearAgent", "LinearConfig", "SharedRidge", "ucb_argmax"]


@dataclass(frozen=True)
class LinearConfig(AgentConfig):
    """Shared hyper-parameters of the linear agents.

    Attributes:
        ridge: L2 regularisation lambda (prior precision), > 0.
        features: shared models only: ``"outer"`` = vec(user ⊗ item) (a bilinear model
            that generalises to unseen items), ``"item"`` = the candidate context alone
            (for envs whose item contexts already depend on the user).
        intercept: append a constant 1 to the user and item contexts before the features.
        item_id_features: shared models only, "text + item id": each item id also gets a
            bias learned from its rows (a one-hot id feature, kept as the per-item part of
            a hybrid model, Li et al. 2010 Alg. 2 with x = 1). A cold id's bias has mean 0
            and prior variance ``1 / ridge`` (added to its score's variance).
    """

    ridge: float = 1.0
    features: str = "outer"
    intercept: bool = True
    item_id_features: bool = False

    def __post_init__(self) -> None:
        check_float("ridge", self.ridge, min_value=0.0, min_inclusive=False)
        check_choice("features", self.features, FEATURES)
        if not isinstance(self.item_id_features, (bool, np.bool_)):
            raise ValueError(f"item_id_features must be True or False, got {self.item_id_features!r}")


class LinearAgent(Agent):
    """Shared machinery: feature maps, lazy model creation, observation checks.

    With a per-item part (``item_id_features``, ``linucb-hybrid``) the model is a ``HybridRidge``.
    """

    disjoint: ClassVar[bool] = False
    #: ``act`` reads the model only through ``mean_var`` / ``shared_posterior`` (so
    #: ``item_id_features`` may be set); agents reading ``shared_scores`` refuse it.
    hybrid_capable: ClassVar[bool] = False
    config: Any

    @classmethod
    def make_config(cls, **params: Any) -> AgentConfig:
        """``Agent.make_config``, refusing ``item_id_features`` where it does not apply."""
        config = super().make_config(**params)
        if getattr(config, "item_id_features", False):
            if cls.disjoint:
                raise ValueError(f"item_id_features applies to shared models; {cls.name!r} learns per item id")
            if not cls.hybrid_capable:
                raise ValueError(f"item_id_features is not supported by {cls.name!r}")
        return config

    def _reset(self) -> None:
        self.model: SharedRidge | DisjointRidge | HybridRidge | None = None
        self._dims: tuple[int, int] | None = None
        self._root: tuple[int, np.ndarray] | None = None  # (model version, Cholesky factor of A^-1)
        # (obs["user"], obs["item_ids"], their features, ids) of the last disjoint act: update reuses them
        self._gathered: tuple[Any, Any, np.ndarray, np.ndarray] | None = None

    def _contexts(self, obs: Obs) -> tuple[np.ndarray, np.ndarray]:
        """``user`` [B, d_u] and ``items`` [B, K, d_i] of ``obs``, checked against the model's dims."""
        user, items, self._dims = checked_contexts(obs, self._dims)
        return user, items

    def _with_intercept(self, a: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """``dtype`` copy of ``a`` [..., d], with a trailing column of ones if ``intercept``: [..., d (+ 1)]."""
        if not self.config.intercept:
            return a.astype(dtype)
        d = a.shape[-1]
        out = np.empty((*a.shape[:-1], d + 1), dtype=dtype)
        out[..., :d] = a
        out[..., d] = 1.0
        return out

    def _user_features(self, user: np.ndarray) -> np.ndarray:
        """float64[B, p] features of the disjoint models: the user context [B, d_u] (+ 1)."""
        if not self.config.intercept:
            return user.astype(np.float64)
        b, d = user.shape
        x = np.empty((b, d + 1))
        x[:, :d] = user
        x[:, d] = 1.0
        return x

    def _joint_features(self, user: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64[B, K, p] features of the shared model for items [B, K, d_i]."""
        v = self._with_intercept(items)
        if self.config.features == "item":
            return v
        u = self._with_intercept(user)
        b, k, di = v.shape
        return (u[:, None, :, None] * v[:, :, None, :]).reshape(b, k, u.shape[1] * di)

    def _item_part(self, user: np.ndarray) -> np.ndarray | None:
        """float64[B, d] per-item features of a hybrid model (ones with ``item_id_features``), else None."""
        if not self.config.item_id_features:
            return None
        return np.ones((len(user), 1))

    def _ensure_model(self, p: int, d: int | None = None) -> SharedRidge | DisjointRidge | HybridRidge:
        """The model, created on first use: hybrid with per-item dim ``d`` if given."""
        if self.model is None:
            if d is not None:
                from recbandit.agents._hybrid import HybridRidge  # noqa: PLC0415 (_hybrid builds on this module)

                self.model = HybridRidge(p, d, self.config.ridge)
            else:
                self.model = (DisjointRidge if self.disjoint else SharedRidge)(p, self.config.ridge)
        return self.model

    def _hybrid(self, obs: Obs, p: int, d: int) -> tuple[np.ndarray, HybridRidge]:
        """Candidate ids int64[B, K] of ``obs`` and the hybrid model, grown to cover them."""
        ids, model = obs_ids(obs), self._ensure_model(p, d)
        assert not isinstance(model, (SharedRidge, DisjointRidge))
        model.ensure(ids)
        return ids, model

    def shared_scores(self, obs: Obs) -> tuple[np.ndarray, SharedRidge]:
        """Features float64[B, K, p] of ``obs`` and the shared model (created on first use)."""
        x = self._joint_features(*self._contexts(obs))
        model = self._ensure_model(x.shape[2])
        assert isinstance(model, SharedRidge)
        return x, model

    def _cholesky(self, model: SharedRidge) -> np.ndarray:
        """Lower Cholesky factor float64[p, p] of ``model.A_inv``, recomputed once per model update."""
        if self._root is None or self._root[0] != model.version:
            self._root = (model.version, np.linalg.cholesky(model.A_inv))
        return self._root[1]

    def shared_posterior(self, obs: Obs) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A shared model's posterior over the scores, in parts: ``mean``, ``root``, ``item_sd``.

        A draw of the scores at posterior scale v is ``mean + v * (root @ xi + item_sd * eps)``,
        ``xi ~ N(0, I_p)`` per user, ``eps ~ N(0, 1)`` per candidate: ``theta + L xi`` with
        ``L L^T = A^-1`` (``item_sd`` None), or for a hybrid model an exact joint draw (see
        ``recbandit.agents._hybrid``).

        Returns:
            mean float64[B, K], root float64[B, K, p] and item_sd float64[B, K] or None.
        """
        user, items = self._contexts(obs)
        z = self._joint_features(user, items)
        xi = self._item_part(user)
        if xi is None:
            model = self._ensure_model(z.shape[2])
            assert isinstance(model, SharedRidge)
            return z @ model.theta, z @ self._cholesky(model), None
        ids, hybrid = self._hybrid(obs, z.shape[2], xi.shape[1])
        y, xb, xax = hybrid.parts(z, xi, ids)
        return y @ hybrid.beta + xb, y @ self._cholesky(hybrid.shared), np.sqrt(np.maximum(xax, 0.0))

    def disjoint_gather(self, obs: Obs) -> tuple[np.ndarray, np.ndarray, DisjointRidge]:
        """User features float64[B, p], candidate ids int64[B, K] and the per-item models.

        The checked arrays are remembered with the features, so ``update`` with the same
        observation (the same array objects, as the runner passes) reuses them.
        """
        user, _ = self._contexts(obs)
        ids = obs_ids(obs)
        x = self._user_features(user)
        model = self._ensure_model(x.shape[1])
        assert isinstance(model, DisjointRidge)
        self._gathered = (obs["user"], obs["item_ids"], x, ids)
        return x, ids, model

    def mean_var(self, obs: Obs) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and variances (up to the noise scale) of every candidate; each float64[B, K]."""
        if self.disjoint:
            x, ids, model = self.disjoint_gather(obs)
            return model.mean_var(x, ids)
        user, items = self._contexts(obs)
        xi = self._item_part(user)
        if xi is not None:  # hybrid: text (shared) + per-item-id part
            z = self._joint_features(user, items)
            ids, hybrid = self._hybrid(obs, z.shape[2], xi.shape[1])
            return hybrid.mean_var(z, xi, ids)
        if self.config.features == "item" and len(user) > 1:  # batched: float32 scores (see mean_var_f32)
            v32 = self._with_intercept(items, np.float32)
            shared = self._ensure_model(v32.shape[2])
            assert isinstance(shared, SharedRidge)
            return shared.mean_var_f32(v32)
        if self.config.features == "outer" and len(user) > 1:  # batched: never form the B x K x p features
            u, v = self._with_intercept(user), self._with_intercept(items)
            shared = self._ensure_model(u.shape[1] * v.shape[2])
            assert isinstance(shared, SharedRidge)
            return shared.mean_var_outer(u, v)
        x = self._joint_features(user, items)
        shared = self._ensure_model(x.shape[2])
        assert isinstance(shared, SharedRidge)
        return shared.mean_var(x)

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add each user's (features of the chosen candidate, reward) to the ridge model(s)."""
        if self.disjoint:
            return self._update_disjoint(obs, actions, rewards)
        user, items = self._contexts(obs)
        batch = items.shape[0]
        actions, rewards = check_rewards(actions, rewards, batch, items.shape[1])
        picked = items[:, actions[0]] if batch == 1 else items[np.arange(batch), actions]
        x = self._with_intercept(picked)  # [B, d_i (+ 1)]
        if self.config.features == "outer":
            u = self._user_features(user)
            x = (u[:, :, None] * x[:, None, :]).reshape(batch, u.shape[1] * x.shape[1])
        xi = self._item_part(user)
        if xi is not None:
            hybrid = self._ensure_model(x.shape[1], xi.shape[1])
            assert not isinstance(hybrid, (SharedRidge, DisjointRidge))
            return hybrid.update(_chosen_ids(obs_ids(obs), actions), xi, x, rewards)
        model = self._ensure_model(x.shape[1])
        assert isinstance(model, SharedRidge)
        model.update(x, rewards)

    def _update_disjoint(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """``update`` of the per-item models; reuses what ``act`` checked when ``obs`` holds the same arrays."""
        seen = self._gathered
        if seen is not None and obs["user"] is seen[0] and obs["item_ids"] is seen[1]:
            x, ids = seen[2], seen[3]
        else:
            user, _ = self._contexts(obs)
            ids, x = obs_ids(obs), self._user_features(user)
        actions, rewards = check_rewards(actions, rewards, ids.shape[0], ids.shape[1])
        model = self._ensure_model(x.shape[1])
        assert isinstance(model, DisjointRidge)
        model.update(_chosen_ids(ids, actions), x, rewards)


def _chosen_ids(ids: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Item ids int64[B] of the chosen candidates ``actions`` int64[B] among ``ids`` int64[B, K]."""
    return ids[:, actions[0]] if len(actions) == 1 else ids[np.arange(len(actions)), actions]


def ucb_argmax(mean: np.ndarray, var: np.ndarray, alpha: float) -> np.ndarray:
    """Row-wise argmax of ``mean + alpha * sqrt(max(var, 0))``: int64[B] (``var`` is overwritten)."""
    np.maximum(var, 0.0, out=var)
    np.sqrt(var, out=var)
    var *= alpha
    var += mean
    return var.argmax(axis=1)
