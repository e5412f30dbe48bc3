"""Validation of the logged arrays and their reduction to the per-round quantities every estimator needs.

Shared by the estimators, the reward model and the logging-policy estimate (``_as_1d`` and
``_check_int_array`` name the array and the first bad index in their errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_SUM_TOL = 1e-6


@dataclass(frozen=True)
class _Rows:
    """Per-round quantities every estimator is a function of (float64[n] each)."""

    reward: np.ndarray
    pscore: np.ndarray
    pi_logged: np.ndarray  # pi_e(a_i | x_i, k_i)
    deterministic: bool  # pi_e is 0/1 at each round's position
    match: np.ndarray | None  # bool: pi_e's action (drawn when pi_e is random) is the logged one
    q_logged: np.ndarray | None  # q(x_i, a_i, k_i)
    q_policy: np.ndarray | None  # sum_a pi_e(a | x_i, k_i) q(x_i, a, k_i)

    @property
    def weight(self) -> np.ndarray:
        """Importance weights ``pi_e(a_i) / pscore_i``."""
        return self.pi_logged / self.pscore

    def take(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays at ``index`` (int[B, n] for B bootstrap samples at once)."""
        out = {"reward": self.reward[index], "weight": self.weight[index], "pi_logged": self.pi_logged[index]}
        if self.match is not None:
            out["match"] = self.match[index]
        if self.q_logged is not None and self.q_policy is not None:
            out["q_logged"] = self.q_logged[index]
            out["q_policy"] = self.q_policy[index]
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """All rounds, as :meth:`take` would give them."""
        return self.take(np.arange(len(self.reward)))


def _as_1d(name: str, value: Any, n: int | None, dtype: Any = np.float64) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = "(n,)" if n is None else f"({n},)"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if dtype is np.float64:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64, copy=False)
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(bad.argmax())
            raise ValueError(f"{name}[{i}] is {arr[i]}: every value must be finite")
    return arr


def _check_int_array(name: str, value: Any, n: int, upper: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must be integers in [0, {upper}), got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= upper)
    if bad.any():
        i = int(bad.argmax())
        raise ValueError(f"{name}[{i}] = {arr[i]} is out of range: must be in [0, {upper})")
    return arr.astype(np.int64, copy=False)


def _prepare(
    rewards: Any,
    actions: Any,
    pscore: Any,
    action_dist: Any,
    positions: Any = None,
    estimated_rewards: Any = None,
    *,
    need_model: bool = False,
    rng: np.random.Generator | None = None,
) -> _Rows:
    """Validate the logged arrays and reduce them to per-round quantities."""
    reward = _as_1d("rewards", rewards, None)
    n = reward.shape[0]
    if n == 0:
        raise ValueError("the log is empty: rewards has no rounds")
    dist = np.asarray(action_dist)
    if dist.ndim not in (2, 3) or dist.shape[0] != n:
        raise ValueError(
            f"action_dist must have shape ({n}, n_actions) or ({n}, n_actions, n_positions), got {dist.shape}"
        )
    if dist.dtype.kind not in "biuf":
        raise ValueError(f"action_dist must hold probabilities, got dtype {dist.dtype}")
    n_actions = dist.shape[1]
    n_positions = dist.shape[2] if dist.ndim == 3 else 1
    act = _check_int_array("actions", actions, n, n_actions)
    ps = _as_1d("pscore", pscore, n)
    bad = (ps <= 0) | (ps > 1)
    if bad.any():
        i = int(bad.argmax())
        raise ValueError(f"pscore[{i}] = {ps[i]} is out of range: logged propensities must be in (0, 1]")
    if positions is None:
        if n_positions > 1:
            raise ValueError(f"positions is needed: action_dist has {n_positions} positions (axis 2)")
        pos = np.zeros(n, np.int64)
    else:
        pos = _check_int_array("positions", positions, n, n_positions)
    dist3 = dist.reshape(n, n_actions, n_positions)
    # Checks on the whole array, vectorised; only the first bad round is reported.
    bad_val = ~np.isfinite(dist3) | (dist3 < 0) | (dist3 > 1 + _SUM_TOL)
    if bad_val.any():
        i, a, k = (int(v) for v in np.argwhere(bad_val)[0])
        where = f"[{i}, {a}]" if dist.ndim == 2 else f"[{i}, {a}, {k}]"
        raise ValueError(f"action_dist{where} = {dist3[i, a, k]} is not a probability in [0, 1]")
    sums = dist3.sum(axis=1)  # (n, K)
    bad_sum = np.abs(sums - 1.0) > _SUM_TOL
    if bad_sum.any():
        i, k = (int(v) for v in np.argwhere(bad_sum)[0])
        where = f"row {i}" if dist.ndim == 2 else f"row {i}, position {k}"
        raise ValueError(f"action_dist {where} sums to {sums[i, k]:.8g}; each row must sum to 1 over actions")
    rows = np.arange(n)
    pi_at_pos = dist3[rows, :, pos]  # (n, A): pi_e(. | x_i, k_i)
    pi_logged = pi_at_pos[rows, act].astype(np.float64)
    deterministic = bool(np.all((pi_at_pos == 0) | (pi_at_pos == 1)))
    match = None
    if deterministic:
        match = pi_logged == 1.0
    elif rng is not None:  # the evaluation policy's own draw in each round (Li et al.'s replay of a random policy)
        cdf = np.cumsum(pi_at_pos, axis=1)
        u = rng.random(n) * cdf[:, -1]
        drawn = np.minimum((cdf <= u[:, None]).sum(axis=1), n_actions - 1)
        match = drawn == act
    q_logged = q_policy = None
    if estimated_rewards is not None:
        q = np.asarray(estimated_rewards)
        if q.shape != dist.shape:
            raise ValueError(f"estimated_rewards must have the shape of action_dist {dist.shape}, got {q.shape}")
        if q.dtype.kind not in "biuf" or not np.isfinite(q).all():
            raise ValueError("estimated_rewards must be finite numbers")
        q_at_pos = q.reshape(n, n_actions, n_positions)[rows, :, pos].astype(np.float64)
        q_logged = q_at_pos[rows, act]
        q_policy = np.einsum("na,na->n", pi_at_pos, q_at_pos)
    elif need_model:
        raise ValueError("estimated_rewards is needed by this estimator (see fit_reward_model)")
    return _Rows(reward, ps, pi_logged, deterministic, match, q_logged, q_policy)
