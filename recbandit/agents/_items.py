"""Per-item counters that grow with the catalogue (new item ids need no API change)."""

from __future__ import annotations

import numpy as np

_UNSIGNED = {np.dtype(t).itemsize: np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64)}


def id_bound(ids: np.ndarray) -> int:
    """``1 + max(ids)`` of an integer array; ValueError if any id is negative.

    One reduction: a signed array is read as unsigned, where negative values become the
    largest ones.
    """
    if ids.dtype.kind == "i":
        top = int(ids.view(_UNSIGNED[ids.itemsize]).max())
        if top >> (8 * ids.itemsize - 1):
            raise ValueError("item_ids must be non-negative")
    else:
        top = int(ids.max())
    return top + 1


class ItemCounts:
    """Pull counts ``n`` and reward sums ``s`` indexed by item id, grown on demand."""

    def __init__(self) -> None:
        self.n = np.zeros(0, dtype=np.float64)
        self.s = np.zeros(0, dtype=np.float64)

    def ensure(self, ids: np.ndarray) -> None:
        """Grow the tables (amortised doubling) so every id in int64 ``ids`` is a valid index."""
        top = id_bound(ids)
        if top > len(self.n):
            size = max(top, 2 * len(self.n), 64)
            n, s = np.zeros(size), np.zeros(size)
            n[: len(self.n)], s[: len(self.s)] = self.n, self.s
            self.n, self.s = n, s

    def gather(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts and sums for int64[B, K] ids, each float64[B, K]."""
        self.ensure(ids)
        return self.n.take(ids), self.s.take(ids)

    def add(self, ids: np.ndarray, rewards: np.ndarray) -> None:
        """Add one pull with reward ``rewards[j]`` to item ``ids[j]`` (ids may repeat)."""
        self.ensure(ids)
        if len(ids) == 1:
            i = int(ids[0])
            self.n[i] += 1.0
            self.s[i] += float(rewards[0])
        elif 8 * len(ids) < len(self.n):  # a few ids in a large table: touch only them
            np.add.at(self.n, ids, 1.0)
            np.add.at(self.s, ids, rewards)
        else:  # a large batch: one pass over the table beats np.add.at's per-element loop
            ids = ids.astype(np.intp, copy=False)
            self.n += np.bincount(ids, minlength=len(self.n))
            self.s += np.bincount(ids, weights=rewards, minlength=len(self.s))


def obs_ids(obs: dict | object) -> np.ndarray:
    """The ``item_ids`` int64[B, K] of an observation, with a clear error if absent."""
    try:
        ids = obs["item_ids"]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError("this agent needs obs['item_ids'] (int64[B, K]); the observation has none") from None
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"obs['item_ids'] must be an int array of shape (B, K), got {ids.shape} {ids.dtype}")
    return ids


def occurrences(items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group the rows of int64[m] ``items`` by id without ``np.unique`` or ``np.add.at``.

    Returns:
        ``order`` int64[m] (rows sorted by id, stable), then, in that order, ``rank``
        int64[m] (0 for an id's first row, 1 for its second, ...) and ``count`` int64[m]
        (rows of the same id). Rows of equal ``rank`` have distinct ids, so a fancy-index
        update per rank is exact.
    """
    order = np.argsort(items, kind="stable")
    m = len(items)
    s = items[order]
    first = np.empty(m, dtype=bool)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    runs = np.diff(np.append(starts, m))
    return order, np.arange(m) - np.repeat(starts, runs), np.repeat(runs, runs)


def grown(table: np.ndarray, size: int, fill: float | np.ndarray) -> np.ndarray:
    """``table`` extended along axis 0 to ``size`` rows, the new rows set to ``fill``."""
    out = np.empty((size, *table.shape[1:]))
    out[: len(table)] = table
    out[len(table) :] = fill
    return out
