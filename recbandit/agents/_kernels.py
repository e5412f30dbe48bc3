"""Compiled (numba) loops of the per-item ridge models: candidate scores and Sherman–Morrison updates.

Why compiled: a disjoint agent scores each candidate slot with its own item's model. In
numpy that means gathering one ``(p + 1) x p`` block per slot (B = 1024, K = 50, p = 16:
111 MB copied per batch) or sorting the slots by item and padding; either costs an order
of magnitude more than the arithmetic (``p (p + 1) / 2 + p`` multiply-adds per slot). A
loop that reads each slot's model where it lies does the arithmetic alone.

Layout. Item i's model is one packed row ``[upper(A_i^-1), theta_i]`` of
``P + p = p (p + 1) / 2 + p`` floats (the upper triangle row by row, so ``A^-1`` is
symmetric by construction). ``x^T A^-1 x`` is the dot product of the packed triangle with
``w = (x_r x_c, doubled off the diagonal)``, formed once per user: half the products of
the full form. Updates run on float64 rows and rewrite a float32 copy of each row they
change; the scores read the copy (608 bytes per candidate at p = 16, and a 1,000-item
table fits in a core's L2 cache) and multiply in float64, so a score carries the copy's
rounding, ~1e-7 relative. Measured on the throughput problem (p = 16, K = 50, 1,000
items, B = 1024): the float32 copy makes the scores ~30% faster than float64 rows.

Floating point: ``fastmath`` allows reassociation and fused multiply-add only (no
assumptions about NaN or infinity), so sums may be ordered differently from numpy's,
within a few ulps; a given machine reproduces them bit for bit. One code path serves
every batch size, so the same rows give the same bits at B = 1 and batched.
"""

from __future__ import annotations

import numba
import numpy as np

#: Compiled loop options: no GIL, cached on disk, no bounds checks (ids are checked first),
#: reassociation and fused multiply-add allowed (no NaN or infinity assumptions).
_fast = numba.njit(nogil=True, cache=True, boundscheck=False, fastmath={"reassoc", "contract"})


def packed_size(p: int) -> int:
    """Floats in a packed model row: ``p (p + 1) / 2`` (upper triangle of ``A^-1``) + ``p`` (``theta``)."""
    return p * (p + 1) // 2 + p


def packed_prior(p: int, ridge: float) -> np.ndarray:
    """The packed row float64[P + p] of a model with no data: ``A^-1 = I / ridge``, ``theta = 0``."""
    row = np.zeros(packed_size(p))
    diag = np.cumsum(np.r_[0, np.arange(p, 1, -1)])  # position of (r, r) in the packed triangle
    row[diag] = 1.0 / ridge
    return row


def unpack_inverses(packed: np.ndarray, p: int) -> np.ndarray:
    """``A_i^-1`` float64[n, p, p] of packed rows float64[n, P + p]."""
    rows, cols = np.triu_indices(p)
    out = np.empty((len(packed), p, p))
    out[:, rows, cols] = packed[:, : len(rows)]
    out[:, cols, rows] = packed[:, : len(rows)]
    return out


@numba.njit(nogil=True, cache=True)
def id_status(ids: np.ndarray, n: int) -> int:  # pragma: no cover (compiled)
    """0 if every id of int64 ``ids`` (any shape) is in ``[0, n)``; -1 if one is negative; else ``1 + max(ids)``."""
    top = -1
    for i in ids.flat:
        if i < 0:
            return -1
        top = max(top, i)
    return top + 1 if top >= n else 0


@numba.njit(nogil=True, cache=True)
def _ucb(m: float, v: float, alpha: float) -> float:  # pragma: no cover (compiled)
    """``m + alpha * sqrt(max(v, 0))``, rounded as ``recbandit.agents._linear.ucb_argmax`` does (no fastmath)."""
    return m + alpha * np.sqrt(max(v, 0.0))


@numba.njit(nogil=True, cache=True)
def _argmax(u: np.ndarray) -> int:  # pragma: no cover (compiled)
    """The ``argmax`` of float64[K] as numpy's: the first maximum, or the first NaN if there is one."""
    arg, best = 0, u[0]
    if best != best:
        return 0
    for k in range(1, u.shape[0]):
        if u[k] != u[k]:
            return k
        if u[k] > best:
            arg, best = k, u[k]
    return arg


@_fast
def packed_scores(
    packed: np.ndarray,
    x: np.ndarray,
    ids: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    alpha: float,
    actions: np.ndarray,
) -> int:  # pragma: no cover (compiled)
    """``mean[b, k] = x_b^T theta_i``, ``var[b, k] = x_b^T A_i^-1 x_b`` for ``i = ids[b, k]``.

    With ``actions`` of length B also the UCB choice: ``actions[b]`` = the first argmax over
    k of ``mean + alpha * sqrt(max(var, 0))`` (numpy's ``argmax``: a NaN wins).

    Args:
        packed: float32 or float64[n, P + p] packed models (the products are float64).
        x: float64[B, p] C-contiguous feature rows, one per user.
        ids: int64[B, K] item ids.
        mean: float64[B, K] output, the means.
        var: float64[B, K] output, the variances.
        alpha: width of the confidence bound (used with ``actions``).
        actions: int64[B] output, or int64[0] for none.

    Returns:
        ``id_status(ids, n)``; the outputs are written only when it is 0.
    """
    status = id_status(ids, packed.shape[0])
    if status != 0:
        return status
    b_size, k_size = ids.shape
    p = x.shape[1]
    tri = p * (p + 1) // 2
    w = np.empty(tri)
    ucb = np.empty(k_size)
    choose = actions.shape[0] == b_size
    for b in range(b_size):
        q = 0
        for r in range(p):
            xr = x[b, r]
            w[q] = xr * xr
            q += 1
            for c in range(r + 1, p):
                w[q] = 2.0 * xr * x[b, c]
                q += 1
        for k in range(k_size):
            row = packed[ids[b, k]]
            v = 0.0
            for q in range(tri):
                v += row[q] * w[q]
            m = 0.0
            for c in range(p):
                m += row[tri + c] * x[b, c]
            mean[b, k] = m
            var[b, k] = v
        if choose:
            for k in range(k_size):
                ucb[k] = _ucb(mean[b, k], var[b, k], alpha)
            actions[b] = _argmax(ucb)
    return 0


@_fast
def rank_one_updates(
    packed: np.ndarray, packed32: np.ndarray, items: np.ndarray, x: np.ndarray, r: np.ndarray
) -> int:  # pragma: no cover (compiled)
    """Add row ``x[j]`` with response ``r[j]`` to the packed model of ``items[j]``, for j in order.

    Sherman–Morrison with gain ``k = A^-1 v / (1 + v^T A^-1 v)``: ``A^-1 -= k (A^-1 v)^T``
    (upper triangle) and ``theta += k (r - v^T theta)`` (recursive least squares, so
    ``theta = A^-1 b``). Rows of one item are applied one after another, as if online.

    Args:
        packed: float64[n, P + p] packed models, updated in place.
        packed32: float32[n, P + p], the float32 copy of ``packed``: each updated row is rewritten.
        items: int64[m] item ids.
        x: float64[m, p] rows.
        r: float64[m] responses.

    Returns:
        ``id_status(items, n)``; nothing is changed unless it is 0.
    """
    status = id_status(items, packed.shape[0])
    if status != 0:
        return status
    p = x.shape[1]
    tri = p * (p + 1) // 2
    c = np.empty(p)
    for j in range(items.shape[0]):
        row = packed[items[j]]
        v = x[j]
        c[:] = 0.0
        q = 0
        for a in range(p):  # c = A^-1 v: row a of the triangle holds A^-1[a, a:] = A^-1[a:, a]
            acc = 0.0
            for t in range(p - a):
                acc += row[q + t] * v[a + t]
            va = v[a]
            for t in range(1, p - a):
                c[a + t] += row[q + t] * va
            c[a] += acc
            q += p - a
        s = 1.0
        fit = 0.0
        for a in range(p):
            s += c[a] * v[a]
            fit += row[tri + a] * v[a]
        scale = 1.0 / s
        q = 0
        for a in range(p):
            f = c[a] * scale
            for t in range(p - a):
                row[q + t] -= f * c[a + t]
            q += p - a
        gain = (r[j] - fit) * scale
        for a in range(p):
            row[tri + a] += c[a] * gain
        copy = packed32[items[j]]
        for q in range(tri + p):
            copy[q] = row[q]
    return 0
