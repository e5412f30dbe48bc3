"""User models: the simulator's ground truth, ``expected_reward(users, items)`` for any pair."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class UserModel(Protocol):
    """Expected reward of any (user, item) pair; the ground truth that makes regret exact."""

    n_users: int
    n_items: int

    def expected_reward(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Expected reward of each user for each of its items.

        Args:
            users: int64[B] user indices.
            items: int64[B, K] item indices, row ``b`` for user ``b``.

        Returns:
            float64[B, K] expected rewards in [0, 1].
        """
        ...


class LatentFactorUserModel:
    """Logistic latent-factor model: ``p(u, i) = sigmoid(scale * <x_u, y_i> + b_i + b0)``.

    Args:
        user_factors: float64[n_users, f].
        item_factors: float64[n_items, f].
        item_bias: float64[n_items].
        global_bias: scalar offset ``b0`` (sets the base click rate).
        scale: multiplier of the factor term.
    """

    def __init__(
        self,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        item_bias: np.ndarray,
        global_bias: float = 0.0,
        scale: float = 1.0,
    ) -> None:
        user_factors = np.asarray(user_factors, dtype=np.float64)
        item_factors = np.asarray(item_factors, dtype=np.float64)
        item_bias = np.asarray(item_bias, dtype=np.float64)
        if user_factors.ndim != 2 or item_factors.ndim != 2 or user_factors.shape[1] != item_factors.shape[1]:
            raise ValueError(
                "user_factors and item_factors must be 2-d with the same number of columns, got "
                f"{user_factors.shape} and {item_factors.shape}"
            )
        if item_bias.shape != (item_factors.shape[0],):
            raise ValueError(f"item_bias must have shape ({item_factors.shape[0]},), got {item_bias.shape}")
        for name, arr in (("user_factors", user_factors), ("item_factors", item_factors), ("item_bias", item_bias)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or infinite values")
        self.user_factors = user_factors
        self.item_factors = item_factors * scale
        self.item_bias = item_bias + global_bias
        self.n_users = int(user_factors.shape[0])
        self.n_items = int(item_factors.shape[0])

    def logits(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64[B, K] logits of ``expected_reward``."""
        dots = np.einsum("bf,bkf->bk", self.user_factors[users], self.item_factors[items])
        return dots + self.item_bias[items]

    def expected_reward(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64[B, K] click probabilities; see ``UserModel.expected_reward``."""
        return 1.0 / (1.0 + np.exp(-self.logits(users, items)))


def satiation_normaliser(eta: float) -> float:
    """``max_{a in [0, 1]} (a - eta * a^2)`` for ``eta >= 0`` (> 0: the curve's peak height)."""
    return 1.0 - eta if eta <= 0.5 else 1.0 / (4.0 * eta)


class SatiationUserModel(LatentFactorUserModel):
    """Latent-factor model with a non-monotone (satiation) response to the affinity.

    ``p(u, i) = sigmoid(scale * s(<x_u, y_i>) + b_i + b0)`` with
    ``s(a) = (a - eta * a^2) / m(eta)`` and ``m(eta) = max_{a in [0, 1]} (a - eta * a^2)``
    (``satiation_normaliser``), so ``s`` spans [0, 1] on [0, 1] like the linear ``a``.
    For ``eta > 1/2`` clicks peak at ``a = 1 / (2 eta)`` and fall beyond it: a user is
    drawn to items near, but not at, the centre of their tastes. ``s`` is quadratic in
    the bilinear score, so no model bilinear in user and item contexts can rank it right.
    Meant for affinities in [0, 1] (factors on the simplex, as in the synthetic catalogue).

    Args:
        user_factors, item_factors, item_bias, global_bias, scale: as ``LatentFactorUserModel``.
        eta: satiation strength, > 0 (``LatentFactorUserModel`` is the case ``eta = 0``).
    """

    def __init__(
        self,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        item_bias: np.ndarray,
        global_bias: float = 0.0,
        scale: float = 1.0,
        eta: float = 1.0,
    ) -> None:
        if not np.isfinite(eta) or eta <= 0:
            raise ValueError(f"eta must be a finite number > 0, got {eta!r}")
        super().__init__(user_factors, item_factors, item_bias, global_bias, scale=1.0)
        self.scale = float(scale)
        self.eta = float(eta)

    def logits(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64[B, K] logits of ``expected_reward``."""
        a = np.einsum("bf,bkf->bk", self.user_factors[users], self.item_factors[items])
        s = (a - self.eta * a * a) * (self.scale / satiation_normaliser(self.eta))
        return s + self.item_bias[items]
