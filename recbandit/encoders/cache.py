"""On-disk embedding cache: vectors keyed by (model fingerprint, settings, text hash).

Layout (one folder per settings key, shards inside)::

    <root>/
      <settings key>/                  16 hex digits of SHA-256 over the settings (below)
        settings.json                  the settings that produced the key (for people; never read back)
        shard-<id>.npy                 float32[n, d], written with np.save(allow_pickle=False)
        shard-<id>.json                its manifest: rows, dim, dtype, SHA-256 of the array bytes,
                                       and the n text hashes in row order

The *settings* are everything that changes a vector: the model fingerprint (a hash of the
weight files' bytes, the config and the tokenizer files; see ``recbandit.encoders.text``),
the mode (``"frozen"``, or a fine-tuning mode) and the adapter hash a fine-tuned encoder
provides, the pooling, ``max_length``, ``normalize`` and the compute dtype. The *text
hash* is BLAKE2b-128 of the UTF-8 text.

One encode call writes at most one shard holding the texts it had to compute (its
misses), so 60k texts encoded in one call are one ``.npy`` plus one manifest, not 60k
files. Many small calls leave many small shards; :meth:`EmbeddingCache.compact` merges a
settings folder into one shard.

Writes are atomic (temporary file in the same folder, then ``os.replace``), the array
first and the manifest last: a shard without a manifest is invisible, so a run killed
mid-write leaves the cache consistent. Shard ids are derived from their content, so two
processes that compute the same texts write the same shard name and either copy wins.

Reads are checked: a manifest that does not parse or lacks a field, an ``.npy`` that does
not load (truncated), has the wrong dtype or shape, or whose bytes do not match the
manifest's SHA-256 is reported with ``warnings.warn`` naming the file, deleted, and its
texts are recomputed; a corrupt file is never used.

Nothing is pickled: arrays are ``.npy`` loaded with ``allow_pickle=False``, manifests are JSON.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._io import atomic_write_bytes

CACHE_FORMAT = 1
_SHARD_PREFIX = "shard-"
_MANIFEST_FIELDS = ("format", "rows", "dim", "dtype", "sha256", "keys")


def text_key(text: str) -> str:
    """The cache key of one text: BLAKE2b-128 hex digest of its UTF-8 bytes."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def settings_key(settings: Mapping[str, Any]) -> str:
    """16-hex digest of a settings mapping (canonical JSON, sorted keys)."""
    blob = json.dumps({"format": CACHE_FORMAT, **settings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """Where embeddings are cached when no folder is given.

    ``$RECBANDIT_CACHE`` if set, else ``<user cache folder>/recbandit/embeddings`` (the user
    cache folder is ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux; see
    ``recbandit.data.fetch.cache_dir``).
    """
    env = os.environ.get("RECBANDIT_CACHE")
    if env:
        return Path(env).expanduser()
    from recbandit.data.fetch import cache_dir

    return cache_dir() / "embeddings"


def _array_sha256(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


@dataclass
class _Shard:
    name: str
    keys: list[str]
    dim: int
    sha256: str
    array: np.ndarray | None = None  # loaded and verified lazily


@dataclass
class _Folder:
    """What is known about one settings folder: its shards and which shard holds each text."""

    path: Path
    shards: dict[str, _Shard] = field(default_factory=dict)
    where: dict[str, tuple[str, int]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # manifest file names already read (valid or not)


class EmbeddingCache:
    """Float32 embeddings on disk, keyed by settings and text.

    Args:
        root: cache folder; ``None`` uses :func:`default_cache_dir` (``$RECBANDIT_CACHE``, else
            ``<user cache>/recbandit/embeddings``).

    Attributes:
        root: the cache folder.
        hits: texts served from the cache since construction (or :meth:`reset_stats`).
        misses: texts looked up and not found.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self._folders: dict[str, _Folder] = {}

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.root)!r}, hits={self.hits}, misses={self.misses})"

    # ------------------------------------------------------------------ statistics

    @property
    def hit_rate(self) -> float | None:
        """``hits / (hits + misses)``, ``None`` before the first look-up."""
        total = self.hits + self.misses
        return None if total == 0 else self.hits / total

    def reset_stats(self) -> None:
        """Zero the hit and miss counters."""
        self.hits = self.misses = 0

    # ------------------------------------------------------------------ look-up and store

    def get(self, settings: Mapping[str, Any], keys: Sequence[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Look up texts by key.

        Args:
            settings: the encoder's settings (see the module docstring).
            keys: ``n`` text keys (:func:`text_key`).
            dim: vector length ``d``.

        Returns:
            ``(vectors, found)``: float32[n, d] (rows of texts not found are zero) and bool[n].
        """
        folder = self._folder(settings)
        self._refresh(folder)
        out = np.zeros((len(keys), dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        # Group rows by shard, so each shard is loaded (and verified) once.
        wanted: dict[str, list[tuple[int, int]]] = {}
        for i, key in enumerate(keys):
            loc = folder.where.get(key)
            if loc is not None:
                wanted.setdefault(loc[0], []).append((i, loc[1]))
        for name, pairs in wanted.items():
            arr = self._load(folder, name, dim)
            if arr is None:
                continue
            idx = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
            rows = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
            out[idx] = arr[rows]
            found[idx] = True
        n_hit = int(found.sum())
        self.hits += n_hit
        self.misses += len(keys) - n_hit
        return out, found

    def put(self, settings: Mapping[str, Any], keys: Sequence[str], vectors: np.ndarray) -> Path | None:
        """Store vectors as one new shard.

        Args:
            settings: the encoder's settings.
            keys: ``n`` distinct text keys.
            vectors: float32[n, d].

        Returns:
            The shard's ``.npy`` path, or ``None`` when there was nothing to store or the write
            failed (a failed write is reported with a warning; the cache stays consistent).
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(keys):
            raise ValueError(f"vectors must be float32[{len(keys)}, d], got shape {vectors.shape}")
        if len(set(keys)) != len(keys):
            raise ValueError("keys must be distinct")
        if len(keys) == 0:
            return None
        folder = self._folder(settings)
        name = _SHARD_PREFIX + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        npy = folder.path / f"{name}.npy"
        manifest = folder.path / f"{name}.json"
        digest = _array_sha256(vectors)
        try:
            settings_file = folder.path / "settings.json"
            if not settings_file.exists():
                doc = {"format": CACHE_FORMAT, "key": folder.path.name, "settings": dict(settings)}
                atomic_write_bytes(settings_file, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
            buf = io.BytesIO()
            np.save(buf, vectors, allow_pickle=False)
            atomic_write_bytes(npy, buf.getvalue())
            doc = {
                "format": CACHE_FORMAT,
                "rows": int(vectors.shape[0]),
                "dim": int(vectors.shape[1]),
                "dtype": "float32",
                "sha256": digest,
                "keys": list(keys),
            }
            # The manifest goes last: until it exists, the shard is invisible to readers.
            atomic_write_bytes(manifest, json.dumps(doc, separators=(",", ":")).encode())
        except OSError as exc:
            warnings.warn(f"{npy}: could not write embedding cache shard ({exc}); continuing without it", stacklevel=2)
            return None
        shard = _Shard(name, list(keys), int(vectors.shape[1]), digest, vectors.copy())
        self._register(folder, shard, manifest.name)
        return npy

    # ------------------------------------------------------------------ maintenance

    def compact(self, settings: Mapping[str, Any]) -> Path | None:
        """Merge every valid shard of a settings folder into one; return its path (``None`` if empty).

        Corrupt shards met on the way are reported, deleted and left out.
        """
        folder = self._folder(settings)
        self._refresh(folder)
        if len(folder.shards) <= 1:
            return None if not folder.shards else folder.path / f"{next(iter(folder.shards))}.npy"
        keys: list[str] = []
        parts: list[np.ndarray] = []
        for name in sorted(folder.shards):
            shard = folder.shards[name]
            arr = self._load(folder, name, shard.dim)
            if arr is None:
                continue
            rows = [r for r, k in enumerate(shard.keys) if folder.where.get(k) == (name, r)]
            keys.extend(shard.keys[r] for r in rows)
            parts.append(arr[rows])
        old = set(folder.shards)
        path = self.put(settings, keys, np.concatenate(parts)) if keys else None
        if path is not None:
            for name in old - {path.stem}:
                self._drop(folder, name, delete=True)
        return path

    def clear(self) -> None:
        """Delete every cached shard under ``root`` (the folder itself is kept)."""
        if self.root.is_dir():
            for sub in self.root.iterdir():
                if sub.is_dir():
                    for f in sub.iterdir():
                        if f.name.startswith(_SHARD_PREFIX) or f.name == "settings.json":
                            f.unlink(missing_ok=True)
        self._folders.clear()

    def files(self) -> list[Path]:
        """Every file under ``root`` (sorted), for inspection and tests."""
        return sorted(p for p in self.root.rglob("*") if p.is_file()) if self.root.is_dir() else []

    # ------------------------------------------------------------------ internals

    def _folder(self, settings: Mapping[str, Any]) -> _Folder:
        key = settings_key(settings)
        folder = self._folders.get(key)
        if folder is None:
            folder = self._folders[key] = _Folder(self.root / key)
        return folder

    def _refresh(self, folder: _Folder) -> None:
        """Read manifests written since the last look (by this or another process)."""
        if not folder.path.is_dir():
            return
        for entry in sorted(os.listdir(folder.path)):
            if not (entry.startswith(_SHARD_PREFIX) and entry.endswith(".json")) or entry in folder.seen:
                continue
            path = folder.path / entry
            shard = self._read_manifest(path)
            if shard is None:
                folder.seen.add(entry)
                continue
            self._register(folder, shard, entry)

    def _register(self, folder: _Folder, shard: _Shard, manifest_name: str) -> None:
        folder.seen.add(manifest_name)
        folder.shards[shard.name] = shard
        for row, key in enumerate(shard.keys):
            folder.where[key] = (shard.name, row)

    def _read_manifest(self, path: Path) -> _Shard | None:
        try:
            doc = json.loads(path.read_bytes())
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            missing = [f for f in _MANIFEST_FIELDS if f not in doc]
            if missing:
                raise ValueError(f"missing fields {missing}")
            if doc["format"] != CACHE_FORMAT:
                raise ValueError(f"format {doc['format']!r}, expected {CACHE_FORMAT}")
            if doc["dtype"] != "float32":
                raise ValueError(f"dtype {doc['dtype']!r}, expected 'float32'")
            keys = doc["keys"]
            if not isinstance(keys, list) or len(keys) != doc["rows"] or not all(isinstance(k, str) for k in keys):
                raise ValueError(f"{len(keys) if isinstance(keys, list) else keys!r} keys for {doc['rows']} rows")
            if not isinstance(doc["dim"], int) or doc["dim"] < 1 or not isinstance(doc["sha256"], str):
                raise ValueError("bad dim or sha256")
        except (OSError, ValueError, TypeError) as exc:
            self._corrupt(path, f"unreadable cache index ({exc})")
            return None
        return _Shard(path.stem, keys, doc["dim"], doc["sha256"])

    def _load(self, folder: _Folder, name: str, dim: int) -> np.ndarray | None:
        """The verified array of a shard, or None (after a warning) if it is corrupt."""
        shard = folder.shards.get(name)
        if shard is None:
            return None
        if shard.array is not None:
            return shard.array
        path = folder.path / f"{name}.npy"
        expected = (len(shard.keys), shard.dim)
        try:
            arr = np.load(path, allow_pickle=False)
            if arr.dtype != np.float32:
                raise ValueError(f"dtype {arr.dtype}, expected float32")
            if arr.shape != expected or shard.dim != dim:
                raise ValueError(f"shape {arr.shape}, expected {(len(shard.keys), dim)}")
            if _array_sha256(arr) != shard.sha256:
                raise ValueError("checksum mismatch (the array bytes differ from the ones written)")
        except (OSError, ValueError, EOFError) as exc:
            self._corrupt(path, f"corrupt cache file ({exc})")
            self._drop(folder, name, delete=True)
            return None
        shard.array = arr
        return arr

    def _drop(self, folder: _Folder, name: str, *, delete: bool) -> None:
        shard = folder.shards.pop(name, None)
        if delete:
            for suffix in (".npy", ".json"):
                (folder.path / f"{name}{suffix}").unlink(missing_ok=True)
        if shard is None:
            return
        stale = {k for k, (s, _) in folder.where.items() if s == name}
        for key in stale:
            del folder.where[key]
        # A text may also sit in another (valid) shard: point it there.
        for other in folder.shards.values():
            for row, key in enumerate(other.keys):
                if key in stale and key not in folder.where:
                    folder.where[key] = (other.name, row)

    @staticmethod
    def _corrupt(path: Path, reason: str) -> None:
        warnings.warn(f"{path}: {reason}; deleted, its embeddings will be recomputed", stacklevel=4)
        stem = path.with_suffix("")
        for suffix in (".npy", ".json"):
            Path(f"{stem}{suffix}").unlink(missing_ok=True)
