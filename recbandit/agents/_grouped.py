"""Scores of per-item models for a batch whose candidate slots repeat items: each model read once.

A batch of B users with K candidates each has B * K slots but often far fewer distinct
items (B = 1024, K = 50 over 1,000 items: ~51 slots per item). Gathering one model per slot
copies B * K models (111 MB at p = 16); ``grouped_mean_var`` sorts the slots by item and, per
chunk of items, multiplies each item's model once by the stacked feature rows of the users
that have it as a candidate (zero-padded to the chunk's largest count).
"""

from __future__ import annotations

import numpy as np


def grouped_mean_var(
    table: np.ndarray, x: np.ndarray, ids: np.ndarray, chunk_floats: int
) -> tuple[np.ndarray, np.ndarray]:
    """Means ``x_b^T theta_i`` and variances ``x_b^T A_i^-1 x_b`` of every slot, grouped by item; each float64[B, K].

    Args:
        table: float64[n, p + 1, p], item i's ``[A_i^-1; theta_i^T]`` (``ids`` < n).
        x: float64[B, p], one feature row per user.
        ids: int64[B, K], the candidates' item ids.
        chunk_floats: about how many floats of padded rows and products one chunk of items holds.
    """
    b, k = ids.shape
    p = table.shape[2]
    flat = ids.ravel()
    s = len(flat)
    # Sort the slots by item (a radix sort on 16-bit ids when they fit).
    order = np.argsort(flat.astype(np.uint16) if len(table) <= 1 << 16 else flat, kind="stable")
    srt = flat.take(order)
    first = np.empty(s, dtype=bool)
    first[0] = True
    np.not_equal(srt[1:], srt[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, s))
    rank = np.arange(s) - np.repeat(starts, counts)  # position of a slot among its item's slots
    users = order // k
    xz = np.vstack([x, np.zeros((1, p))])  # row b: the padding
    mean_sorted, var_sorted = np.empty(s), np.empty(s)
    n_groups = len(starts)
    step = max(1, chunk_floats // (int(counts.max()) * (2 * p + 1)))
    for g0 in range(0, n_groups, step):
        g1 = min(g0 + step, n_groups)
        lo, hi = starts[g0], (starts[g1] if g1 < n_groups else s)
        cnt = counts[g0:g1]
        c = int(cnt.max())
        pos = np.repeat(np.arange(g1 - g0) * c, cnt) + rank[lo:hi]  # padded row of each slot
        src = np.full((g1 - g0) * c, b)
        src[pos] = users[lo:hi]
        rows = xz.take(src, axis=0)
        # [x^T A_i^-1, x^T theta_i] for the padded rows of each item of the chunk
        prod = (rows.reshape(g1 - g0, c, p) @ table.take(srt[starts[g0:g1]], axis=0).transpose(0, 2, 1)).reshape(
            -1, p + 1
        )
        mean_sorted[lo:hi] = prod[:, p].take(pos)
        var_sorted[lo:hi] = np.einsum("np,np->n", prod[:, :p], rows).take(pos)
    mean, var = np.empty(s), np.empty(s)
    mean[order] = mean_sorted
    var[order] = var_sorted
    return mean.reshape(b, k), var.reshape(b, k)
