"""Ridge-regression state for the linear agents: one shared model or one model per item.

Both keep the accumulated design matrix ``A = ridge * I + sum x x^T``, its inverse, the
response vector ``b = sum r x`` and ``theta = A^-1 b``. The inverse is updated exactly:
Sherman–Morrison for one new row, Woodbury for a batch smaller than the dimension, and a
fresh inverse of ``A`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from recbandit._validation import check_choice, check_float
from recbandit.agents._items import obs_ids
from recbandit.agents.base import Agent, AgentConfig, Obs, check_rewards

FEATURES = ("outer", "item")


class SharedRidge:
    """One ridge regression over p-dimensional features."""

    def __init__(self, p: int, ridge: float) -> None:
        self.p = p
        self.A = ridge * np.eye(p)
        self.A_inv = np.eye(p) / ridge
        self.b = np.zeros(p)
        self.theta = np.zeros(p)
        self.version = 0  # bumped on every update (lets samplers cache factorisations)

    def update(self, x: np.ndarray, r: np.ndarray) -> None:
        """Add rows x float64[B, p] with responses r float64[B]."""
        n = x.shape[0]
        if n == 1:
            v = x[0]
            av = self.A_inv @ v
            self.A_inv -= np.outer(av, av) / (1.0 + v @ av)
            self.A += np.outer(v, v)
            self.b += r[0] * v
        else:
            self.A += x.T @ x
            self.b += x.T @ r
            if n < self.p:  # Woodbury: (A + X^T X)^-1 = A^-1 - A^-1 X^T (I + X A^-1 X^T)^-1 X A^-1
                ax = x @ self.A_inv
                self.A_inv -= ax.T @ np.linalg.solve(np.eye(n) + ax @ x.T, ax)
            else:
                self.A_inv = np.linalg.inv(self.A)
            self.A_inv = 0.5 * (self.A_inv + self.A_inv.T)
        self.theta = self.A_inv @ self.b
        self.version += 1


class DisjointRidge:
    """One ridge regression per item id over p-dimensional features; tables grow on demand."""

    def __init__(self, p: int, ridge: float) -> None:
        self.p = p
        self.ridge = ridge
        self.A = np.zeros((0, p, p))
        self.A_inv = np.zeros((0, p, p))
        self.b = np.zeros((0, p))
        self.theta = np.zeros((0, p))

    def ensure(self, ids: np.ndarray) -> None:
        """Grow the tables so every id in ``ids`` indexes a (prior) model."""
        if ids.min() < 0:
            raise ValueError("item_ids must be non-negative")
        top, have = int(ids.max()) + 1, len(self.b)
        if top <= have:
            return
        extra = max(top, 2 * have, 64) - have
        eye = np.broadcast_to(np.eye(self.p), (extra, self.p, self.p))
        self.A = np.concatenate([self.A, self.ridge * eye])
        self.A_inv = np.concatenate([self.A_inv, eye / self.ridge])
        self.b = np.concatenate([self.b, np.zeros((extra, self.p))])
        self.theta = np.concatenate([self.theta, np.zeros((extra, self.p))])

    def update(self, items: np.ndarray, x: np.ndarray, r: np.ndarray) -> None:
        """Add row ``x[j]`` float64[B, p] with response ``r[j]`` to the model of ``items[j]``."""
        self.ensure(items)
        if len(items) == 1:
            i, v = int(items[0]), x[0]
            av = self.A_inv[i] @ v
            self.A_inv[i] -= np.outer(av, av) / (1.0 + v @ av)
            self.A[i] += np.outer(v, v)
            self.b[i] += r[0] * v
            self.theta[i] = self.A_inv[i] @ self.b[i]
            return
        uniq, inv = np.unique(items, return_inverse=True)
        d_a = np.zeros((len(uniq), self.p, self.p))
        np.add.at(d_a, inv, x[:, :, None] * x[:, None, :])
        d_b = np.zeros((len(uniq), self.p))
        np.add.at(d_b, inv, r[:, None] * x)
        self.A[uniq] += d_a
        self.b[uniq] += d_b
        a_inv = np.linalg.inv(self.A[uniq])
        self.A_inv[uniq] = 0.5 * (a_inv + a_inv.transpose(0, 2, 1))
        self.theta[uniq] = np.einsum("npq,nq->np", self.A_inv[uniq], self.b[uniq])


@dataclass(frozen=True)
class LinearConfig(AgentConfig):
    """Shared hyper-parameters of the linear agents.

    Attributes:
        ridge: L2 regularisation lambda (prior precision), > 0.
        features: shared models only: ``"outer"`` = vec(user ⊗ item) (a bilinear model
            that generalises to unseen items), ``"item"`` = the candidate context alone
            (for envs whose item contexts already depend on the user).
        intercept: append a constant 1 to the user and item contexts before the features.
    """

    ridge: float = 1.0
    features: str = "outer"
    intercept: bool = True

    def __post_init__(self) -> None:
        check_float("ridge", self.ridge, min_value=0.0, min_inclusive=False)
        check_choice("features", self.features, FEATURES)


class LinearAgent(Agent):
    """Shared machinery: feature maps, lazy model creation, observation checks."""

    disjoint: ClassVar[bool] = False
    config: Any

    def _reset(self) -> None:
        self.model: SharedRidge | DisjointRidge | None = None
        self._dims: tuple[int, int] | None = None

    def _contexts(self, obs: Obs) -> tuple[np.ndarray, np.ndarray]:
        user, items = np.asarray(obs["user"]), np.asarray(obs["items"])
        if user.ndim != 2 or items.ndim != 3 or user.shape[0] != items.shape[0]:
            raise ValueError(
                "obs['user'] must be (B, d_u) and obs['items'] (B, K, d_i) with the same B, "
                f"got {user.shape} and {items.shape}"
            )
        dims = (user.shape[1], items.shape[2])
        if self._dims is None:
            self._dims = dims
        elif dims != self._dims:
            raise ValueError(
                f"context dimensions (d_u, d_i) = {dims} do not match the {self._dims} this agent's model "
                "was built for (from its first observation)"
            )
        return user, items

    def _user_features(self, user: np.ndarray) -> np.ndarray:
        """float64[B, p] features of the disjoint models: the user context (+ 1)."""
        u = user.astype(np.float64)
        return np.concatenate([u, np.ones((u.shape[0], 1))], axis=1) if self.config.intercept else u

    def _joint_features(self, user: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64[B, K, p] features of the shared model."""
        v = items.astype(np.float64)
        if self.config.intercept:
            v = np.concatenate([v, np.ones((*v.shape[:2], 1))], axis=2)
        if self.config.features == "item":
            return v
        u = self._user_features(user)
        b, k, di = v.shape
        return (u[:, None, :, None] * v[:, :, None, :]).reshape(b, k, u.shape[1] * di)

    def _ensure_model(self, p: int) -> SharedRidge | DisjointRidge:
        if self.model is None:
            self.model = (DisjointRidge if self.disjoint else SharedRidge)(p, self.config.ridge)
        return self.model

    def shared_scores(self, obs: Obs) -> tuple[np.ndarray, SharedRidge]:
        """Features float64[B, K, p] of ``obs`` and the shared model (created on first use)."""
        x = self._joint_features(*self._contexts(obs))
        model = self._ensure_model(x.shape[2])
        assert isinstance(model, SharedRidge)
        return x, model

    def disjoint_gather(self, obs: Obs) -> tuple[np.ndarray, np.ndarray, DisjointRidge]:
        """User features float64[B, p], candidate ids int64[B, K] and the per-item models."""
        user, _ = self._contexts(obs)
        ids = obs_ids(obs)
        x = self._user_features(user)
        model = self._ensure_model(x.shape[1])
        assert isinstance(model, DisjointRidge)
        model.ensure(ids)
        return x, ids, model

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add each user's (features of the chosen candidate, reward) to the ridge model(s)."""
        user, items = self._contexts(obs)
        actions, rewards = check_rewards(actions, rewards, items.shape[0], items.shape[1])
        rows = np.arange(len(actions))
        if self.disjoint:
            x = self._user_features(user)
            model = self._ensure_model(x.shape[1])
            assert isinstance(model, DisjointRidge)
            model.update(obs_ids(obs)[rows, actions], x, rewards)
        else:
            x = self._joint_features(user, items[rows, actions][:, None, :])[:, 0]
            model = self._ensure_model(x.shape[1])
            assert isinstance(model, SharedRidge)
            model.update(x, rewards)
