"""Ridge-regression state for the linear agents: one shared model or one model per item.

Both keep the accumulated design matrix ``A = ridge * I + sum x x^T``, its inverse, the
response vector ``b = sum r x`` and ``theta = A^-1 b``. The inverse is updated exactly:
Sherman–Morrison for one new row; for a batch, the shared model uses Woodbury when the
batch is smaller than the dimension and a fresh inverse of ``A`` otherwise, the
per-item models Sherman–Morrison per occurrence rank (vectorised over items) and a
fresh inverse for an item with many rows in the batch.

Speed. At B=1 (online) a step is a few dozen numpy calls of 0.3-2 µs each, so the
single-row paths use as few calls as they can:

- ``A_inv`` and ``theta`` are always current (act reads them), ``theta`` by the
  recursive least-squares form of Sherman–Morrison, ``theta += k (r - x^T theta)`` with
  gain ``k = A^-1 x / (1 + x^T A^-1 x)``, algebraically equal to ``A^-1 b``;
- ``A`` and ``b`` are only read by the batched updates and by callers, so single rows
  go to a short log that is folded in when either is read or the log is full;
- ``take`` instead of fancy indexing, in-place ufuncs, no ``np.unique`` / ``np.add.at``
  / ``concatenate`` per step.

Batched products are stacked per user, ``(B, K, p) @ (p, p)``, or chunked: small BLAS calls
that stay single-threaded. Batched shared scores with ``features="outer"`` never form the
B x K x p features (see ``SharedRidge.mean_var_outer``).
"""

from __future__ import annotations

import numpy as np

from recbandit.agents._grouped import grouped_mean_var
from recbandit.agents._items import grown as _grown
from recbandit.agents._items import id_bound
from recbandit.agents._items import occurrences as _occurrences

_vecdot = getattr(np, "vecdot", None)  # numpy >= 2.0

#: Single-row updates logged before they are folded into ``A`` and ``b`` (bounds the log).
_LOG_ROWS = 1024

#: Occurrence ranks handled by vectorised passes in batched disjoint updates; an item with
#: more rows in one batch is re-inverted from ``A`` instead.
_PASSES = 4

_OUTER_CHUNK = 16  # users per chunk of SharedRidge.mean_var_outer

#: Floats gathered per chunk of users in ``DisjointRidge.mean_var``: keeps the gathered
#: float64[chunk, K, p + 1, p] models in cache (one gather of all B * K of them is bound by
#: memory bandwidth).
_CHUNK_FLOATS = 1 << 18


def rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products along the last axis of two float64[..., p] arrays: float64[...]."""
    if _vecdot is not None and a.size <= 4096:
        return _vecdot(a, b)  # the cheapest call on small arrays
    return np.einsum("...p,...p->...", a, b)  # the faster loop on large ones


class SharedRidge:
    """One ridge regression over p-dimensional features.

    ``A_inv`` float64[p, p] and ``theta`` float64[p] are views of one float64[p, p + 1]
    table ``[A^-1, theta]``: one product scores a candidate's mean and variance, one
    rank-1 update changes both. ``A`` float64[p, p] and ``b`` float64[p] fold in the
    logged single rows when read.
    """

    def __init__(self, p: int, ridge: float) -> None:
        self.p = p
        self._table = np.zeros((p, p + 1))
        self._table[:, :p] = np.eye(p) / ridge
        self.A_inv = self._table[:, :p]
        self.theta = self._table[:, p]
        self._A = ridge * np.eye(p)
        self._b = np.zeros(p)
        self._log = _RowLog(p)  # single rows not yet in _A, _b
        self._table32: tuple[int, np.ndarray] | None = None  # float32 copy for batched scoring
        self._perm: tuple[int, np.ndarray] | None = None  # A^-1 as [a, (j, d, c)] for mean_var_outer
        self._buf = np.empty((p, p + 1))  # the rank-one update's outer product
        self.version = 0  # bumped on every update (lets samplers cache factorisations)

    @property
    def A(self) -> np.ndarray:
        """float64[p, p], ``ridge * I + sum x x^T``."""
        self._fold()
        return self._A

    @property
    def b(self) -> np.ndarray:
        """float64[p], ``sum r x``."""
        self._fold()
        return self._b

    def _fold(self) -> None:
        """Add the logged single rows to ``A`` and ``b``."""
        if self._log.n:
            _, x, r = self._log.pop()
            self._A += x.T @ x
            self._b += x.T @ r

    def mean_var(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means ``x^T theta`` and variances ``x^T A^-1 x`` of features x float64[B, K, p]; each float64[B, K]."""
        xt = x @ self._table  # [x^T A^-1, x^T theta]
        return xt[..., self.p], rowdot(xt[..., : self.p], x)

    def mean_var_f32(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``mean_var`` in float32 for x float32[B, K, p] (batched scoring).

        The model itself stays float64 (updates are exact); only the scores of a large
        batch are computed from a float32 copy of ``[A^-1, theta]``, refreshed after every
        update, which halves the memory traffic of the (B*K, p) x (p, p + 1) product.
        Scores are then exact to about 1e-7 relative, far below any gap that matters.
        """
        if self._table32 is None or self._table32[0] != self.version:
            self._table32 = (self.version, self._table.astype(np.float32))
        xt = x.reshape(-1, self.p) @ self._table32[1]
        var = rowdot(xt[:, : self.p], x.reshape(-1, self.p)).reshape(x.shape[:2])
        return xt[:, self.p].reshape(x.shape[:2]), var

    def mean_var_outer(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``mean_var(x)`` for the outer-product features ``x = vec(u_b ⊗ v_bk)``, without forming x.

        ``x^T A^-1 x = v^T M_b v`` with ``M_b[j, d] = sum_ac u_a A^-1[(a, j), (c, d)] u_c`` and
        ``x^T theta = v^T w_b`` with ``w_b[j] = sum_a u_a theta[(a, j)]``: per user an n x n
        matrix (p^2 multiply-adds, in chunks of ``_OUTER_CHUNK`` users that stay in cache), so
        a candidate costs n * n instead of p * p = (m * n)^2.

        Args:
            u: float64[B, m], user features.
            v: float64[B, K, n], candidate features (m * n = p).
        """
        b, m = u.shape
        n = v.shape[2]
        if self._perm is None or self._perm[0] != self.version:
            blocks = self.A_inv.reshape(m, n, m, n).transpose(0, 1, 3, 2)  # [a, j, d, c]
            self._perm = (self.version, np.ascontiguousarray(blocks).reshape(m, n * n * m))
        perm, mat = self._perm[1], np.empty((b, n, n))
        for s in range(0, b, _OUTER_CHUNK):
            us = u[s : s + _OUTER_CHUNK]
            rows = (us @ perm).reshape(len(us), n * n, m)  # sum over a
            mat[s : s + _OUTER_CHUNK] = (rows @ us[:, :, None]).reshape(len(us), n, n)  # sum over c
        w = u @ self.theta.reshape(m, n)
        return (v @ w[:, :, None])[..., 0], rowdot(v @ mat, v)

    def update(self, x: np.ndarray, r: np.ndarray) -> None:
        """Add rows x float64[B, p] with responses r float64[B]."""
        n, p = x.shape[0], self.p
        if n == 1:
            v, y = x[0], float(r[0])
            _rank_one(self._table.T, v, y, self._buf.T)
            if self._log.add(0, v, y):
                self._fold()
        else:
            self._fold()
            self._A += x.T @ x
            self._b += x.T @ r
            a_inv: np.ndarray
            if n < p:  # Woodbury: (A + X^T X)^-1 = A^-1 - A^-1 X^T (I + X A^-1 X^T)^-1 X A^-1
                ax = x @ self.A_inv
                a_inv = self.A_inv - ax.T @ np.linalg.solve(np.eye(n) + ax @ x.T, ax)
            else:
                a_inv = np.linalg.inv(self._A)
            self.A_inv[:] = 0.5 * (a_inv + a_inv.T)
            self.theta[:] = self.A_inv @ self._b
        self.version += 1


class DisjointRidge:
    """One ridge regression per item id over p-dimensional features; tables grow on demand.

    Item i's ``A_i^-1`` and ``theta_i`` are the rows of one float64[p + 1, p] block
    ``[A_i^-1; theta_i^T]`` of a table float64[n, p + 1, p] (``n`` = ids covered so far),
    so a candidate's model is one gathered row. ``A_inv`` float64[n, p, p] and ``theta``
    float64[n, p] are views of it (always current); ``A`` float64[n, p, p] and ``b``
    float64[n, p] fold in the logged single rows when read. An id never updated holds
    the prior (``A = ridge * I``, ``theta = 0``).
    """

    def __init__(self, p: int, ridge: float) -> None:
        self.p = p
        self.ridge = ridge
        self._n = 0
        self._table = np.zeros((0, p + 1, p))
        self._A = np.zeros((0, p, p))
        self._b = np.zeros((0, p))
        self._views()
        self._log = _RowLog(p)  # single rows not yet in _A, _b

    def _views(self) -> None:
        self._flat = self._table.reshape(self._n, (self.p + 1) * self.p)
        self.A_inv = self._table[:, : self.p]
        self.theta = self._table[:, self.p]

    @property
    def A(self) -> np.ndarray:
        """float64[n, p, p], each item's ``ridge * I + sum x x^T``."""
        self._fold()
        return self._A

    @property
    def b(self) -> np.ndarray:
        """float64[n, p], each item's ``sum r x``."""
        self._fold()
        return self._b

    def _fold(self) -> None:
        """Add the logged single rows to ``A`` and ``b``."""
        if self._log.n:
            _add_by_item(self._A, self._b, *self._log.pop())

    def ensure(self, ids: np.ndarray) -> None:
        """Grow the tables so every id in ``ids`` indexes a (prior) model (ValueError if one is negative)."""
        top = id_bound(ids)
        if top > self._n:
            self._grow(top)

    def _grow(self, top: int) -> None:
        """Grow the tables (amortised doubling) to cover ids ``[0, top)``."""
        size = max(top, 2 * self._n, 64)
        p, eye = self.p, np.eye(self.p)
        self._table = _grown(self._table, size, np.r_[eye / self.ridge, np.zeros((1, p))])
        self._A = _grown(self._A, size, self.ridge * eye)
        self._b = _grown(self._b, size, 0.0)
        self._n = size
        self._views()

    def mean_var(self, x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means ``x_b^T theta_i`` and variances ``x_b^T A_i^-1 x_b`` of each candidate; each float64[B, K].

        Args:
            x: float64[B, p], one feature row per user.
            ids: int64[B, K], the candidates' item ids (covered by ``ensure``).
        """
        b, k = ids.shape
        p = self.p
        if b == 1:  # online: one gather, two matrix-vector products
            v = x[0]
            xt = (self._flat.take(ids[0], axis=0).reshape(k * (p + 1), p) @ v).reshape(k, p + 1)
            return xt[None, :, p], (xt[:, :p] @ v)[None]
        if b * k >= 2 * self._n:  # items repeat across the batch: read each model once
            return grouped_mean_var(self._table, x, ids, _CHUNK_FLOATS >> 2)
        # Per chunk of users: gather [A_i^-1; theta_i^T] of their candidates, multiply by x
        # -> [A_i^-1 x, theta_i^T x]. Chunks keep the gathered blocks in cache.
        mean, var = np.empty((b, k)), np.empty((b, k))
        step = max(1, _CHUNK_FLOATS // (k * (p + 1) * p))
        for s in range(0, b, step):
            xs = x[s : s + step]
            blocks = self._flat.take(ids[s : s + step], axis=0).reshape(len(xs), k * (p + 1), p)
            xt = (blocks @ xs[:, :, None]).reshape(len(xs), k, p + 1)
            mean[s : s + step] = xt[..., p]
            var[s : s + step] = np.einsum("bkp,bp->bk", xt[..., :p], xs)
        return mean, var

    def update(self, items: np.ndarray, x: np.ndarray, r: np.ndarray) -> None:
        """Add row ``x[j]`` float64[B, p] with response ``r[j]`` to the model of ``items[j]``."""
        if len(items) == 1:
            i, v, y = int(items[0]), x[0], float(r[0])
            if i < 0:
                raise ValueError("item_ids must be non-negative")
            if i >= self._n:
                self._grow(i + 1)
            _rank_one(self._table[i], v, y)
            if self._log.add(i, v, y):
                self._fold()
            return
        self.ensure(items)
        self._fold()
        order, rank, count = _add_by_item(self._A, self._b, items, x, r)
        # Exact inverse updates: Sherman–Morrison once per occurrence rank, vectorised over
        # the (distinct) items of that rank; an item with more rows than _PASSES is
        # re-inverted from A instead.
        items, x, r = items[order], x[order], r[order]
        light = count <= _PASSES
        for j in range(min(int(rank.max()) + 1, _PASSES)):
            sel = light & (rank == j)
            if sel.any():
                ids = items[sel]
                self._table[ids] = _rank_one_many(self._table[ids], x[sel], r[sel])
        if not light.all():
            heavy = items[~light & (rank == 0)]
            a_inv = np.linalg.inv(self._A[heavy])
            a_inv = 0.5 * (a_inv + a_inv.transpose(0, 2, 1))
            self._table[heavy, : self.p] = a_inv
            self._table[heavy, self.p] = (a_inv @ self._b[heavy][:, :, None])[..., 0]


def _rank_one_many(tables: np.ndarray, v: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``_rank_one`` for m independent models: tables float64[m, p + 1, p], rows v float64[m, p], y float64[m]."""
    c = np.einsum("mij,mj->mi", tables, v)  # [A^-1 v; v^T theta] per model
    av = c[:, :-1]
    scale = 1.0 / (1.0 + np.einsum("mi,mi->m", av, v))
    c[:, -1] -= y
    return tables - (c * scale[:, None])[:, :, None] * av[:, None, :]


def _rank_one(table: np.ndarray, v: np.ndarray, y: float, buf: np.ndarray | None = None) -> None:
    """Add one row ``v`` float64[p] with response ``y`` to ``table`` = [A^-1; theta^T] float64[p + 1, p], in place.

    Sherman–Morrison with gain ``k = A^-1 v / (1 + v^T A^-1 v)``: ``A^-1 -= k (A^-1 v)^T``
    and ``theta += k (y - v^T theta)`` (so ``theta`` stays ``A^-1 b``), as one outer product,
    written into ``buf`` (laid out as ``table``) when given: no allocation per update.
    """
    c = table @ v  # [A^-1 v; v^T theta]
    av = c[:-1]
    scale = 1.0 / (1.0 + av @ v)
    c[-1] -= y
    table -= np.multiply.outer(c * scale, av, out=buf)


class _RowLog:
    """Single-row updates not yet added to ``A`` and ``b``: ids int64, rows float64[p], responses float64."""

    def __init__(self, p: int) -> None:
        self.ids = np.zeros(_LOG_ROWS, dtype=np.int64)
        self.x = np.empty((_LOG_ROWS, p))
        self.r = np.empty(_LOG_ROWS)
        self.n = 0

    def add(self, i: int, v: np.ndarray, y: float) -> bool:
        """Log row ``v`` with response ``y`` for model ``i``; True when the log is full."""
        n = self.n
        self.ids[n], self.x[n], self.r[n] = i, v, y
        self.n = n + 1
        return self.n == _LOG_ROWS

    def pop(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The logged (ids int64[m], rows float64[m, p], responses float64[m]), emptying the log."""
        n, self.n = self.n, 0
        return self.ids[:n].copy(), self.x[:n].copy(), self.r[:n].copy()


def _add_by_item(
    a: np.ndarray, b: np.ndarray, items: np.ndarray, x: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``a[i] += x_j x_j^T`` and ``b[i] += r_j x_j`` for every row j of item ``i = items[j]`` (ids may repeat).

    One fancy-index add per occurrence rank (ids distinct within a rank) for the first
    ``_PASSES`` ranks, ``np.add.at`` for the rare rows beyond. Returns ``_occurrences(items)``.
    """
    order, rank, count = _occurrences(items)
    items, x = items[order], x[order]
    outer, rx = x[:, :, None] * x[:, None, :], r[order, None] * x
    for j in range(min(int(rank.max()) + 1, _PASSES)):
        sel = rank == j
        a[items[sel]] += outer[sel]
        b[items[sel]] += rx[sel]
    rest = rank >= _PASSES
    if rest.any():
        np.add.at(a, items[rest], outer[rest])
        np.add.at(b, items[rest], rx[rest])
    return order, rank, count
