"""Ridge-regression state for the linear agents: one shared model or one model per item.

The shared model keeps the accumulated design matrix ``A = ridge * I + sum x x^T``, its
inverse, the response vector ``b = sum r x`` and ``theta = A^-1 b``; the per-item models
keep only ``A^-1`` and ``theta`` (what scoring and updating read; ``A`` and ``b`` are
derived from them when asked for). The inverse is updated exactly:
Sherman–Morrison for one new row; for a batch, the shared model uses Woodbury when the
batch is smaller than the dimension and a fresh inverse of ``A`` otherwise, the
per-item models Sherman–Morrison row by row in a compiled loop (``_kernels``).

Speed. At B=1 (online) a step is a few dozen numpy calls of 0.3-2 µs each, so the
shared model's single-row path uses as few calls as it can:

- ``A_inv`` and ``theta`` are always current (act reads them), ``theta`` by the
  recursive least-squares form of Sherman–Morrison, ``theta += k (r - x^T theta)`` with
  gain ``k = A^-1 x / (1 + x^T A^-1 x)``, algebraically equal to ``A^-1 b``;
- ``A`` and ``b`` are only read by the batched updates and by callers, so single rows
  go to a short log that is folded in when either is read or the log is full;
- ``take`` instead of fancy indexing, in-place ufuncs, no ``np.unique`` / ``np.add.at``
  / ``concatenate`` per step.

Batched shared products are ``(B * K, p) @ (p, p + 1)`` or chunked: small BLAS calls
that stay single-threaded; with ``features="outer"`` they never form the B x K x p
features (see ``SharedRidge.mean_var_outer``). The per-item models' scores are compiled
loops (``_kernels``).
"""

from __future__ import annotations

import numpy as np

from recbandit.agents._items import grown as _grown
from recbandit.agents._kernels import (
    packed_prior,
    packed_scores,
    packed_size,
    rank_one_updates,
    unpack_inverses,
)

_vecdot = getattr(np, "vecdot", None)  # numpy >= 2.0

#: Single-row updates logged before they are folded into ``A`` and ``b`` (bounds the log).
_LOG_ROWS = 1024

_OUTER_CHUNK = 16  # users per chunk of SharedRidge.mean_var_outer


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
            x, r = self._log.pop()
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
            if self._log.add(v, y):
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

    Item i's model is one packed row ``[upper(A_i^-1), theta_i]`` of a table float64[n,
    p (p + 1) / 2 + p] (``n`` = ids covered so far; see ``recbandit.agents._kernels``),
    updated in place by compiled loops, which also keep a float32 copy that the scores
    read (half the memory traffic; scores exact to ~1e-7 relative, far below any gap that
    matters, while the model itself stays float64). ``A_inv`` float64[n, p, p] and ``theta``
    float64[n, p] are read from it; ``A`` float64[n, p, p] and ``b`` float64[n, p] (the
    design matrices and response vectors, which neither scoring nor updating needs) are
    computed from them when read. An id never updated holds the prior (``A = ridge * I``,
    ``theta = 0``).
    """

    def __init__(self, p: int, ridge: float) -> None:
        self.p = p
        self.ridge = ridge
        self._n = 0
        self._prior = packed_prior(p, ridge)
        self._packed = np.zeros((0, packed_size(p)))
        self._packed32 = np.zeros((0, packed_size(p)), dtype=np.float32)  # what the scores read

    @property
    def A_inv(self) -> np.ndarray:
        """float64[n, p, p], each item's ``A^-1`` (a copy)."""
        return unpack_inverses(self._packed, self.p)

    @property
    def theta(self) -> np.ndarray:
        """float64[n, p], each item's ``A^-1 b`` (a view: current until the table grows)."""
        return self._packed[:, packed_size(self.p) - self.p :]

    @property
    def A(self) -> np.ndarray:
        """float64[n, p, p], each item's ``ridge * I + sum x x^T``: the inverse of ``A_inv``, symmetrised."""
        a = np.linalg.inv(self.A_inv)
        return 0.5 * (a + a.transpose(0, 2, 1))

    @property
    def b(self) -> np.ndarray:
        """float64[n, p], each item's ``sum r x``: ``A theta``."""
        return (self.A @ self.theta[..., None])[..., 0]

    def _grow(self, top: int) -> None:
        """Grow the tables (amortised doubling) to cover ids ``[0, top)``."""
        size = max(top, 2 * self._n, 64)
        self._packed = _grown(self._packed, size, self._prior)
        self._packed32 = self._packed.astype(np.float32)
        self._n = size

    def _covered(self, status: int) -> None:
        """Act on a kernel's ``id_status``: grow the tables to cover ``status`` ids (ValueError if -1)."""
        if status < 0:
            raise ValueError("item_ids must be non-negative")
        self._grow(status)

    def mean_var(self, x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means ``x_b^T theta_i`` and variances ``x_b^T A_i^-1 x_b`` of each candidate; each float64[B, K].

        Args:
            x: float64[B, p], one feature row per user.
            ids: int64[B, K], the candidates' item ids (new ids get prior models).
        """
        return self._scores(x, ids, 0.0, _NO_ACTIONS)

    def ucb_argmax(self, x: np.ndarray, ids: np.ndarray, alpha: float) -> np.ndarray:
        """``ucb_argmax(*self.mean_var(x, ids), alpha)`` in one pass: actions int64[B]."""
        actions = np.empty(len(ids), dtype=np.int64)
        self._scores(x, ids, alpha, actions)
        return actions

    def _scores(
        self, x: np.ndarray, ids: np.ndarray, alpha: float, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        mean, var = np.empty(ids.shape), np.empty(ids.shape)
        x, ids = _c64(x), _c64(ids, np.int64)
        status = packed_scores(self._packed32, x, ids, mean, var, alpha, actions)
        if status:
            self._covered(status)
            packed_scores(self._packed32, x, ids, mean, var, alpha, actions)
        return mean, var

    def update(self, items: np.ndarray, x: np.ndarray, r: np.ndarray) -> None:
        """Add row ``x[j]`` float64[B, p] with response ``r[j]`` to the model of ``items[j]``.

        Rows of one item are added in order, each by an exact Sherman–Morrison step.
        """
        rows = (_c64(items, np.int64), _c64(x), _c64(r))
        status = rank_one_updates(self._packed, self._packed32, *rows)
        if status:
            self._covered(status)
            rank_one_updates(self._packed, self._packed32, *rows)


def _c64(a: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """``a`` as a C-contiguous ``dtype`` array (no copy when it already is one): what the kernels take."""
    return np.ascontiguousarray(a, dtype=dtype)


_NO_ACTIONS = np.empty(0, dtype=np.int64)  # ``packed_scores`` without a UCB choice


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
    """Single-row updates of a ``SharedRidge`` not yet added to ``A`` and ``b``: rows float64[p], responses float64."""

    def __init__(self, p: int) -> None:
        self.x = np.empty((_LOG_ROWS, p))
        self.r = np.empty(_LOG_ROWS)
        self.n = 0

    def add(self, v: np.ndarray, y: float) -> bool:
        """Log row ``v`` with response ``y``; True when the log is full."""
        n = self.n
        self.x[n], self.r[n] = v, y
        self.n = n + 1
        return self.n == _LOG_ROWS

    def pop(self) -> tuple[np.ndarray, np.ndarray]:
        """The logged (rows float64[m, p], responses float64[m]), emptying the log."""
        n, self.n = self.n, 0
        return self.x[:n].copy(), self.r[:n].copy()
