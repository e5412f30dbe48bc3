"""Turn encoder embeddings into the low-dimensional contexts an env shows its agents."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from recbandit._validation import check_int


class PCAContexts:
    """Principal components of item embeddings, applied to items and users alike.

    Fitted on the item catalogue's embeddings only (no rewards, so nothing leaks from the
    ground truth). Components' signs are fixed (largest loading positive, as scikit-learn's
    ``svd_flip``) so the projection does not depend on the LAPACK build. Each output is
    scaled so that its rows have unit mean squared norm.

    Args:
        dim: number of components kept.
    """

    def __init__(self, dim: int) -> None:
        self.dim = check_int("context_dim", dim, min_value=1)
        self.mean_: np.ndarray | None = None
        self.components_: np.ndarray | None = None

    def fit(self, item_embeddings: np.ndarray) -> PCAContexts:
        """Fit on float[n_items, D] item embeddings."""
        x = np.asarray(item_embeddings, dtype=np.float64)
        if x.ndim != 2 or self.dim > min(x.shape):
            raise ValueError(
                f"context_dim must be at most min(n_items, embedding dim) = {min(x.shape)}, got {self.dim}"
            )
        self.mean_ = x.mean(axis=0)
        # One BLAS thread: threaded OpenBLAS on this small SVD is up to 100x slower when
        # other processes share the cores, and never faster.
        with threadpool_limits(limits=1):
            _, _, vt = np.linalg.svd(x - self.mean_, full_matrices=False)
        vt = vt[: self.dim]
        signs = np.sign(vt[np.arange(self.dim), np.abs(vt).argmax(axis=1)])
        self.components_ = vt * signs[:, None]
        return self

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        """float32[N, dim]: projected embeddings, rows scaled to unit mean squared norm."""
        if self.components_ is None or self.mean_ is None:
            raise RuntimeError("PCAContexts.transform called before fit")
        z = (np.asarray(embeddings, dtype=np.float64) - self.mean_) @ self.components_.T
        scale = np.sqrt(np.mean(np.sum(z * z, axis=1)))
        return (z / (scale if scale > 0 else 1.0)).astype(np.float32)
