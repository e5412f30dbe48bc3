"""Off-policy estimators: the value of an evaluation policy from a log of another policy.

Every estimator is a stateless function of logged numpy arrays (n logged rounds,
A actions, K positions):

- ``rewards`` float[n]: the logged rewards ``r_i``;
- ``actions`` int[n]: the logged actions ``a_i`` in ``[0, A)``;
- ``pscore`` float[n]: the logging policy's probability of ``a_i`` (at ``k_i``), in (0, 1];
- ``action_dist`` float[n, A] or float[n, A, K]: the evaluation policy's probabilities
  ``pi_e(a | x_i, k)``; for each round (and position) they sum to 1. A policy that does not
  depend on the round may be passed as ``np.broadcast_to(p, (n, A, K))`` (no copy);
- ``positions`` int[n] (only with a 3-d ``action_dist``): the 0-based slot ``k_i`` where
  ``a_i`` was shown (OBD's 1-based ``position`` minus 1);
- ``estimated_rewards`` float[n, A(, K)] (DM, DR, Switch-DR, DRos): a reward model
  ``q(x_i, a, k)``, e.g. from :func:`fit_reward_model` (cross-fitted).

With ``w_i = pi_e(a_i | x_i, k_i) / pscore_i`` and ``q_pi(x_i) = sum_a pi_e(a | x_i, k_i)
q(x_i, a, k_i)``, the estimators (each the mean over rounds unless said otherwise) are:

========== ============================================================== =====================
name       per-round value                                                reference
========== ============================================================== =====================
replay     mean of ``r_i`` over rounds where ``pi_e`` picks ``a_i``       Li et al., WSDM 2011
           (a random ``pi_e``'s action is drawn with ``rng``)
ips        ``w_i r_i``                                                    Horvitz & Thompson 1952
snips      ``sum w_i r_i / sum w_i``                                      Swaminathan & Joachims 2015
dm         ``q_pi(x_i)``                                                  Beygelzimer & Langford 2009
dr         ``q_pi(x_i) + w_i (r_i - q(x_i, a_i, k_i))``                   Dudik et al., ICML 2011
switch-dr  DR where ``w_i <= tau``, DM elsewhere                          Wang et al., ICML 2017
dr-os      DR with ``w_i`` shrunk to ``lambda w_i / (w_i^2 + lambda)``    Su et al., ICML 2020
========== ============================================================== =====================

Switch-DR and DRos take their hyper-parameter (``tau``, ``lambda_``); left ``None``, it is
chosen from :data:`SLOPE_CANDIDATES` by SLOPE (Su, Srinath and Krishnamurthy, ICML 2020,
in the form of Tucker and Lee 2021 that Open Bandit Pipeline uses): candidates are taken
from the widest confidence interval to the narrowest while every estimate stays within
the intervals of those before it. :func:`bootstrap_ci` gives a percentile bootstrap
interval of any estimator with an explicit ``np.random.Generator``.
"""

from __future__ import annotations

import io
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._stats import log_loss
from recbandit._torch import torch_threads
from recbandit._validation import check_choice, check_float, check_int

#: Hyper-parameter candidates of Switch-DR's ``tau`` and DRos' ``lambda_`` for SLOPE (OBP's).
SLOPE_CANDIDATES: tuple[float, ...] = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, float("inf"))
#: Default ridge penalties of :func:`fit_reward_model`, chosen among by inner cross-validated log loss.
FIT_L2: tuple[float, ...] = (100.0, 1000.0, 10000.0, 100000.0)
_SUM_TOL = 1e-6


# --------------------------------------------------------------------------- inputs


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


# --------------------------------------------------------------------------- statistics
# Each statistic reduces the last axis, so it works on one log (n,) or on B bootstrap logs (B, n).


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


# --------------------------------------------------------------------------- public estimators


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


# --------------------------------------------------------------------------- reward model


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


# --------------------------------------------------------------------------- logging policy


MARGINAL_METHODS = ("harmonic", "frequency", "mean-propensity")


def logged_policy_marginal(
    actions: Any,
    pscore: Any,
    n_actions: int,
    positions: Any = None,
    n_positions: int = 1,
    method: str = "harmonic",
) -> np.ndarray:
    """float64[A, K]: the time-averaged action distribution of a logging policy, from its own log.

    A policy that changes over the log (e.g. a batch-updated Thompson sampler) puts action
    ``a`` at position ``k`` with probability ``pi_t(a, k)`` at round ``t``; its average over the
    log ``pbar(a, k) = mean_t pi_t(a, k)`` is what a context-free evaluation policy "like the
    logging policy" means. Estimates, each normalised to sum to 1 over actions at each position:

    - ``"harmonic"``: ``count(a, k) / sum_{t: (a_t, k_t) = (a, k)} 1 / pscore_t``. Consistent for
      ``pbar(a, k) / pbar(k)``: ``E[1 / pscore_t]`` over the rounds that show ``(a, k)`` is
      ``1 / pbar(a, k)`` (each round is reweighted by the inverse of its own probability);
      exact when the policy does not change.
    - ``"frequency"``: ``count(a, k) / count(k)``: unbiased, but ignores the logged propensities.
    - ``"mean-propensity"``: the mean logged ``pscore`` of ``(a, k)``. Biased towards actions
      whose probability varies: a round shows ``(a, k)`` more often when its probability is
      high, so this is ``E[pi^2] / E[pi]`` rather than ``E[pi]``. Kept for comparison.

    A pair never logged gets probability 0.

    Args:
        actions: int[n] logged actions.
        pscore: float[n] logged propensities in (0, 1].
        n_actions: A.
        positions: int[n] 0-based positions, or None (K = 1).
        n_positions: K.
        method: one of :data:`MARGINAL_METHODS`.
    """
    check_choice("method", method, MARGINAL_METHODS)
    n_actions = check_int("n_actions", n_actions, min_value=1)
    n_positions = check_int("n_positions", n_positions, min_value=1)
    ps = _as_1d("pscore", pscore, None)
    n = len(ps)
    if n == 0:
        raise ValueError("the log is empty")
    if ((ps <= 0) | (ps > 1)).any():
        i = int(((ps <= 0) | (ps > 1)).argmax())
        raise ValueError(f"pscore[{i}] = {ps[i]} is out of range: logged propensities must be in (0, 1]")
    act = _check_int_array("actions", actions, n, n_actions)
    pos = np.zeros(n, np.int64) if positions is None else _check_int_array("positions", positions, n, n_positions)
    cell = act * n_positions + pos
    size = n_actions * n_positions
    count = np.bincount(cell, minlength=size).reshape(n_actions, n_positions).astype(np.float64)
    if method == "frequency":
        est = count
    elif method == "harmonic":
        inv = np.bincount(cell, weights=1.0 / ps, minlength=size).reshape(n_actions, n_positions)
        est = np.divide(count, inv, out=np.zeros_like(count), where=inv > 0)
    else:
        total = np.bincount(cell, weights=ps, minlength=size).reshape(n_actions, n_positions)
        est = np.divide(total, count, out=np.zeros_like(count), where=count > 0)
    sums = est.sum(axis=0, keepdims=True)
    if (sums <= 0).any():
        k = int(np.argmax(sums[0] <= 0))
        raise ValueError(f"position {k} never appears in the log, so its distribution cannot be estimated")
    return est / sums


# --------------------------------------------------------------------------- logs -> arrays


def logged_arrays(data: Any) -> dict[str, np.ndarray]:
    """OPE arrays of a ``LoggedData`` with propensities (e.g. an Open Bandit Dataset log).

    Returns:
        ``rewards`` float64[n] (the binary reward), ``actions`` int64[n] (item indices),
        ``pscore`` float64[n], ``positions`` int64[n] (0-based; zeros where the log has
        none), ``context`` float64[n, c] (``(n, 0)`` where none).

    Raises:
        ValueError: the log has no propensities.
    """
    inter = data.interactions
    if inter.propensity is None:
        raise ValueError(f"{data.name}: the log has no propensities, so off-policy estimators cannot use it")
    n = len(inter)
    return {
        "rewards": np.asarray(data.binary_reward(), dtype=np.float64),
        "actions": np.asarray(inter.item, dtype=np.int64),
        "pscore": np.asarray(inter.propensity, dtype=np.float64),
        "positions": np.zeros(n, np.int64) if inter.position is None else np.asarray(inter.position) - 1,
        "context": np.zeros((n, 0)) if inter.context is None else np.asarray(inter.context, dtype=np.float64),
    }


def run_log_arrays(log: Any) -> dict[str, np.ndarray]:
    """OPE arrays of a runner log: a ``RunLog``, its dict, or the ``.npz`` a sweep saves with ``save_logs``.

    Returns:
        ``rewards`` float64[T], ``actions`` int64[T] (the chosen candidate's slot), ``items``
        int64[T] (its catalogue index), ``pscore`` float64[T] (the agent's probability of the
        chosen candidate), ``users`` int64[T].

    Raises:
        ValueError: a propensity is missing (NaN) or outside (0, 1].
    """
    if isinstance(log, (str, os.PathLike)):
        with np.load(Path(log)) as npz:
            arrays: Mapping[str, Any] = {k: npz[k] for k in npz.files}
    elif isinstance(log, (bytes, bytearray)):
        with np.load(io.BytesIO(log)) as npz:
            arrays = {k: npz[k] for k in npz.files}
    elif is_dataclass(log) and not isinstance(log, type):
        arrays = asdict(log)
    else:
        arrays = dict(log)
    missing = [k for k in ("rewards", "actions", "items", "propensities", "users") if k not in arrays]
    if missing:
        raise ValueError(f"not a run log: missing {', '.join(missing)}")
    pscore = np.asarray(arrays["propensities"], dtype=np.float64)
    bad = ~((pscore > 0) & (pscore <= 1))
    if bad.any():
        i = int(bad.argmax())
        raise ValueError(
            f"decision {i} has propensity {pscore[i]}: the agent must report a probability in (0, 1] "
            f"({int(bad.sum())} decisions affected)"
        )
    return {
        "rewards": np.asarray(arrays["rewards"], dtype=np.float64),
        "actions": np.asarray(arrays["actions"], dtype=np.int64),
        "items": np.asarray(arrays["items"], dtype=np.int64),
        "pscore": pscore,
        "users": np.asarray(arrays["users"], dtype=np.int64),
    }


__all__ = [
    "ESTIMATORS",
    "FIT_L2",
    "MARGINAL_METHODS",
    "SLOPE_CANDIDATES",
    "Estimator",
    "Interval",
    "RewardModel",
    "bootstrap_ci",
    "dm",
    "dr",
    "dr_os",
    "estimate",
    "fit_logistic",
    "fit_reward_model",
    "ips",
    "logged_arrays",
    "logged_policy_marginal",
    "replay",
    "run_log_arrays",
    "slope",
    "snips",
    "switch_dr",
    "tuned_hyper",
]
