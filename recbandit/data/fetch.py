"""Verified downloads of the public datasets, and where loading by name looks for them.

``fetch(name, dir)`` downloads the publisher's archive to a temporary file in ``dir``,
checks its size and SHA-256 against the pinned values, unpacks it into a temporary
folder in ``dir`` and moves the dataset folder into place with one ``os.replace``. A
download that is cut, corrupt or interrupted (Ctrl-C) raises and leaves ``dir`` as it
was: no dataset folder, no temporary file.

Pinned archives (``DATASETS``; each entry says where its checksum was found):

- ``movielens-100k``, ``movielens-latest-small``, ``movielens-25m``: the GroupLens zips at
  files.grouplens.org. SHA-256 and sizes as pinned by TensorFlow Datasets
  (``tensorflow_datasets/url_checksums/movielens.txt``) and, independently, by other
  public projects (listed per entry). GroupLens itself publishes MD5 files
  (``ml-100k.zip.md5`` = 0e33842e24a9c977be4e0107933c0723, ``ml-25m.zip.md5`` =
  6b51fb2759a8657d3bfcbfc42b592ada); they are kept as a second check.
- ``obd-sample``: the small-sized sample of the Open Bandit Dataset as ZOZO ships it in
  the source distribution of their Open Bandit Pipeline on PyPI (``obp-0.5.7.tar.gz``,
  folder ``obp/dataset/obd``; the folder the ``obp.dataset.OpenBanditDataset`` loader
  reads by default). PyPI file URLs are immutable and PyPI publishes each file's SHA-256.
  The full dataset (research.zozo.com, ~11 GB) is not fetched by name.

Loading by name (``find_dataset``) looks, in order, at: the name as a path, then
``$RECBANDIT_DATA/<name>``, then the user cache folder ``<cache>/recbandit/<name>``
(``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
``%LOCALAPPDATA%`` on Windows). ``fetch`` writes to ``$RECBANDIT_DATA`` when it is set,
else to the cache folder, unless given a folder.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from recbandit.data.logged import DataError

USER_AGENT = "recbandit-data-fetch/0.1 (+https://pypi.org/project/recbandit)"
PROVENANCE = ".recbandit-source.json"


class FetchError(ValueError):
    """A download that could not be completed or verified; nothing was installed."""


@dataclass(frozen=True)
class Source:
    """One downloadable dataset archive.

    Attributes:
        url: the publisher's URL of the archive (.zip or .tar.gz).
        member: the folder inside the archive that becomes ``<dir>/<name>``.
        sha256: pinned SHA-256 of the archive, or None (then ``fetch`` needs ``sha256=``).
        size: pinned size in bytes, or None.
        md5: the publisher's own MD5, a second check where they publish one.
        checksum_from: where the pinned checksum was found.
        description: one line on what the dataset is.
        extra_files: (path in the archive, name in the dataset folder) copied alongside,
            e.g. a licence that lives outside ``member``.
    """

    url: str
    member: str
    sha256: str | None
    size: int | None
    md5: str | None = None
    checksum_from: str = ""
    description: str = ""
    extra_files: tuple[tuple[str, str], ...] = ()


DATASETS: dict[str, Source] = {
    "movielens-100k": Source(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        member="ml-100k",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        size=4_924_029,
        md5="0e33842e24a9c977be4e0107933c0723",
        checksum_from="tensorflow/datasets tensorflow_datasets/url_checksums/movielens.txt (SHA-256, size); "
        "GroupLens ml-100k.zip.md5 (MD5)",
        description="MovieLens 100K (GroupLens, 1998): 100,000 ratings, 943 users, 1,682 movies",
    ),
    "movielens-latest-small": Source(
        url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        member="ml-latest-small",
        sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        size=978_202,
        checksum_from="tensorflow/datasets tensorflow_datasets/url_checksums/movielens.txt; also pinned by "
        "ISG-Siegen/OmniRec src/omnirec/data_loaders/movielens_large.py and JuliaML DataDeps GroupLens module",
        description="MovieLens latest-small (GroupLens, 2018-09): 100,836 ratings, 610 users, 9,742 movies",
    ),
    "movielens-25m": Source(
        url="https://files.grouplens.org/datasets/movielens/ml-25m.zip",
        member="ml-25m",
        sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        size=261_978_986,
        md5="6b51fb2759a8657d3bfcbfc42b592ada",
        checksum_from="tensorflow/datasets tensorflow_datasets/url_checksums/movielens.txt; also pinned by "
        "ISG-Siegen/OmniRec movielens_large.py and ankane/disco-cli src/download.rs; GroupLens ml-25m.zip.md5 (MD5)",
        description="MovieLens 25M (GroupLens, 2019): 25,000,095 ratings, 162,541 users, 62,423 movies",
    ),
    "obd-sample": Source(
        url="https://files.pythonhosted.org/packages/5c/c8/"
        "3b511884a171091638d00a4255f11a635f33e0600094c255ec820f7a052f/obp-0.5.7.tar.gz",
        member="obp-0.5.7/obp/dataset/obd",
        sha256="3060d67fedfcfadf1e7a6f2608987f74412b5eb74d2c567edeb147595c68f2a0",
        size=1_306_068,
        checksum_from="PyPI's published SHA-256 of obp-0.5.7.tar.gz (checked with pip --require-hashes)",
        description="Open Bandit Dataset small-sized sample (ZOZO, 2019): random/bts x all/men/women, "
        "10,000 rows each, as shipped in Open Bandit Pipeline 0.5.7",
        extra_files=(("obp-0.5.7/LICENSE", "LICENSE-obp-package-Apache-2.0.txt"),),
    ),
}


# --------------------------------------------------------------------------- where data lives


def cache_dir() -> Path:
    """The user cache folder for datasets: ``<platform cache>/recbandit``."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "recbandit"


def default_dir() -> Path:
    """Where ``fetch`` writes by default: ``$RECBANDIT_DATA`` if set, else :func:`cache_dir`."""
    env = os.environ.get("RECBANDIT_DATA")
    return Path(env) if env else cache_dir()


def search_dirs() -> list[Path]:
    """The folders searched for a dataset by name, in order."""
    env = os.environ.get("RECBANDIT_DATA")
    return ([Path(env)] if env else []) + [cache_dir()]


class DatasetNotFoundError(DataError):
    """A dataset is in none of the places searched (the message lists them and how to get it)."""


def find_dataset(name_or_path: str | os.PathLike[str]) -> Path:
    """The folder of a dataset given as a path or a name.

    An existing path wins; otherwise ``name`` is looked up as ``$RECBANDIT_DATA/<name>``,
    then ``<cache>/recbandit/<name>``.

    Raises:
        DatasetNotFoundError: not found anywhere; the message lists the places tried and,
            for a known name, the ``recbandit data fetch`` command that gets it.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = str(name_or_path)
    tried = [str(path)]
    if "/" not in name and os.sep not in name:
        for base in search_dirs():
            candidate = base / name
            if candidate.exists():
                return candidate
            tried.append(str(candidate))
    hint = (
        f"; run `recbandit data fetch {name}` to download it"
        if name in DATASETS
        else f"; known dataset names: {', '.join(DATASETS)}"
    )
    if "RECBANDIT_DATA" not in os.environ and name in DATASETS:
        hint += " (or set RECBANDIT_DATA to the folder that holds it)"
    raise DatasetNotFoundError(name, f"no such file or folder (tried {', '.join(tried)}){hint}")


def find_data_folder(path: str | os.PathLike[str] | None, name: str) -> Path:
    """The folder of dataset ``name`` for an env: ``path`` if given, else ``find_dataset(name)``.

    Library code searches only ``$RECBANDIT_DATA`` and the user cache (never a folder
    relative to a checkout); tests and benchmarks point ``RECBANDIT_DATA`` at their copies.

    Raises:
        DatasetNotFoundError: an explicit ``path`` that does not exist, or ``name`` found
            nowhere; the message lists the places tried and the command that downloads it.
    """
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.exists():
            raise DatasetNotFoundError(folder, f"no such folder (the {name} data given as path=)")
        return folder.resolve()
    try:
        return find_dataset(name).resolve()
    except DatasetNotFoundError as exc:
        raise DatasetNotFoundError(name, f"{str(exc).split(': ', 1)[1]}; or pass path= to the env") from None


# --------------------------------------------------------------------------- fetch


def fetch(
    name: str,
    dir: str | os.PathLike[str] | None = None,
    *,
    sha256: str | None = None,
    force: bool = False,
    timeout: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download, verify and unpack dataset ``name`` into ``<dir>/<name>``; return that folder.

    Args:
        name: a key of :data:`DATASETS`.
        dir: the folder to install into (default :func:`default_dir`); created if needed.
        sha256: expected SHA-256 of the archive, replacing the pinned one (for an entry
            without a pinned checksum, or a re-published archive you have checked).
        force: replace an existing ``<dir>/<name>`` (atomically: the old folder is moved
            aside, the new one moved in, then the old one deleted).
        timeout: seconds without data before the download fails.
        progress: called as ``progress(bytes_so_far, total_or_None)`` while downloading.

    Returns:
        ``<dir>/<name>``. If it already exists and ``force`` is False, nothing is downloaded.

    Raises:
        FetchError: unknown name, no checksum, network error, cut download, size or
            checksum mismatch, bad archive. ``dir`` is left without the dataset and
            without temporary files.
    """
    if name not in DATASETS:
        raise FetchError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    src = DATASETS[name]
    expected = (sha256 or src.sha256 or "").strip().lower()
    if not expected:
        raise FetchError(
            f"{name}: no pinned SHA-256 for {src.url}; check the archive yourself and pass --sha256 (sha256=)"
        )
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise FetchError(f"sha256 must be 64 hexadecimal digits, got {expected!r}")
    root = Path(dir).expanduser() if dir is not None else default_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    if target.exists() and not force:
        return target

    part = unpack = old = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=root)
        part = Path(tmp)
        with os.fdopen(fd, "wb") as fh:
            digest, md5 = _download(src.url, fh, timeout=timeout, expected_size=src.size, progress=progress)
        if digest != expected:
            raise FetchError(
                f"{name}: SHA-256 of the download from {src.url} is {digest}, expected {expected} "
                "(corrupt download or changed archive); nothing was installed"
            )
        if sha256 is None and src.md5 and md5 != src.md5:
            raise FetchError(f"{name}: MD5 {md5} differs from the publisher's {src.md5}; nothing was installed")
        unpack = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".unpack", dir=root))
        folder = _unpack(part, unpack, src)
        (folder / PROVENANCE).write_text(
            json.dumps(
                {
                    "name": name,
                    "url": src.url,
                    "sha256": digest,
                    "member": src.member,
                    "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
                indent=1,
            )
            + "\n"
        )
        if target.exists():  # force: move the old copy aside, the new one in; put the old one back on failure
            old = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=root))
            os.replace(target, old / name)
            try:
                os.replace(folder, target)
            except BaseException:
                os.replace(old / name, target)
                raise
        else:
            os.replace(folder, target)
        return target
    finally:
        for p in (part, unpack, old):
            if p is None:
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _download(
    url: str,
    fh: object,
    *,
    timeout: float,
    expected_size: int | None,
    progress: Callable[[int, int | None], None] | None,
) -> tuple[str, str]:
    """Stream ``url`` into ``fh``; return (sha256, md5) hex digests. Cut or short downloads raise."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    got = 0
    total: int | None = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else expected_size
            if expected_size is not None and length and length.isdigit() and int(length) != expected_size:
                raise FetchError(
                    f"{url} announces {int(length):,} bytes, the pinned archive has {expected_size:,}; "
                    "nothing was installed"
                )
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                fh.write(chunk)  # type: ignore[attr-defined]
                sha.update(chunk)
                md5.update(chunk)
                got += len(chunk)
                if progress is not None:
                    progress(got, total)
                if expected_size is not None and got > expected_size:
                    raise FetchError(f"{url} sent more than the pinned {expected_size:,} bytes; nothing was installed")
    except http.client.IncompleteRead as exc:
        got += len(exc.partial)
        of = f"{total:,}" if total is not None else "?"
        raise FetchError(
            f"download of {url} was cut after {got:,} of {of} bytes (connection closed early); nothing was installed"
        ) from None
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}; nothing was installed") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot download {url}: {reason}; nothing was installed") from None
    if total is not None and got != total:
        raise FetchError(
            f"download of {url} stopped after {got:,} of {total:,} bytes (connection closed early); "
            "nothing was installed"
        )
    return sha.hexdigest(), md5.hexdigest()


def _safe_parts(name: str) -> bool:
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and not (p.parts and ":" in p.parts[0])


def _unpack(archive: Path, into: Path, src: Source) -> Path:
    """Extract ``src.member`` (and ``src.extra_files``) of ``archive`` under ``into``; return the member folder."""
    prefix = src.member.rstrip("/") + "/"
    extras = dict(src.extra_files)
    try:
        if src.url.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if n.startswith(prefix) or n in extras]
                if any(not _safe_parts(n) for n in names):
                    raise FetchError(f"{src.url}: the archive has a path outside its folder; nothing was installed")
                zf.extractall(into, members=names)
        else:
            with tarfile.open(archive, mode="r:*") as tf:
                members = [m for m in tf.getmembers() if m.name.startswith(prefix) or m.name in extras]
                tf.extractall(into, members=members, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise FetchError(f"{src.url}: cannot unpack the archive ({exc}); nothing was installed") from None
    folder = into / src.member
    if not folder.is_dir():
        raise FetchError(f"{src.url}: the archive has no folder {src.member!r}; nothing was installed")
    for inside, name in src.extra_files:
        if (into / inside).is_file():
            os.replace(into / inside, folder / name)
    return folder
