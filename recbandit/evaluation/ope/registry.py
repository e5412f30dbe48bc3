"""The estimators by name: the statistic each reduces to, the registry, and SLOPE's hyper-parameter choice.

Each statistic reduces the last axis of the per-round arrays (see ``_inputs._Rows.take``), so
it works on one log (n,) or on B bootstrap logs (B, n) at once.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recbandit._validation import check_float
from recbandit.evaluation.ope._inputs import _Rows

#: Hyper-parameter candidates of Switch-DR's ``tau`` and DRos' ``lambda_`` for SLOPE (OBP's).
SLOPE_CANDIDATES: tuple[float, ...] = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, float("inf"))


def _replay_stat(x: Mapping[str, np.ndarray], **_: Any) -> np.ndarray:
    match = x["match"]
    count = match.sum(axis=-1)
    total = np.where(match, x["reward"], 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def _ips_stat(x: Mapping[str, np.ndarray], **_: Any) -> np.ndarray:
    return (x["weight"] * x["reward"]).mean(axis=-1)


def _snips_stat(x: Mapping[str, np.ndarray], **_: Any) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x["weight"] * x["reward"]).sum(axis=-1) / x["weight"].sum(axis=-1)


def _dm_stat(x: Mapping[str, np.ndarray], **_: Any) -> np.ndarray:
    return x["q_policy"].mean(axis=-1)


def _dr_rounds(x: Mapping[str, np.ndarray], weight: np.ndarray) -> np.ndarray:
    return x["q_policy"] + weight * (x["reward"] - x["q_logged"])


def _dr_stat(x: Mapping[str, np.ndarray], **_: Any) -> np.ndarray:
    return _dr_rounds(x, x["weight"]).mean(axis=-1)


def _switch_rounds(x: Mapping[str, np.ndarray], tau: float) -> np.ndarray:
    return _dr_rounds(x, np.where(x["weight"] <= tau, x["weight"], 0.0))


def _switch_stat(x: Mapping[str, np.ndarray], *, tau: float, **_: Any) -> np.ndarray:
    return _switch_rounds(x, tau).mean(axis=-1)


def _dros_rounds(x: Mapping[str, np.ndarray], lambda_: float) -> np.ndarray:
    w = x["weight"]
    if np.isinf(lambda_):
        shrunk = w
    elif lambda_ == 0:
        shrunk = np.zeros_like(w)
    else:
        shrunk = lambda_ * w / (w**2 + lambda_)
    return _dr_rounds(x, shrunk)


def _dros_stat(x: Mapping[str, np.ndarray], *, lambda_: float, **_: Any) -> np.ndarray:
    return _dros_rounds(x, lambda_).mean(axis=-1)


@dataclass(frozen=True)
class Estimator:
    """An estimator in the registry.

    Attributes:
        name: registry key ("ips", "dr-os", ...).
        needs_model: whether it needs ``estimated_rewards``.
        hyper: name of its hyper-parameter (``"tau"``, ``"lambda_"``) or None.
        statistic: reduces per-round arrays (last axis) to the estimate.
        rounds: per-round values for a hyper-parameter value (SLOPE's input), or None.
    """

    name: str
    needs_model: bool
    hyper: str | None
    statistic: Callable[..., np.ndarray]
    rounds: Callable[[Mapping[str, np.ndarray], float], np.ndarray] | None = None


#: Every estimator by name (the names OBP reports, plus "replay").
ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        Estimator("replay", False, None, _replay_stat),
        Estimator("ips", False, None, _ips_stat),
        Estimator("snips", False, None, _snips_stat),
        Estimator("dm", True, None, _dm_stat),
        Estimator("dr", True, None, _dr_stat),
        Estimator("switch-dr", True, "tau", _switch_stat, _switch_rounds),
        Estimator("dr-os", True, "lambda_", _dros_stat, _dros_rounds),
    )
}


def _get(name: str) -> Estimator:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; allowed values: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


def _check_replay(rows: _Rows) -> None:
    if rows.match is None:
        raise ValueError(
            "replay needs a deterministic evaluation policy (action_dist of 0s and 1s), or rng= to draw the "
            "policy's action in each round"
        )
    if np.ptp(rows.pscore) > 1e-12 * rows.pscore.max():
        raise ValueError(
            "replay is unbiased only on a uniformly random log (constant pscore); "
            f"pscore ranges over [{rows.pscore.min():.6g}, {rows.pscore.max():.6g}]: use ips or snips"
        )
    if not rows.match.any():
        raise ValueError("replay: the evaluation policy never picks the logged action, so nothing is left to average")


def slope(
    rounds: Callable[[float], np.ndarray],
    candidates: Sequence[float] = SLOPE_CANDIDATES,
    delta: float = 0.05,
) -> float:
    """SLOPE's choice among ``candidates`` of a hyper-parameter trading bias for variance.

    Args:
        rounds: per-round values float[n] of the estimator for a hyper-parameter value.
        candidates: values to choose from (any order).
        delta: each candidate's interval is ``mean +- z_{1-delta} * std / sqrt(n)``.

    Returns:
        The candidate SLOPE keeps: going from the widest interval to the narrowest, the
        last one whose estimate lies within ``width_i + (sqrt(6) - 1) * width_j`` of every
        estimate ``j`` before it (Su et al. 2020; Tucker and Lee 2021, as in OBP).
    """
    if not candidates:
        raise ValueError("candidates must not be empty")
    check_float("delta", delta, min_value=0.0, max_value=0.5, min_inclusive=False)
    z = statistics.NormalDist().inv_cdf(1.0 - delta)
    theta, width = [], []
    for c in candidates:
        v = rounds(float(c))
        theta.append(float(v.mean()))
        width.append(z * float(v.std(ddof=1)) / np.sqrt(len(v)) if len(v) > 1 else 0.0)
    order = np.argsort(width, kind="stable")[::-1]
    c_const = np.sqrt(6.0) - 1.0
    kept: list[int] = []
    for idx in order:
        if kept:
            t_j, w_j = np.array([theta[j] for j in kept]), np.array([width[j] for j in kept])
            if not (np.abs(t_j - theta[idx]) <= width[idx] + c_const * w_j).all():
                break
        kept.append(int(idx))
    return float(candidates[kept[-1]])


def _resolve_hyper(est: Estimator, rows: _Rows, value: float | None) -> dict[str, float]:
    if est.hyper is None:
        return {}
    if value is None:
        x = rows.arrays()
        assert est.rounds is not None
        value = slope(lambda h: est.rounds(x, h))  # type: ignore[misc]
    else:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{est.hyper} must be a number >= 0 (inf allowed), got {value!r}") from None
        if np.isnan(value) or value < 0:
            raise ValueError(f"{est.hyper} must be a number >= 0 (inf allowed), got {value}")
    return {est.hyper: float(value)}
