"""File helpers: atomic writes (result records, benchmark outputs, the embedding cache) and file hashes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A reader (or a run interrupted at any point) sees either the old file or the whole new
    one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_FILE_HASHES: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: Path | str) -> str:
    """SHA-256 (hex) of a file's bytes, memoised per process by (real path, size, mtime, inode)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    memo_key = (real, st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _FILE_HASHES.get(memo_key)
    if digest is None:
        h = hashlib.sha256()
        with open(real, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 23), b""):
                h.update(block)
        digest = _FILE_HASHES[memo_key] = h.hexdigest()
    return digest
