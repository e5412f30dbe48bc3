"""Turn texts into the low-dimensional contexts an env shows its agents, and account for the cost.

``resolve_encoder`` accepts what an env's ``encoder=`` argument may be (an ``Encoder``, a
spec string such as ``"minilm"`` or ``"bow:512"``, or ``None`` for the env's default);
``ContextEncoding`` runs the encode calls that build an env's contexts and sums their
``ComputeRecord`` s into the ``cost["encode"]`` of every result record; ``PCAContexts``
reduces embeddings to the contexts' dimension.

Encode cost and the embedding cache. A transformer encoder with a cache runs the model
once for a set of texts; every later build reads the vectors from disk and its own cost
is a cache read (0 FLOPs). So that results still show what the contexts cost to compute,
a build that computed every vector writes its ``ComputeRecord`` next to the cache
(``<cache root>/costs/<digest of encoder name and texts>.json``), and a build served
wholly from the cache reports that record as ``computed`` beside its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from recbandit._io import atomic_write_bytes
from recbandit._validation import check_int
from recbandit.encoders.accounting import ComputeMeter, ComputeRecord
from recbandit.encoders.base import Encoder
from recbandit.encoders.cache import text_key


def resolve_encoder(encoder: Encoder | str | None, default: str) -> tuple[Encoder, str | None]:
    """The encoder an env argument names, and its canonical spec.

    Args:
        encoder: an ``Encoder`` (used as is; its spec is ``None``), a spec string (see
            ``recbandit.encoders.registry``) or ``None`` (the env's ``default`` spec).
        default: the env's default spec.

    Raises:
        ValueError: an unknown spec (the message lists the known encoders) or an object
            without ``encode``/``dim``/``name``.
    """
    from recbandit.encoders.registry import canonical_spec, make_encoder

    if encoder is None:
        encoder = default
    if isinstance(encoder, str):
        spec = canonical_spec(encoder)
        return make_encoder(spec), spec
    if not isinstance(encoder, Encoder):
        raise ValueError(
            f"encoder must be an Encoder (encode, dim, name) or a spec string, got {type(encoder).__name__}"
        )
    return encoder, None


class ContextEncoding:
    """Runs the encode calls that build an env's contexts and sums their cost.

    Args:
        encoder: the encoder.
        spec: its canonical spec (``None`` for an encoder object given directly).

    Attributes:
        own: sum of the records of this build's calls (cache reads included).
        computed: sum of the records of the builds that computed the vectors (this one's
            for calls that computed everything; the stored record for calls served wholly
            from the cache); ``None`` when some call's computation is unknown (a partial
            cache hit, or no stored record).
    """

    def __init__(self, encoder: Encoder, spec: str | None = None) -> None:
        self.encoder = encoder
        self.spec = spec
        self.own = ComputeRecord(what="encode", calls=0)
        self.computed: ComputeRecord | None = ComputeRecord(what="encode", calls=0)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``N`` texts: float32[N, dim], their cost added to ``own`` and ``computed``."""
        texts = list(texts)
        before = getattr(self.encoder, "last_cost", None)
        with ComputeMeter("encode", "cpu") as meter:
            out = self.encoder.encode(texts)
            meter.count(items=len(texts))
        record = getattr(self.encoder, "last_cost", None)
        if not isinstance(record, ComputeRecord) or record is before:
            record = meter.record  # an encoder that keeps no accounts: wall time and memory only
        assert record is not None
        self.own = self.own.merge(record)
        computed = record if record.cache_hits == 0 else None
        ledger = self._ledger_path(texts)
        if ledger is not None:
            if record.cache_hits == 0 and record.items > 0:
                _write_ledger(ledger, record)
            elif record.cache_misses == 0:
                computed = _read_ledger(ledger)
        self.computed = None if self.computed is None or computed is None else self.computed.merge(computed)
        return out

    def _ledger_path(self, texts: list[str]) -> Path | None:
        root = getattr(getattr(self.encoder, "cache", None), "root", None)
        if root is None:
            return None
        h = hashlib.sha256(self.encoder.name.encode())
        for text in texts:
            h.update(text_key(text).encode())
        return Path(root) / "costs" / f"{h.hexdigest()[:24]}.json"

    def to_dict(self) -> dict[str, Any]:
        """``cost["encode"]``: this build's record, the encoder's name and spec, and ``computed``.

        ``computed`` is there only when the build read from the embedding cache: the cost
        of computing those vectors (``None`` when unknown). Without it the build's own
        record is the cost of computing the contexts.
        """
        out = self.own.to_dict()
        if self.own.cache_hits > 0:
            out["computed"] = None if self.computed is None else self.computed.to_dict()
        out["encoder"] = self.encoder.name
        out["spec"] = self.spec
        return out


def _write_ledger(path: Path, record: ComputeRecord) -> None:
    try:
        atomic_write_bytes(path, json.dumps(record.to_dict(), sort_keys=True).encode())
    except OSError:
        pass  # the ledger only adds information; a read-only cache folder is not an error


def _read_ledger(path: Path) -> ComputeRecord | None:
    try:
        doc = json.loads(path.read_bytes())
        return ComputeRecord(**{f.name: doc[f.name] for f in fields(ComputeRecord)})
    except (OSError, ValueError, KeyError, TypeError):
        return None


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


def feature_block(x: np.ndarray) -> np.ndarray:
    """float32[n, c]: columns standardised (constant columns become 0), scaled by ``1/sqrt(c)``.

    Rows then have a mean squared norm of about 1, like an L2-normalised text embedding,
    so a block of side features and an embedding can be concatenated on one scale.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] == 0:
        return np.zeros((arr.shape[0], 0), np.float32)
    std = arr.std(axis=0)
    z = np.where(std > 0, (arr - arr.mean(axis=0)) / np.where(std > 0, std, 1.0), 0.0)
    return (z / np.sqrt(arr.shape[1])).astype(np.float32)


def logged_round_contexts(context: np.ndarray, context_dim: int, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """float32[n, d]: logged per-round contexts as every logged-data consumer sees them.

    Standardised (``feature_block``), then projected on the first ``context_dim`` principal
    components (at most the block's width) fitted on the rows ``fit_rows`` (int or bool
    index; None: all rows): the training rows for the OBD env, the same rows for replay.

    Args:
        context: float[n, c] the log's ``interactions.context``.
        context_dim: dimension of the projection.
        fit_rows: the rows the principal components are fitted on.
    """
    block = feature_block(context)
    fit = block if fit_rows is None else block[fit_rows]
    return PCAContexts(min(context_dim, *block.shape)).fit(fit).transform(block)


def logged_item_contexts(item_raw: np.ndarray, context_dim: int) -> np.ndarray:
    """float32[K, d]: item feature blocks (and text vectors) projected on ``context_dim`` principal components."""
    return PCAContexts(min(context_dim, *item_raw.shape)).fit(item_raw).transform(item_raw)
