"""The cross-fitted logistic reward model ``q(x, a, k)`` of DM, DR, Switch-DR and DRos.

Torch (L-BFGS in :func:`fit_logistic`) is imported only when a model is fitted, so importing
this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recbandit._stats import log_loss
from recbandit._torch import torch_threads
from recbandit._validation import check_float, check_int
from recbandit.evaluation.ope._inputs import _as_1d, _check_int_array

#: Default ridge penalties of :func:`fit_reward_model`, chosen among by inner cross-validated log loss.
FIT_L2: tuple[float, ...] = (100.0, 1000.0, 10000.0, 100000.0)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, max_iter: int = 200, tol: float = 1e-10) -> np.ndarray:
    """L2-penalised logistic regression; returns float64[d + 1] (the bias last, not penalised).

    Minimises ``mean_i logloss(y_i, sigmoid(x_i w + b)) + l2 / (2 n) * |w|^2`` with full-batch
    L-BFGS (torch, float64, one thread, strong Wolfe line search: deterministic).

    Args:
        x: float[n, d] features (standardise them so that the penalty means the same on every column).
        y: float[n] labels in [0, 1].
        l2: penalty (> 0), on the scale of a sum over rounds.
        max_iter: L-BFGS iterations at most.
        tol: stop when the gradient's largest entry is below it.
    """
    import torch

    l2 = check_float("l2", l2, min_value=0.0, min_inclusive=False)
    n, d = x.shape
    xt = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float64))
    yt = torch.as_tensor(np.asarray(y, dtype=np.float64))
    rate = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
    w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    b = torch.tensor([np.log(rate / (1 - rate))], dtype=torch.float64, requires_grad=True)
    with torch_threads(1):
        opt = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=max_iter, tolerance_grad=tol, tolerance_change=1e-14, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            z = xt @ w + b
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, yt) + 0.5 * l2 / n * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
    return np.concatenate([w.detach().numpy(), b.detach().numpy()])


@dataclass(frozen=True)
class RewardModel:
    """A cross-fitted reward model and how it was fitted.

    Attributes:
        estimated_rewards: float64[n, A, K] ``q(x_i, a, k)``; row ``i`` is predicted by the
            model fitted on the folds that do not hold row ``i``.
        l2: the penalty chosen in each fold.
        held_out_log_loss: log loss of the logged ``(x_i, a_i, k_i)`` predictions (cross-fitted).
        base_rate_log_loss: log loss of predicting each fold's training mean reward.
    """

    estimated_rewards: np.ndarray
    l2: list[float]
    held_out_log_loss: float
    base_rate_log_loss: float


def fit_reward_model(
    context: Any,
    actions: Any,
    rewards: Any,
    n_actions: int,
    positions: Any = None,
    n_positions: int = 1,
    *,
    rng: np.random.Generator,
    action_features: Any = None,
    n_folds: int = 3,
    l2: float | Sequence[float] = FIT_L2,
) -> RewardModel:
    """Cross-fitted logistic reward model ``q(x, a, k) = sigmoid(b + x u + f_a v + e_k s)`` for DM / DR.

    Features: the context ``x``, the action's features ``f_a`` (default: its one-hot) and the
    position's one-hot ``e_k``, each column standardised on the training folds. The rounds are
    split into ``n_folds`` random folds; each fold is predicted, for every action and position,
    by a model fitted on the other folds (cross-fitting, as OBP's ``fit_predict(n_folds=3)``).
    The logit is additive, so ``float[n, A, K]`` predictions cost ``O(n (d + A + K))``.

    Args:
        context: float[n, c] round contexts (c may be 0).
        actions: int[n] logged actions.
        rewards: float[n] rewards in [0, 1] (clicks).
        n_actions: A.
        positions: int[n] 0-based positions, or None (K = 1).
        n_positions: K.
        rng: generator of the fold split (and of the inner split when choosing ``l2``).
        action_features: float[A, f] features of each action, or None for one-hot.
        n_folds: cross-fitting folds (>= 2).
        l2: the ridge penalty, or candidates chosen in each training part by an inner
            ``n_folds``-fold log loss (the held-out fold is never used to choose).

    Returns:
        The :class:`RewardModel`.
    """
    n_actions = check_int("n_actions", n_actions, min_value=1)
    n_positions = check_int("n_positions", n_positions, min_value=1)
    n_folds = check_int("n_folds", n_folds, min_value=2)
    y = _as_1d("rewards", rewards, None)
    n = len(y)
    if n < n_folds:
        raise ValueError(f"need at least n_folds={n_folds} rounds, got {n}")
    if ((y < 0) | (y > 1)).any():
        raise ValueError("rewards must be in [0, 1] for a logistic reward model")
    act = _check_int_array("actions", actions, n, n_actions)
    pos = np.zeros(n, np.int64) if positions is None else _check_int_array("positions", positions, n, n_positions)
    x = np.asarray(context, dtype=np.float64).reshape(n, -1)
    if not np.isfinite(x).all():
        raise ValueError("context must be finite numbers")
    feats = np.eye(n_actions) if action_features is None else np.asarray(action_features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] != n_actions:
        raise ValueError(f"action_features must have shape ({n_actions}, f), got {feats.shape}")
    candidates = [float(l2)] if isinstance(l2, (int, float, np.number)) else [float(v) for v in l2]
    if not candidates:
        raise ValueError("l2 must be a number or a non-empty sequence of numbers")
    pos_feats = np.eye(n_positions)

    folds = rng.permutation(n) % n_folds
    q = np.empty((n, n_actions, n_positions))
    chosen: list[float] = []
    base_pred = np.empty(n)
    for f in range(n_folds):
        train, test = folds != f, folds == f
        lam = candidates[0]
        if len(candidates) > 1:
            inner = rng.permutation(int(train.sum())) % n_folds
            idx = np.flatnonzero(train)
            losses = [
                np.mean(
                    [
                        _fit_score(x, feats, pos_feats, act, pos, y, idx[inner != g], idx[inner == g], c)
                        for g in range(n_folds)
                    ]
                )
                for c in candidates
            ]
            lam = candidates[int(np.argmin(losses))]
        chosen.append(lam)
        q[test] = _fit_predict_all(x, feats, pos_feats, act, pos, y, np.flatnonzero(train), np.flatnonzero(test), lam)
        base_pred[test] = y[train].mean()
    logged = q[np.arange(n), act, pos]
    return RewardModel(q, chosen, log_loss(y, logged), log_loss(y, base_pred))


def _design(
    x: np.ndarray, feats: np.ndarray, pos_feats: np.ndarray, act: np.ndarray, pos: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Standardised training design matrix of ``rows`` and the (mean, std) of its three blocks."""
    blocks = [x[rows], feats[act[rows]], pos_feats[pos[rows]]]
    stats = [_standardise(b) for b in blocks]
    design = np.hstack([(b - m) / s for b, (m, s) in zip(blocks, stats, strict=True)])
    return design, stats


def _coefficients(
    x: np.ndarray,
    feats: np.ndarray,
    pos_feats: np.ndarray,
    act: np.ndarray,
    pos: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    lam: float,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    design, stats = _design(x, feats, pos_feats, act, pos, train)
    yt = y[train]
    if yt.min() == yt.max():  # one class only: the penalised fit is the (smoothed) base rate
        w = np.zeros(design.shape[1] + 1)
        rate = (yt.sum() + 0.5) / (len(yt) + 1.0)
        w[-1] = np.log(rate / (1 - rate))
        return w, stats
    return fit_logistic(design, yt, lam), stats


def _logits_parts(
    x: np.ndarray, feats: np.ndarray, pos_feats: np.ndarray, w: np.ndarray, stats: list, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Additive logit parts: per round float[m], per action float[A], per position float[K] (bias in the first)."""
    (mx, sx), (mf, sf), (mp, sp) = stats
    cx, cf = x.shape[1], feats.shape[1]
    wx, wf, wp, b = w[:cx], w[cx : cx + cf], w[cx + cf : -1], w[-1]
    return ((x[rows] - mx) / sx) @ wx + b, ((feats - mf) / sf) @ wf, ((pos_feats - mp) / sp) @ wp


def _fit_predict_all(
    x: np.ndarray,
    feats: np.ndarray,
    pos_feats: np.ndarray,
    act: np.ndarray,
    pos: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    lam: float,
) -> np.ndarray:
    w, stats = _coefficients(x, feats, pos_feats, act, pos, y, train, lam)
    lr, la, lp = _logits_parts(x, feats, pos_feats, w, stats, test)
    z = lr[:, None, None] + la[None, :, None] + lp[None, None, :]
    return 1.0 / (1.0 + np.exp(-z))


def _fit_score(
    x: np.ndarray,
    feats: np.ndarray,
    pos_feats: np.ndarray,
    act: np.ndarray,
    pos: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    lam: float,
) -> float:
    w, stats = _coefficients(x, feats, pos_feats, act, pos, y, train, lam)
    lr, la, lp = _logits_parts(x, feats, pos_feats, w, stats, test)
    z = lr + la[act[test]] + lp[pos[test]]
    return log_loss(y[test], 1.0 / (1.0 + np.exp(-z)))
