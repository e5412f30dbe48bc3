"""Hybrid ridge state (Li et al. 2010, Alg. 2): a shared coefficient plus one model per item id.

The model of a candidate item ``a`` is ``r = z^T beta + x^T theta_a + noise``, with shared
features z (float64[p]) and per-item features x (float64[d]). Alg. 2 keeps

- ``A0 = ridge * I + sum z z^T - sum_a B_a^T A_a^-1 B_a`` and ``b0 = sum r z - sum_a B_a^T A_a^-1 b_a``
  (the precision and response of beta with every theta_a profiled out), ``beta = A0^-1 b0``;
- per item: ``A_a = ridge * I + sum x x^T``, ``B_a = sum x z^T`` (float64[d, p]),
  ``b_a = sum r x`` over the rows of item a; ``theta_a = A_a^-1 (b_a - B_a beta)``.

With ``C_a = A_a^-1 B_a`` and ``y = z - C_a^T x`` the paper's mean and variance become

    mean = z^T beta + x^T theta_a = y^T beta + x^T A_a^-1 b_a
    s    = z^T A0^-1 z - 2 z^T A0^-1 B_a^T A_a^-1 x + x^T A_a^-1 x + x^T A_a^-1 B_a A0^-1 B_a^T A_a^-1 x
         = y^T A0^-1 y + x^T A_a^-1 x,

and Alg. 2's update of (A0, b0) for one row of item a (add ``B_a^T A_a^-1 B_a``, update the
item, add ``z z^T`` minus the new ``B_a^T A_a^-1 B_a``) equals the rank-one update
``A0 += y y^T / c``, ``b0 += y (r - x^T A_a^-1 b_a) / c`` with ``c = 1 + x^T A_a^-1 x``, y and c
taken before the item's update: the shared part is a ``SharedRidge`` over the rows
``y / sqrt(c)`` with responses ``(r - x^T A_a^-1 b_a) / sqrt(c)``. The item's part is
recursive least squares with the vector response ``(z, r)``: with gain
``k = A_a^-1 x / c``, ``A_a^-1 -= k x^T A_a^-1``, ``C_a += k y^T`` and
``A_a^-1 b_a += k (r - x^T A_a^-1 b_a)``. So every update is exact (no approximation) and
costs O(p^2 + d p) instead of Alg. 2's O(d p^2).

A batch is folded in exactly: its rows are grouped by occurrence rank of their item (an
item's first row in the batch, its second, ...); within a rank the items are distinct, so
their contributions to (A0, b0) add up (``SharedRidge.update`` with all of them at once:
Woodbury or a fresh inverse) and the per-item updates are one vectorised rank-one step.
The result equals Alg. 2 applied row by row, in any order (the statistics are sums). A
batch in which some item occurs m times costs m passes.
"""

from __future__ import annotations

import math

import numpy as np

from recbandit.agents._items import grown as _grown
from recbandit.agents._items import id_bound
from recbandit.agents._items import occurrences as _occurrences
from recbandit.agents._ridge import SharedRidge

#: Floats gathered per chunk of users in ``HybridRidge.parts`` (keeps the gathered
#: per-item blocks in cache).
_CHUNK_FLOATS = 1 << 18


class HybridRidge:
    """Alg. 2's state: ``shared`` (A0, b0, A0^-1, beta) and per-item tables grown on demand.

    Item a's ``A_a^-1``, ``C_a^T = (A_a^-1 B_a)^T`` and ``(A_a^-1 b_a)^T`` are the rows of one
    float64[d + p + 1, d] block of ``table`` float64[n, d + p + 1, d] (``n`` = ids covered so
    far), so a candidate's per-item model is one gathered block. ``A_items`` float64[n, d, d]
    holds the exact sums ``A_a``; ``B_items`` and ``b_items`` are derived from them on read.
    An id never updated holds the prior (``A_a = ridge * I``, ``B_a = 0``, ``b_a = 0``): its
    per-item part adds 0 to the mean and ``x^T x / ridge`` to the variance.
    """

    def __init__(self, p: int, d: int, ridge: float) -> None:
        self.p, self.d, self.ridge = p, d, ridge
        self.shared = SharedRidge(p, ridge)
        self._n = 0
        self.table = np.zeros((0, d + p + 1, d))
        self.A_items = np.zeros((0, d, d))

    # ------------------------------------------------------------------ the paper's quantities

    @property
    def A0(self) -> np.ndarray:
        """float64[p, p], Alg. 2's ``A0``."""
        return self.shared.A

    @property
    def b0(self) -> np.ndarray:
        """float64[p], Alg. 2's ``b0``."""
        return self.shared.b

    @property
    def beta(self) -> np.ndarray:
        """float64[p], ``A0^-1 b0``."""
        return self.shared.theta

    @property
    def B_items(self) -> np.ndarray:
        """float64[n, d, p], each item's ``B_a = sum x z^T`` (``A_a C_a``)."""
        return self.A_items @ self.table[:, self.d : self.d + self.p].transpose(0, 2, 1)

    @property
    def b_items(self) -> np.ndarray:
        """float64[n, d], each item's ``b_a = sum r x`` (``A_a A_a^-1 b_a``)."""
        return (self.A_items @ self.table[:, -1, :, None])[..., 0]

    @property
    def theta_items(self) -> np.ndarray:
        """float64[n, d], each item's ``theta_a = A_a^-1 (b_a - B_a beta)``."""
        c = self.table[:, self.d : self.d + self.p]  # C_a^T, [n, p, d]
        return self.table[:, -1] - np.einsum("npd,p->nd", c, self.beta)

    # ------------------------------------------------------------------ scoring

    def ensure(self, ids: np.ndarray) -> None:
        """Grow the tables (amortised doubling) so every id in ``ids`` indexes a (prior) model."""
        top = id_bound(ids)
        if top > self._n:
            size = max(top, 2 * self._n, 64)
            d, eye = self.d, np.eye(self.d)
            self.table = _grown(self.table, size, np.r_[eye / self.ridge, np.zeros((self.p + 1, d))])
            self.A_items = _grown(self.A_items, size, self.ridge * eye)
            self._n = size

    def parts(self, z: np.ndarray, x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``y = z - C_a^T x`` float64[B, K, p], ``x^T A_a^-1 b_a`` and ``x^T A_a^-1 x`` (each float64[B, K]).

        Args:
            z: float64[B, K, p], shared features of every candidate.
            x: float64[B, d], per-item features (one row per user, the same for its candidates).
            ids: int64[B, K], the candidates' item ids (covered by ``ensure``).
        """
        b, k = ids.shape
        d, p = self.d, self.p
        flat = self.table.reshape(self._n, (d + p + 1) * d)
        if b == 1:  # online: one gather, two matrix-vector products
            v = x[0]
            g1 = (flat.take(ids[0], axis=0).reshape(k * (d + p + 1), d) @ v).reshape(k, d + p + 1)
            return z - g1[None, :, d : d + p], g1[None, :, -1], (g1[:, :d] @ v)[None]
        y, xb, xax = np.empty((b, k, p)), np.empty((b, k)), np.empty((b, k))
        step = max(1, _CHUNK_FLOATS // (k * (d + p + 1) * d))
        for s in range(0, b, step):  # chunks of users keep the gathered blocks in cache
            xs = x[s : s + step]
            blocks = flat.take(ids[s : s + step], axis=0).reshape(len(xs), k * (d + p + 1), d)
            g = (blocks @ xs[:, :, None]).reshape(len(xs), k, d + p + 1)  # [A^-1 x; C^T x; x^T A^-1 b]
            np.subtract(z[s : s + step], g[..., d : d + p], out=y[s : s + step])
            xb[s : s + step] = g[..., -1]
            xax[s : s + step] = np.einsum("bkd,bd->bk", g[..., :d], xs)
        return y, xb, xax

    def mean_var(self, z: np.ndarray, x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Alg. 2's mean ``z^T beta + x^T theta_a`` and variance ``s`` of each candidate; each float64[B, K].

        Arguments as ``parts``.
        """
        y, xb, xax = self.parts(z, x, ids)
        mean, var = self.shared.mean_var(y)
        mean += xb
        var += xax
        return mean, var

    # ------------------------------------------------------------------ learning

    def update(self, items: np.ndarray, x: np.ndarray, z: np.ndarray, r: np.ndarray) -> None:
        """Add rows (per-item x float64[B, d], shared z float64[B, p], response r float64[B]) to items int64[B]."""
        self.ensure(items)
        if len(items) == 1:  # online: the same steps on one block, without gathers or einsum
            d, p, i, v = self.d, self.p, int(items[0]), x[0]
            block = self.table[i]
            g = block @ v
            ax = g[:d]
            c = 1.0 + float(ax @ v)
            y = z[0] - g[d : d + p]
            resid = float(r[0]) - g[-1]
            root = math.sqrt(c)
            self.shared.update((y / root)[None], np.array([resid / root]))
            g[d : d + p] = -y
            g[-1] = -resid
            block -= np.multiply.outer(g / c, ax)
            self.A_items[i] += np.multiply.outer(v, v)
            return
        order, rank, _ = _occurrences(items)
        items, x, z, r = items[order], x[order], z[order], r[order]
        for j in range(int(rank.max()) + 1):  # within a rank the items are distinct
            sel = rank == j
            self._update_distinct(items[sel], x[sel], z[sel], r[sel])

    def _update_distinct(self, items: np.ndarray, x: np.ndarray, z: np.ndarray, r: np.ndarray) -> None:
        """``update`` for rows of distinct items (exact, see the module docstring)."""
        d, p = self.d, self.p
        blocks = self.table[items]  # [m, d + p + 1, d]
        g = np.einsum("mjd,md->mj", blocks, x)  # [A^-1 x; C^T x; x^T A^-1 b]
        ax = g[:, :d]
        c = 1.0 + np.einsum("md,md->m", ax, x)
        y = z - g[:, d : d + p]
        resid = r - g[:, -1]
        root = np.sqrt(c)
        self.shared.update(y / root[:, None], resid / root)
        # per item: recursive least squares with response (z, r), gain A^-1 x / c
        g[:, d : d + p] = -y  # C^T x - z
        g[:, -1] = -resid  # x^T A^-1 b - r
        self.table[items] = blocks - (g / c[:, None])[:, :, None] * ax[:, None, :]
        self.A_items[items] += x[:, :, None] * x[:, None, :]
