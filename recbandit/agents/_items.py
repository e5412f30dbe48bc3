"""Per-item counters that grow with the catalogue (new item ids need no API change)."""

from __future__ import annotations

import numpy as np


class ItemCounts:
    """Pull counts ``n`` and reward sums ``s`` indexed by item id, grown on demand."""

    def __init__(self) -> None:
        self.n = np.zeros(0, dtype=np.float64)
        self.s = np.zeros(0, dtype=np.float64)

    def ensure(self, ids: np.ndarray) -> None:
        """Grow the tables (amortised doubling) so every id in int64 ``ids`` is a valid index."""
        top = int(ids.max()) + 1
        if ids.min() < 0:
            raise ValueError("item_ids must be non-negative")
        if top > len(self.n):
            size = max(top, 2 * len(self.n), 64)
            self.n = np.concatenate([self.n, np.zeros(size - len(self.n))])
            self.s = np.concatenate([self.s, np.zeros(size - len(self.s))])

    def gather(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts and sums for int64[B, K] ids, each float64[B, K]."""
        self.ensure(ids)
        return self.n[ids], self.s[ids]

    def add(self, ids: np.ndarray, rewards: np.ndarray) -> None:
        """Add one pull with reward ``rewards[j]`` to item ``ids[j]`` (ids may repeat)."""
        self.ensure(ids)
        np.add.at(self.n, ids, 1.0)
        np.add.at(self.s, ids, rewards)


def obs_ids(obs: dict | object) -> np.ndarray:
    """The ``item_ids`` int64[B, K] of an observation, with a clear error if absent."""
    try:
        ids = obs["item_ids"]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError("this agent needs obs['item_ids'] (int64[B, K]); the observation has none") from None
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"obs['item_ids'] must be an int array of shape (B, K), got {ids.shape} {ids.dtype}")
    return ids
