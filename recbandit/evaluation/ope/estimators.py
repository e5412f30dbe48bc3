"""The public estimators: one function per estimator, ``estimate`` by name, ``bootstrap_ci``.

Arrays, formulas and references are in the package docstring (:mod:`recbandit.evaluation.ope`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recbandit._validation import check_float, check_int
from recbandit.evaluation.ope._inputs import _prepare
from recbandit.evaluation.ope.registry import _check_replay, _get, _resolve_hyper


def estimate(
    name: str,
    rewards: Any,
    actions: Any,
    pscore: Any,
    action_dist: Any,
    positions: Any = None,
    estimated_rewards: Any = None,
    hyper: float | None = None,
    rng: np.random.Generator | None = None,
) -> float:
    """The estimate of the evaluation policy's value by estimator ``name`` (see the module docstring).

    Args:
        name: one of :data:`ESTIMATORS`.
        rewards: float[n] logged rewards.
        actions: int[n] logged actions in ``[0, A)``.
        pscore: float[n] logged propensities in (0, 1].
        action_dist: float[n, A] or float[n, A, K] evaluation-policy probabilities.
        positions: int[n] 0-based positions (needed when K > 1).
        estimated_rewards: float like ``action_dist``, the reward model (dm, dr, switch-dr, dr-os).
        hyper: ``tau`` of switch-dr or ``lambda_`` of dr-os; None = chosen by :func:`slope`.
        rng: replay of a random evaluation policy: draws the policy's action in each round.

    Raises:
        ValueError: a shape, range or sum is wrong (the message names the array and the
            first bad index), or the estimator cannot apply (replay on a non-uniform log).
    """
    est = _get(name)
    rows = _prepare(
        rewards, actions, pscore, action_dist, positions, estimated_rewards, need_model=est.needs_model, rng=rng
    )
    if name == "replay":
        _check_replay(rows)
    value = est.statistic(rows.arrays(), **_resolve_hyper(est, rows, hyper))
    return float(value)


def replay(
    rewards: Any,
    actions: Any,
    pscore: Any,
    action_dist: Any,
    positions: Any = None,
    rng: np.random.Generator | None = None,
) -> float:
    """Replay (Li, Chu, Langford, Wang, WSDM 2011): mean reward of the rounds where ``pi_e`` picks ``a_i``.

    Unbiased on a uniformly random log (checked: constant ``pscore``). A random evaluation
    policy needs ``rng``, which draws its action in each round. Shapes as in :func:`estimate`.
    """
    return estimate("replay", rewards, actions, pscore, action_dist, positions, rng=rng)


def ips(rewards: Any, actions: Any, pscore: Any, action_dist: Any, positions: Any = None) -> float:
    """Inverse propensity scoring (IPW): ``mean(w_i r_i)``. Shapes as in :func:`estimate`."""
    return estimate("ips", rewards, actions, pscore, action_dist, positions)


def snips(rewards: Any, actions: Any, pscore: Any, action_dist: Any, positions: Any = None) -> float:
    """Self-normalised IPS (SNIPW; Swaminathan and Joachims, NeurIPS 2015): ``sum w_i r_i / sum w_i``."""
    return estimate("snips", rewards, actions, pscore, action_dist, positions)


def dm(
    rewards: Any, actions: Any, pscore: Any, action_dist: Any, estimated_rewards: Any, positions: Any = None
) -> float:
    """Direct method: ``mean_i sum_a pi_e(a | x_i, k_i) q(x_i, a, k_i)``. Shapes as in :func:`estimate`."""
    return estimate("dm", rewards, actions, pscore, action_dist, positions, estimated_rewards)


def dr(
    rewards: Any, actions: Any, pscore: Any, action_dist: Any, estimated_rewards: Any, positions: Any = None
) -> float:
    """Doubly robust (Dudik, Langford, Li, ICML 2011): DM plus the IPS-weighted residual of the model."""
    return estimate("dr", rewards, actions, pscore, action_dist, positions, estimated_rewards)


def switch_dr(
    rewards: Any,
    actions: Any,
    pscore: Any,
    action_dist: Any,
    estimated_rewards: Any,
    positions: Any = None,
    tau: float | None = None,
) -> float:
    """Switch-DR (Wang, Agarwal, Dudik, ICML 2017): DR where ``w_i <= tau``, DM elsewhere.

    ``tau=None`` chooses it among :data:`SLOPE_CANDIDATES` with :func:`slope`; ``inf`` is DR, 0 is DM.
    """
    return estimate("switch-dr", rewards, actions, pscore, action_dist, positions, estimated_rewards, tau)


def dr_os(
    rewards: Any,
    actions: Any,
    pscore: Any,
    action_dist: Any,
    estimated_rewards: Any,
    positions: Any = None,
    lambda_: float | None = None,
) -> float:
    """DR with optimistic shrinkage (DRos; Su, Dimakopoulou, Krishnamurthy, Dudik, ICML 2020).

    Weights ``w`` become ``lambda w / (w^2 + lambda)``; ``inf`` is DR, 0 is DM; ``None`` chooses
    ``lambda_`` among :data:`SLOPE_CANDIDATES` with :func:`slope`.
    """
    return estimate("dr-os", rewards, actions, pscore, action_dist, positions, estimated_rewards, lambda_)


def tuned_hyper(
    name: str,
    rewards: Any,
    actions: Any,
    pscore: Any,
    action_dist: Any,
    estimated_rewards: Any,
    positions: Any = None,
) -> float:
    """The hyper-parameter SLOPE picks for ``"switch-dr"`` (tau) or ``"dr-os"`` (lambda_)."""
    est = _get(name)
    if est.hyper is None:
        raise ValueError(f"{name} has no hyper-parameter to tune")
    rows = _prepare(rewards, actions, pscore, action_dist, positions, estimated_rewards, need_model=True)
    return _resolve_hyper(est, rows, None)[est.hyper]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile bootstrap interval.

    Attributes:
        estimate: the estimate on the whole log.
        lower: the ``alpha / 2`` quantile of the bootstrap estimates.
        upper: the ``1 - alpha / 2`` quantile.
        alpha: 1 - the interval's coverage (0.05 for 95%).
        n_boot: number of bootstrap resamples.
        hyper: the tuned or given hyper-parameter, if the estimator has one.
    """

    estimate: float
    lower: float
    upper: float
    alpha: float
    n_boot: int
    hyper: dict[str, float]


def bootstrap_ci(
    name: str,
    rewards: Any,
    actions: Any,
    pscore: Any,
    action_dist: Any,
    positions: Any = None,
    estimated_rewards: Any = None,
    *,
    rng: np.random.Generator,
    n_boot: int = 1000,
    alpha: float = 0.05,
    hyper: float | None = None,
) -> Interval:
    """Estimate with estimator ``name`` and a percentile bootstrap interval (rounds resampled with replacement).

    Arrays as in :func:`estimate`. The hyper-parameter of switch-dr / dr-os is chosen once on
    the whole log (as OBP does) and kept for every resample; the reward model is not refitted.

    Args:
        name: one of :data:`ESTIMATORS`.
        rewards: float[n].
        actions: int[n].
        pscore: float[n].
        action_dist: float[n, A] or float[n, A, K].
        positions: int[n] 0-based, or None.
        estimated_rewards: float like ``action_dist``, or None.
        rng: the generator of the resamples (and of a random policy's draws for replay).
        n_boot: number of resamples (>= 10).
        alpha: the interval covers ``1 - alpha`` (default 95%).
        hyper: see :func:`estimate`.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    n_boot = check_int("n_boot", n_boot, min_value=10)
    alpha = check_float("alpha", alpha, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    est = _get(name)
    rows = _prepare(
        rewards, actions, pscore, action_dist, positions, estimated_rewards, need_model=est.needs_model, rng=rng
    )
    if name == "replay":
        _check_replay(rows)
    hp = _resolve_hyper(est, rows, hyper)
    point = float(est.statistic(rows.arrays(), **hp))
    n = len(rows.reward)
    chunk = max(1, min(n_boot, 4_000_000 // n))  # resamples per block: bounded memory
    values = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        values[start : start + size] = est.statistic(rows.take(rng.integers(n, size=(size, n))), **hp)
    values = values[np.isfinite(values)]  # replay / snips of a resample with no match / weight
    if len(values) == 0:
        raise ValueError(f"{name}: no bootstrap resample gave a finite estimate")
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return Interval(point, float(lo), float(hi), alpha, n_boot, hp)
