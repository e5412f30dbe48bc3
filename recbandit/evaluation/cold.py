"""Cold-start metrics of a run: how an agent treats items and users that arrive during it.

``cold_metrics`` computes them at the end of a run from its ``RunLog`` and the env's
arrival schedules, vectorised (one stable sort per group of new items or new users, no
loop over decisions), and ``summarise`` stores them as ``record["cold"]``.

Definitions (T = the horizon; decisions are numbered 0 .. T - 1 as the env's clock):

- A **cold candidate** is one the env flags in ``info["cold"]``: an item that arrived
  after decision 0 and within the env's ``cold_window`` decisions of its arrival. A
  **cold impression** is a decision whose chosen item is a cold candidate.
- A **new item** is one with ``0 < item_arrival < T`` (it enters the catalogue during the
  run); a **new user** one with ``0 < user_arrival < T``. Items and users there from
  decision 0, or arriving after the run, are not new.
- **Cold-candidate decisions** (``candidates``): decisions whose candidate set holds at
  least one cold candidate, whatever the agent chose. Their regret measures how well the
  agent decides when something cold is on offer: showing a good cold item and passing over
  a bad one both count, so an agent that never shows cold items is not rewarded for it.
- **First N impressions of a new item** (``new_items``, N = ``item_first_n``, 50): the
  first N decisions (in decision order) that chose the item; an item shown fewer than N
  times contributes all its impressions. Their regret and CTR sum and average over all
  new items' first impressions together.
- **First N decisions of a new user** (``new_users``, N = ``user_first_n``, 20): the first
  N decisions serving that user, likewise.
- **Decisions until first shown** of a new item: ``(first decision that chose it) -
  item_arrival`` (0 = shown at the first decision it could be); **until first clicked**
  likewise with the first decision that chose it and drew a reward > 0. An item not shown
  (clicked) by the end of the run is censored at ``T - item_arrival`` and counted in
  ``censored``: the mean over new items then counts it at the censoring value and is a
  lower bound; the median is exact while fewer than half are censored.
- **Share of impressions to cold items**: cold impressions / decisions; ``share_offered``
  is the mean share of cold candidates in the candidate sets, what a uniformly random
  choice would give (the baseline that gives ``share`` its meaning).

Where a quantity has no decision to average over it is None (JSON null): no cold
candidate was ever offered, the env has no new items (``new_items`` None) or no new users
(``new_users`` None, e.g. an env without a user arrival schedule).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recbandit.evaluation.metrics import checkpoints
from recbandit.evaluation.runlog import RunLog

#: Default N of "a new item's first N impressions".
ITEM_FIRST_N = 50
#: Default N of "a new user's first N decisions".
USER_FIRST_N = 20


def cold_metrics(
    log: RunLog,
    item_arrival: np.ndarray | None = None,
    user_arrival: np.ndarray | None = None,
    item_first_n: int = ITEM_FIRST_N,
    user_first_n: int = USER_FIRST_N,
) -> dict[str, Any]:
    """The cold-start metrics of a run (the module docstring defines each).

    Args:
        log: the run's per-decision log (length T).
        item_arrival: int64[n_items] decision index from which each item can be offered
            (0: initial catalogue); None: no arrival schedule known (no ``new_items``).
        user_arrival: int64[n_users] decision index from which each user can arrive;
            None: every user is there from decision 0 (no ``new_users``).
        item_first_n: N of a new item's first N impressions (>= 1).
        user_first_n: N of a new user's first N decisions (>= 1).

    Returns:
        ``decisions``, ``regret``, ``mean_regret`` (cold impressions: decisions that chose
        a cold item); ``share``, ``share_offered``; ``candidates`` (``decisions``,
        ``regret``, ``mean_regret``, ``ctr``, and ``other_mean_regret``, ``other_ctr`` of
        the decisions without a cold candidate); ``new_items`` (``arrived``, ``shown``,
        ``first_n``, ``impressions``, ``regret``, ``mean_regret``, ``ctr``,
        ``first_shown`` and ``first_clicked``: ``mean``, ``median``, ``censored``) or
        None; ``new_users`` (``arrived``, ``seen``, ``first_n``, ``decisions``,
        ``regret``, ``mean_regret``, ``ctr``) or None; and ``curve`` at the record's
        checkpoints ``t``: ``candidates_regret``, ``new_item_regret``,
        ``new_user_regret`` (cumulative regret of those decisions up to ``t``; None where
        the group does not exist), ``share`` and ``share_offered`` (over decisions 1..t).
    """
    for name, n in (("item_first_n", item_first_n), ("user_first_n", user_first_n)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    horizon = len(log.regret)
    ts = checkpoints(horizon)
    curve: dict[str, Any] = {"t": ts.tolist()}

    # Decisions that chose a cold item, and the share of impressions they are.
    chosen_regret = _cumulative(log.regret, log.cold, ts)
    n_chosen = int(np.count_nonzero(log.cold))
    shares = np.cumsum(log.cold, dtype=np.int64)[ts - 1] / ts
    curve["share"] = shares.tolist()
    curve["share_offered"] = (np.cumsum(log.cold_offered, dtype=np.float64)[ts - 1] / ts).tolist()

    # Decisions whose candidate set holds a cold item.
    offered = log.cold_offered > 0
    n_offered = int(np.count_nonzero(offered))
    cand_curve = _cumulative(log.regret, offered, ts)
    curve["candidates_regret"] = cand_curve.tolist()
    cand_regret = float(cand_curve[-1])
    other = horizon - n_offered
    candidates = {
        "decisions": n_offered,
        "regret": cand_regret,
        "mean_regret": cand_regret / n_offered if n_offered else None,
        "ctr": float(np.sum(log.rewards, where=offered)) / n_offered if n_offered else None,
        "other_mean_regret": (float(np.sum(log.regret)) - cand_regret) / other if other else None,
        "other_ctr": float(np.sum(log.rewards, where=~offered)) / other if other else None,
    }
    del offered

    new_items, curve["new_item_regret"] = _new_items(log, item_arrival, item_first_n, ts)
    new_users, curve["new_user_regret"] = _new_users(log, user_arrival, user_first_n, ts)
    return {
        "decisions": n_chosen,
        "regret": float(chosen_regret[-1]),
        "mean_regret": float(chosen_regret[-1]) / n_chosen if n_chosen else None,
        "share": float(shares[-1]),
        "share_offered": curve["share_offered"][-1],
        "candidates": candidates,
        "new_items": new_items,
        "new_users": new_users,
        "curve": curve,
    }


def _cumulative(values: np.ndarray, mask: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """float64[len(ts)]: running sum of ``values`` over the decisions in ``mask``, read at ``ts``."""
    return np.cumsum(np.where(mask, values, 0.0))[ts - 1]


def _arrived(arrival: np.ndarray | None, horizon: int, name: str) -> np.ndarray | None:
    """bool[n]: which arrive during the run (0 < arrival < horizon); None if none do."""
    if arrival is None:
        return None
    arrival = np.asarray(arrival)
    if arrival.ndim != 1 or not np.issubdtype(arrival.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-d integer array, got {arrival.dtype} of shape {arrival.shape}")
    new = (arrival > 0) & (arrival < horizon)
    return new if new.any() else None


def first_rows(keys: np.ndarray, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n`` rows of each key, by one stable sort.

    Args:
        keys: int64[T] a key per decision (an item or a user).
        rows: int64[S] ascending decision indices to consider.
        n: how many of each key's first rows to keep (>= 1).

    Returns:
        bool[S] whether each of ``rows`` is among the first ``n`` of its key; int64[G] the
        distinct keys among ``rows`` (ascending); int64[G] the first row of each.
    """
    sorted_keys = keys[rows]
    order = np.argsort(sorted_keys, kind="stable")  # rows ascending within each key
    sorted_keys = sorted_keys[order]
    starts = np.flatnonzero(np.diff(sorted_keys, prepend=sorted_keys[:1] - 1))
    distinct = sorted_keys[starts]
    del sorted_keys
    # Rank of each sorted row within its key: its position minus its key's first position.
    rank = np.arange(len(rows))
    rank -= np.repeat(starts, np.diff(np.append(starts, len(rows))))
    first = np.zeros(len(rows), bool)
    first[order[rank < n]] = True
    return first, distinct, rows[order[starts]]


def _first_n_mask(keys: np.ndarray, new: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bool[T] decisions among the first ``n`` of their (new) key; the keys seen and their first decision."""
    rows = np.flatnonzero(new[keys])
    within, distinct, first = first_rows(keys, rows, n)
    mask = np.zeros(len(keys), bool)
    mask[rows[within]] = True
    return mask, distinct, first


def _delays(arrival: np.ndarray, new: np.ndarray, items: np.ndarray, first: np.ndarray, horizon: int) -> dict:
    """Decisions from arrival to ``first`` of each new item, censored at the horizon."""
    at = np.full(len(arrival), -1, np.int64)
    at[items] = first
    at = at[new]
    delay = np.where(at >= 0, at - arrival[new], horizon - arrival[new])
    return {"mean": float(delay.mean()), "median": float(np.median(delay)), "censored": int((at < 0).sum())}


def _new_items(
    log: RunLog, item_arrival: np.ndarray | None, n: int, ts: np.ndarray
) -> tuple[dict[str, Any] | None, list[float] | None]:
    horizon = len(log.items)
    new = _arrived(item_arrival, horizon, "item_arrival")
    if new is None or item_arrival is None:
        return None, None
    arrival = np.asarray(item_arrival, dtype=np.int64)
    mask, shown, first = _first_n_mask(log.items, new, n)
    regret_curve = _cumulative(log.regret, mask, ts)
    impressions = int(np.count_nonzero(mask))
    ctr = float(np.sum(log.rewards, where=mask)) / impressions if impressions else None
    del mask
    clicked_rows = np.flatnonzero(new[log.items] & (log.rewards > 0))
    _, clicked, first_click = first_rows(log.items, clicked_rows, 1)
    del clicked_rows
    out = {
        "arrived": int(new.sum()),
        "shown": len(shown),
        "first_n": n,
        "impressions": impressions,
        "regret": float(regret_curve[-1]),
        "mean_regret": float(regret_curve[-1]) / impressions if impressions else None,
        "ctr": ctr,
        "first_shown": _delays(arrival, new, shown, first, horizon),
        "first_clicked": _delays(arrival, new, clicked, first_click, horizon),
    }
    return out, regret_curve.tolist()


def _new_users(
    log: RunLog, user_arrival: np.ndarray | None, n: int, ts: np.ndarray
) -> tuple[dict[str, Any] | None, list[float] | None]:
    new = _arrived(user_arrival, len(log.users), "user_arrival")
    if new is None:
        return None, None
    mask, seen, _ = _first_n_mask(log.users, new, n)
    regret_curve = _cumulative(log.regret, mask, ts)
    decisions = int(np.count_nonzero(mask))
    out = {
        "arrived": int(new.sum()),
        "seen": len(seen),
        "first_n": n,
        "decisions": decisions,
        "regret": float(regret_curve[-1]),
        "mean_regret": float(regret_curve[-1]) / decisions if decisions else None,
        "ctr": float(np.sum(log.rewards, where=mask)) / decisions if decisions else None,
    }
    return out, regret_curve.tolist()
