"""Regret and reward metrics, checkpoints and confidence intervals; diversity, novelty and session metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

# Two-sided 95% Student-t quantiles by degrees of freedom (df > 30 uses the normal 1.96).
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
}  # fmt: skip


def checkpoints(horizon: int, n: int = 100) -> np.ndarray:
    """int64 decision counts in [1, horizon] where curves are recorded: log- and linear-spaced."""
    geo = np.geomspace(1, horizon, n // 2)
    lin = np.linspace(1, horizon, n // 2)
    return np.unique(np.concatenate([geo, lin, [horizon]]).round().astype(np.int64))


def t_quantile(n: int) -> float:
    """97.5% quantile of Student's t with ``n - 1`` degrees of freedom (NaN for n < 2)."""
    if n < 2:
        return float("nan")
    return _T975.get(n - 1, 1.96)


def mean_ci(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95% half-width (Student t) over ``axis`` (seeds)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    half = t_quantile(n) * values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, half


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Difference of means ``mean(a) - mean(b)`` (independent samples, e.g. seeds) and its 95% Welch half-width.

    Welch–Satterthwaite degrees of freedom; the half-width is NaN when either side has
    fewer than two values.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return float(a.mean() - b.mean()), float("nan")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else len(a) + len(b) - 2
    return float(a.mean() - b.mean()), float(stats.t.ppf(0.975, df) * se)


def loglog_slope(t: np.ndarray, cumulative: np.ndarray) -> float:
    """Growth exponent of cumulative regret over the second half of a run.

    ``log(R(T) / R(T/2)) / log 2`` computed at the checkpoints nearest T/2 and T: 1.0 is
    linear growth, 0.5 is sqrt(T) growth.
    """
    t = np.asarray(t, dtype=np.float64)
    cumulative = np.asarray(cumulative, dtype=np.float64)
    end = len(t) - 1
    half = int(np.abs(t - t[end] / 2).argmin())
    if cumulative[half] <= 0 or cumulative[end] <= 0:
        return float("nan")
    return float(np.log(cumulative[end] / cumulative[half]) / np.log(t[end] / t[half]))


# --------------------------------------------------------------------------- diversity and exploration

_CHUNK_VALUES = 1 << 18  # floats per [decisions, d] chunk in intra_list_diversity (2 MiB)


def catalogue_coverage(items: np.ndarray, n_items: int) -> float:
    """Share of the catalogue recommended at least once: ``|distinct items| / n_items``.

    Args:
        items: int64[T] catalogue indices of the recommended items.
        n_items: catalogue size (> 0).
    """
    if n_items <= 0:
        raise ValueError(f"n_items must be > 0, got {n_items}")
    return float(len(np.unique(np.asarray(items))) / n_items)


def novelty(items: np.ndarray, users: np.ndarray) -> float:
    """Share of decisions whose item was recommended to that user for the first time in the run.

    Equal to ``|distinct (user, item) pairs| / T``: each pair's first decision is novel.

    Args:
        items: int64[T] recommended items.
        users: int64[T] the users they were recommended to.
    """
    items, users = np.asarray(items, dtype=np.int64), np.asarray(users, dtype=np.int64)
    if items.shape != users.shape or items.ndim != 1:
        raise ValueError(f"items and users must be 1-d arrays of one length, got {items.shape} and {users.shape}")
    if len(items) == 0:
        return float("nan")
    n_items = int(items.max()) - int(items.min()) + 1
    keys = (users - users.min()) * n_items + (items - items.min())
    span = (int(users.max()) - int(users.min()) + 1) * n_items
    if span <= max(_BITMAP_MIN, 8 * len(keys)):  # a bitmap over the pairs: one pass, no sort
        seen = np.zeros(span, dtype=bool)
        seen[keys] = True
        return float(np.count_nonzero(seen) / len(items))
    return float(len(np.unique(keys)) / len(items))


#: Pair ranges up to this size (bytes) are counted with a bitmap whatever T is.
_BITMAP_MIN = 1 << 24


def intra_list_diversity(items: np.ndarray, groups: np.ndarray, embeddings: np.ndarray) -> float:
    """Mean over lists of the mean pairwise cosine distance between the list's item embeddings.

    A list is the decisions sharing a ``groups`` id (a session, or a user's whole run).
    For a list of n >= 2 decisions with unit vectors ``z_1..z_n`` the mean of ``1 - cos``
    over its n(n-1)/2 pairs of decisions is ``1 - (|sum z|^2 - sum |z|^2) / (n (n - 1))``;
    a repeated item is a pair at distance 0, and an all-zero embedding is at distance 1
    from everything. Lists of one decision have no pairs and are left out.

    Args:
        items: int64[T] recommended items.
        groups: int64[T] list id of each decision.
        embeddings: float[n_items, d] item vectors (e.g. the env's item contexts).

    Returns:
        The mean over lists with >= 2 decisions; NaN if there is none.
    """
    items, groups = np.asarray(items, dtype=np.int64), np.asarray(groups)
    if items.shape != groups.shape or items.ndim != 1:
        raise ValueError(f"items and groups must be 1-d arrays of one length, got {items.shape} and {groups.shape}")
    emb = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    unit_items = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)
    _, inv = np.unique(groups, return_inverse=True)
    n = np.bincount(inv).astype(np.float64)
    sums = np.zeros((len(n), emb.shape[1]))
    sq = np.zeros(len(n))
    # Decisions in chunks, so that no [T, d] array is ever made; np.add.at adds in order,
    # so the sums are the same as in one call.
    chunk = max(_CHUNK_VALUES // max(emb.shape[1], 1), 1)
    for start in range(0, len(items), chunk):
        rows = slice(start, start + chunk)
        unit = unit_items[items[rows]]
        np.add.at(sums, inv[rows], unit)
        np.add.at(sq, inv[rows], (unit * unit).sum(axis=1))
    ok = n >= 2
    if not ok.any():
        return float("nan")
    mean_cos = ((sums[ok] ** 2).sum(axis=1) - sq[ok]) / (n[ok] * (n[ok] - 1))
    return float(np.mean(1.0 - mean_cos))


def diversity_metrics(
    items: np.ndarray,
    users: np.ndarray,
    sessions: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
    n_items: int | None = None,
) -> dict[str, float | int | str | None]:
    """Coverage, intra-list diversity and novelty of a run's recommendations.

    Args:
        items: int64[T] recommended items.
        users: int64[T] their users.
        sessions: int64[T] session id of each decision (-1 outside sessions) or None;
            lists are sessions when every decision has one, else each user's decisions.
        embeddings: float[n_items, d] item vectors for the diversity (None: not computed).
        n_items: catalogue size for the coverage (None: not computed).

    Returns:
        ``coverage``, ``distinct_items``, ``diversity`` (mean pairwise cosine distance per
        list), ``diversity_over`` ("session" or "user"), ``novelty``; None (JSON null)
        where not computable.
    """
    by_session = sessions is not None and len(sessions) > 0 and bool((np.asarray(sessions) >= 0).all())
    groups = np.asarray(sessions) if by_session else np.asarray(users)
    div = None if embeddings is None else intra_list_diversity(items, groups, embeddings)
    nov = novelty(items, users)
    return {
        "coverage": None if n_items is None else catalogue_coverage(items, n_items),
        "distinct_items": int(len(np.unique(items))),
        "diversity": None if div is None or not np.isfinite(div) else div,
        "diversity_over": "session" if by_session else "user",
        "novelty": nov if np.isfinite(nov) else None,
    }


def session_metrics(
    rewards: np.ndarray, sessions: np.ndarray, ends: np.ndarray, windows: int = 20
) -> dict[str, Any] | None:
    """Return and length of the sessions that ended within the run, overall and as a learning curve.

    Args:
        rewards: float64[T] rewards of the decisions.
        sessions: int64[T] session id of each decision (-1 outside sessions).
        ends: bool[T], the session ended with this decision.
        windows: the curve's number of equal windows of decisions.

    Returns:
        None if the run had no sessions; else ``completed`` (sessions that ended),
        ``unfinished`` (still running at the horizon, left out), ``mean_return``,
        ``mean_length`` (None when none completed) and ``curve``: ``t`` (end decision of
        each window), ``mean_return``, ``mean_length`` and ``sessions`` of the sessions
        that ended in each window (None where none did).
    """
    sessions, ends = np.asarray(sessions), np.asarray(ends, dtype=bool)
    inside = sessions >= 0
    if not inside.any():
        return None
    ids, inv = np.unique(sessions[inside], return_inverse=True)
    returns = np.bincount(inv, weights=np.asarray(rewards, dtype=np.float64)[inside], minlength=len(ids))
    lengths = np.bincount(inv, minlength=len(ids))
    end_at = np.full(len(ids), -1, np.int64)
    decisions = np.flatnonzero(inside)
    end_rows = ends[inside]
    end_at[inv[end_rows]] = decisions[end_rows]
    done = end_at >= 0
    horizon = len(sessions)
    edges = np.linspace(0, horizon, windows + 1).round().astype(np.int64)
    which = np.searchsorted(edges, end_at[done], side="right") - 1
    curve: dict[str, list] = {"t": edges[1:].tolist(), "mean_return": [], "mean_length": [], "sessions": []}
    for w in range(windows):
        sel = which == w
        count = int(sel.sum())
        curve["sessions"].append(count)
        curve["mean_return"].append(float(returns[done][sel].mean()) if count else None)
        curve["mean_length"].append(float(lengths[done][sel].mean()) if count else None)
    return {
        "completed": int(done.sum()),
        "unfinished": int((~done).sum()),
        "mean_return": float(returns[done].mean()) if done.any() else None,
        "mean_length": float(lengths[done].mean()) if done.any() else None,
        "curve": curve,
    }
