"""A finished run's measured fields: regret and reward, the curve, cold start, propensities, exploration, cost."""

from __future__ import annotations

import resource
from typing import Any

import numpy as np

from recbandit.evaluation.cold import cold_metrics
from recbandit.evaluation.metrics import checkpoints, diversity_metrics, session_metrics
from recbandit.evaluation.runlog import RunLog


def summarise(
    log: RunLog,
    seconds: float,
    agent_seconds: float,
    item_contexts: np.ndarray | None = None,
    n_items: int | None = None,
    item_arrival: np.ndarray | None = None,
    user_arrival: np.ndarray | None = None,
) -> dict[str, Any]:
    """The metrics of a run (the record's measured fields) from its log.

    Args:
        log: the run's per-decision log (length T).
        seconds: wall time of the step loop.
        agent_seconds: time spent in the agent's ``act``, ``update`` and ``end_episodes``.
        item_contexts: float[n_items, d_i] the env's item contexts for the diversity (None:
            not computed).
        n_items: catalogue size for the coverage (None: not computed).
        item_arrival: int64[n_items] the env's item arrival decisions (None: no new-item
            metrics).
        user_arrival: int64[n_users] the env's user arrival decisions (None: no new users).

    Returns:
        ``cumulative_regret``, ``mean_reward`` (= ``ctr``), ``mean_expected_reward``,
        ``mean_optimal_reward``, ``decisions_per_s``, ``agent_decisions_per_s``, ``curve``,
        ``cold`` (``recbandit.evaluation.cold.cold_metrics``), ``propensity``, ``diversity``, ``sessions`` and ``cost``.
    """
    horizon = len(log.regret)
    cumulative_regret, curve = _regret_and_curve(log)
    mean_reward = float(log.rewards.mean())
    return {
        "cumulative_regret": cumulative_regret,
        "mean_reward": mean_reward,
        "ctr": mean_reward,
        "mean_expected_reward": float(log.expected.mean()),
        "mean_optimal_reward": float(log.optimal.mean()),
        "decisions_per_s": horizon / seconds,
        "agent_decisions_per_s": horizon / agent_seconds if agent_seconds > 0 else float("inf"),
        "curve": curve,
        "cold": cold_metrics(log, item_arrival, user_arrival),
        "propensity": _propensity(log.propensities),
        # Exploration footprint: catalogue coverage, diversity on the env's item contexts, novelty.
        "diversity": diversity_metrics(log.items, log.users, log.sessions, item_contexts, n_items),
        # Episodic envs: return and length of the sessions that ended, with their learning curve.
        "sessions": session_metrics(log.rewards, log.sessions, log.ends),
        "cost": {
            "seconds": seconds,
            "agent_seconds": agent_seconds,
            "flops": None,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "device": "cpu",
        },
    }


def _regret_and_curve(log: RunLog) -> tuple[float, dict[str, list]]:
    """The final cumulative regret and the curve: cumulative regret and reward at ``checkpoints``."""
    ts = checkpoints(len(log.regret))
    cum_regret = np.cumsum(log.regret)
    final = float(cum_regret[-1])
    curve = {"t": ts.tolist(), "cumulative_regret": cum_regret[ts - 1].tolist()}
    del cum_regret  # one running sum in memory at a time
    curve["cumulative_reward"] = np.cumsum(log.rewards)[ts - 1].tolist()
    return final, curve


def _propensity(p: np.ndarray) -> dict[str, Any]:
    """Smallest and mean propensity of the choices, and how many the agent left unknown (NaN)."""
    known = bool(np.isfinite(p).any())
    return {
        "min": float(np.nanmin(p)) if known else None,
        "mean": float(np.nanmean(p)) if known else None,
        "missing": int(np.isnan(p).sum()),
    }
