"""The LoggedData contract: interactions, items, users and what the reward means.

Every loader (MovieLens 100K, MovieLens CSV, Open Bandit Dataset, the plain format)
returns a ``LoggedData``. Arrays are columnar numpy; users and items are re-indexed to
``0..n-1`` and the original ids are kept in ``Users.ids`` / ``Items.ids``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

RewardKind = Literal["binary", "rating"]


class DataError(ValueError):
    """A problem in a data file, named by file, line and field where there is one.

    Attributes:
        path: the file (or folder) at fault.
        line: 1-based line number in that file, or None.
        field: the column or field at fault, or None.
    """

    def __init__(self, path: Any, message: str, line: int | None = None, field: str | None = None) -> None:
        self.path, self.line, self.field = str(path), line, field
        where = str(path) if line is None else f"{path} line {line}"
        super().__init__(f"{where}: {message}")


@dataclass
class Interactions:
    """One row per logged interaction (N rows), time-ordered by ``timestamp``.

    Attributes:
        user: int64[N] user index into ``LoggedData.users``.
        item: int64[N] item index into ``LoggedData.items`` (the logged action).
        reward: float64[N] the reward (0/1 for binary logs; the rating for rating logs).
        timestamp: float64[N] Unix seconds (UTC).
        propensity: float64[N] probability that the logging policy chose ``item``, or None.
        position: int64[N] slot of the item on the page (1-based), or None.
        context: float32[N, c] logged context features, or None.
    """

    user: np.ndarray
    item: np.ndarray
    reward: np.ndarray
    timestamp: np.ndarray
    propensity: np.ndarray | None = None
    position: np.ndarray | None = None
    context: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def take(self, index: np.ndarray) -> Interactions:
        """Rows ``index`` (bool mask or int indices) as a new ``Interactions``."""

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return Interactions(
            user=self.user[index],
            item=self.item[index],
            reward=self.reward[index],
            timestamp=self.timestamp[index],
            propensity=pick(self.propensity),
            position=pick(self.position),
            context=pick(self.context),
        )


@dataclass
class Items:
    """The catalogue (n items).

    Attributes:
        ids: original item ids, array[n] (int or str).
        text: n strings describing the items ("title (year) — genres"), "" where none.
        features: float32[n, f] side features, or None.
        first_seen: float64[n] Unix seconds of each item's release or first interaction.
        feature_names: names of the ``features`` columns.
    """

    ids: np.ndarray
    text: list[str]
    features: np.ndarray | None = None
    first_seen: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass
class Users:
    """The users (m users).

    Attributes:
        ids: original user ids, array[m].
        text: m profile strings, or None where the log has no user text.
        features: float32[m, g] side features, or None.
        feature_names: names of the ``features`` columns.
    """

    ids: np.ndarray
    text: list[str] | None = None
    features: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass
class LoggedData:
    """A loaded log: what the simulator is fitted on and what OPE evaluates.

    Attributes:
        name: dataset name ("movielens-100k", "obd/random/all", ...).
        source: the folder or file it was read from.
        interactions: the rows, sorted by time.
        items: the catalogue.
        users: the users.
        reward_kind: "binary" (click/like) or "rating".
        rating_threshold: for rating logs, the rating at or above which a rating counts
            as a like when a binary reward is asked for; None for binary logs.
        meta: loader-specific facts (rows read per file, formats, encodings).
    """

    name: str
    source: str
    interactions: Interactions
    items: Items
    users: Users
    reward_kind: RewardKind
    rating_threshold: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def binary_reward(self, threshold: float | None = None) -> np.ndarray:
        """float64[N] 0/1 rewards: the reward itself for binary logs, ``rating >= threshold`` else."""
        if self.reward_kind == "binary":
            return self.interactions.reward
        thr = self.rating_threshold if threshold is None else threshold
        if thr is None:
            raise ValueError("rating_threshold is needed to turn ratings into a binary reward")
        return (self.interactions.reward >= thr).astype(np.float64)

    def split_by_time(self, at: float) -> tuple[LoggedData, LoggedData]:
        """(rows with timestamp < at, rows with timestamp >= at); users and items are shared."""
        before = self.interactions.timestamp < at
        return (
            replace(self, interactions=self.interactions.take(before)),
            replace(self, interactions=self.interactions.take(~before)),
        )

    def time_quantile(self, q: float) -> float:
        """The timestamp below which a share ``q`` of the interactions lies."""
        return float(np.quantile(self.interactions.timestamp, q))

    def summary(self) -> dict[str, Any]:
        """Counts, time span and reward distribution (what ``recbandit data info`` prints)."""
        inter = self.interactions
        values, counts = np.unique(inter.reward, return_counts=True)
        reward_dist = (
            {f"{v:g}": int(c) for v, c in zip(values, counts, strict=True)}
            if len(values) <= 12
            else {"mean": float(inter.reward.mean()), "min": float(values[0]), "max": float(values[-1])}
        )
        return {
            "name": self.name,
            "source": self.source,
            "interactions": len(inter),
            "users": len(self.users),
            "items": len(self.items),
            # bincount instead of np.unique: O(N), no sort of a 25M-row column.
            "users_with_interactions": int(np.count_nonzero(np.bincount(inter.user, minlength=len(self.users)))),
            "items_with_interactions": int(np.count_nonzero(np.bincount(inter.item, minlength=len(self.items)))),
            "user_features": list(self.users.feature_names),
            "item_features": list(self.items.feature_names),
            "time_span": [float(inter.timestamp.min()), float(inter.timestamp.max())] if len(inter) else None,
            "reward_kind": self.reward_kind,
            "rating_threshold": self.rating_threshold,
            "reward_distribution": reward_dist,
            "has_propensity": inter.propensity is not None,
            "has_position": inter.position is not None,
            "context_dim": None if inter.context is None else int(inter.context.shape[1]),
            **self.meta,
        }
