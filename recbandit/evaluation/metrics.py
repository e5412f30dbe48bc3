"""Regret and reward metrics, checkpoints and confidence intervals."""

from __future__ import annotations

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
