"""Replay evaluation of a learning agent on a uniformly random log (Li, Chu, Langford, Wang, WSDM 2011).

The log is streamed in time order. Each logged round becomes an observation in the
layout the envs produce (``user`` float32[B, d_u], ``items`` float32[B, K, d_i],
``item_ids`` int64[B, K]) with the campaign's items as the K candidates; the agent acts;
the rounds where its choice is the logged item are kept, their logged rewards are the
agent's rewards, and only those rounds update the agent. Under a uniformly random logging
policy the kept rounds are a fair sample of what the agent would have met online, so the
mean reward over them (the replay CTR) estimates its online CTR without bias; about one
round in K is kept.

Agents never import envs; this module composes both through the ``Agent`` protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recbandit._validation import check_int
from recbandit.agents.base import Agent
from recbandit.data.logged import LoggedData


@dataclass(frozen=True)
class ReplayResult:
    """What a replay run measured.

    Attributes:
        ctr: mean logged reward over the kept rounds (the replay estimate of the agent's CTR).
        ci95: (lower, upper) 95% Wilson score interval of ``ctr`` for 0/1 rewards (NaN otherwise).
        kept: rounds where the agent chose the logged item (the only ones it learned from).
        rounds: rounds streamed.
        rewards: sum of the kept rounds' rewards (clicks).
        expected_kept: ``rounds / K``, what a policy independent of the log keeps on average.
        batch_size: rounds per ``act`` call (1 = online, as in Li et al.).
        kept_rows: int64[kept] indices (into the log's time order) of the kept rounds.
        agent: the agent's registry name.
        agent_params: its hyper-parameters.
    """

    ctr: float
    ci95: tuple[float, float]
    kept: int
    rounds: int
    rewards: float
    expected_kept: float
    batch_size: int
    kept_rows: np.ndarray
    agent: str
    agent_params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (without ``kept_rows``)."""
        return {
            "ctr": self.ctr,
            "ci95": list(self.ci95),
            "kept": self.kept,
            "rounds": self.rounds,
            "rewards": self.rewards,
            "expected_kept": self.expected_kept,
            "batch_size": self.batch_size,
            "agent": self.agent,
            "agent_params": self.agent_params,
        }


def replay_arrays(
    agent: Agent,
    user_contexts: np.ndarray,
    item_contexts: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    pscore: np.ndarray | None = None,
    *,
    batch_size: int = 1,
    seed: int | None = None,
) -> ReplayResult:
    """Replay ``agent`` over logged rounds given as arrays (rounds in time order).

    Args:
        agent: any ``Agent``; it is reset with ``seed`` first.
        user_contexts: float[n, d_u], each round's context.
        item_contexts: float[K, d_i], the candidates' contexts (the same K items every round).
        actions: int[n], the logged item of each round, in ``[0, K)``.
        rewards: float[n], the logged rewards.
        pscore: float[n] logged propensities, or None; when given they must be constant (a
            uniformly random log), else the replay estimate is biased.
        batch_size: rounds per ``act`` / ``update`` call (1 = online).
        seed: the agent's seed.

    Returns:
        The :class:`ReplayResult`.

    Raises:
        ValueError: shapes disagree, an action is out of range, or ``pscore`` is not constant.
    """
    batch_size = check_int("batch_size", batch_size, min_value=1)
    users = np.asarray(user_contexts, dtype=np.float32)
    items = np.asarray(item_contexts, dtype=np.float32)
    n = users.shape[0] if users.ndim == 2 else -1
    if users.ndim != 2 or n == 0:
        raise ValueError(f"user_contexts must have shape (n, d_u) with n >= 1, got {users.shape}")
    if items.ndim != 2 or items.shape[0] < 2:
        raise ValueError(f"item_contexts must have shape (K, d_i) with K >= 2, got {items.shape}")
    k = items.shape[0]
    act = np.asarray(actions)
    rew = np.asarray(rewards, dtype=np.float64)
    if act.shape != (n,) or rew.shape != (n,):
        raise ValueError(f"actions and rewards must have shape ({n},), got {act.shape} and {rew.shape}")
    if act.dtype.kind not in "iu" or act.min() < 0 or act.max() >= k:
        raise ValueError(f"actions must be integers in [0, {k})")
    if not np.isfinite(rew).all() or not np.isfinite(users).all() or not np.isfinite(items).all():
        raise ValueError("rewards and contexts must be finite")
    if pscore is not None:
        ps = np.asarray(pscore, dtype=np.float64)
        if ps.shape != (n,):
            raise ValueError(f"pscore must have shape ({n},), got {ps.shape}")
        if np.ptp(ps) > 1e-12 * np.abs(ps).max():
            raise ValueError(
                f"replay needs a uniformly random log (constant propensities); pscore ranges over "
                f"[{ps.min():.6g}, {ps.max():.6g}]: use the estimators of recbandit.evaluation.ope"
            )
    act = act.astype(np.int64)
    agent.reset(seed)
    ids = np.arange(k, dtype=np.int64)
    kept_parts: list[np.ndarray] = []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        b = stop - start
        obs: dict[str, np.ndarray] = {
            "user": users[start:stop],
            "items": np.ascontiguousarray(np.broadcast_to(items, (b, *items.shape))),
            "item_ids": np.ascontiguousarray(np.broadcast_to(ids, (b, k))),
        }
        chosen = np.asarray(agent.act(obs).actions, dtype=np.int64)
        keep = chosen == act[start:stop]
        if keep.any():
            sub = {key: value[keep] for key, value in obs.items()}
            agent.update(sub, chosen[keep], rew[start:stop][keep])
            kept_parts.append(start + np.flatnonzero(keep))
    kept_rows = np.concatenate(kept_parts) if kept_parts else np.zeros(0, np.int64)
    kept = len(kept_rows)
    total = float(rew[kept_rows].sum())
    ctr = total / kept if kept else float("nan")
    binary = bool(np.isin(rew[kept_rows], (0.0, 1.0)).all())
    ci = wilson_interval(total, kept) if kept and binary else (float("nan"), float("nan"))
    return ReplayResult(
        ctr=ctr,
        ci95=ci,
        kept=kept,
        rounds=n,
        rewards=total,
        expected_kept=n / k,
        batch_size=batch_size,
        kept_rows=kept_rows,
        agent=getattr(agent, "name", type(agent).__name__),
        agent_params=dict(getattr(agent, "params", {})),
    )


def wilson_interval(successes: float, trials: int, z: float = 1.96) -> tuple[float, float]:
    """(lower, upper) Wilson score interval of a binomial proportion (sound at 0 and at 1)."""
    if trials <= 0:
        return float("nan"), float("nan")
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def log_contexts(data: LoggedData, context_dim: int = 12, split_quantile: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """(float32[n, d_u] round contexts, float32[K, d_i] item contexts) of a log, by OBD-v0's rules.

    The same functions as the env (``recbandit.envs.contexts.logged_round_contexts`` and
    ``logged_item_contexts``), on the same rows: the round contexts' principal components
    are fitted on the rows before the ``split_quantile`` time quantile (the env's training
    rows, its global split), then every round is projected. Item contexts: ``items.features``
    standardised and projected, or the identity when the log has none.
    """
    from recbandit.envs.contexts import feature_block, logged_item_contexts, logged_round_contexts
    from recbandit.envs.fidelity import make_split

    context_dim = check_int("context_dim", context_dim, min_value=1)
    inter = data.interactions
    if inter.context is None or inter.context.shape[1] == 0:
        raise ValueError(f"{data.name}: replay needs each round's context (interactions.context)")
    rows = np.arange(len(inter), dtype=np.int64)  # every round its own visitor, as in OBD-v0
    split = make_split(rows, inter.timestamp, "global", holdout=1.0 - float(split_quantile))
    users = logged_round_contexts(inter.context, context_dim, np.flatnonzero(split.fit))
    feats = data.items.features
    if feats is None or feats.shape[1] == 0:
        items = np.eye(len(data.items), dtype=np.float32)
    else:
        items = logged_item_contexts(feature_block(feats), context_dim)
    return users, items


def replay_log(
    agent: Agent,
    data: LoggedData,
    *,
    batch_size: int = 1,
    seed: int | None = None,
    context_dim: int = 12,
) -> ReplayResult:
    """Replay ``agent`` over a uniformly random ``LoggedData`` (e.g. ``load_obd(path, "random")``).

    The candidates are all the log's items (K = ``len(data.items)``); contexts come from
    :func:`log_contexts`; the reward is the binary reward. See :func:`replay_arrays`.
    """
    users, items = log_contexts(data, context_dim)
    inter = data.interactions
    return replay_arrays(
        agent,
        users,
        items,
        inter.item,
        data.binary_reward(),
        inter.propensity,
        batch_size=batch_size,
        seed=seed,
    )


__all__ = ["ReplayResult", "log_contexts", "replay_arrays", "replay_log", "wilson_interval"]
