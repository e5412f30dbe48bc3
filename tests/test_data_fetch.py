"""Verified downloads: archives built here, served from 127.0.0.1; nothing comes from the internet.

Every failure (wrong checksum, a connection cut mid-body, a bad archive, Ctrl-C) must leave
the target folder exactly as it was: no dataset folder, no temporary file.
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recbandit.data import fetch as fetch_mod
from recbandit.data.detect import load
from recbandit.data.fetch import DATASETS, FetchError, Source, fetch, find_dataset

MOVIES = 'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,"Heat, The (1995)",Action\n'
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,2,3.5,964981247\n2,1,5.0,964983000\n"


def ml_zip(top: str = "ml-latest-small", ratings: str = RATINGS, extra: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}/movies.csv", MOVIES)
        zf.writestr(f"{top}/ratings.csv", ratings)
        zf.writestr(f"{top}/README.txt", "tiny fixture\n")
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return buf.getvalue()


def obd_tar() -> bytes:
    buf = io.BytesIO()
    files = {
        "obp-0.5.7/obp/dataset/obd/random/all/all.csv": ",timestamp,item_id,position,click,propensity_score\n",
        "obp-0.5.7/obp/dataset/obd/random/all/item_context.csv": ",item_id,item_feature_0\n",
        "obp-0.5.7/LICENSE": "Apache License 2.0\n",
        "obp-0.5.7/setup.py": "print('not extracted')\n",
    }
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Server:
    """A local HTTP server: ``routes[path] = (body, mode)``; mode "ok", "cut" (half the body, then close) or "404"."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.hits: dict[str, int] = {}
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits[self.path] = hits.get(self.path, 0) + 1
                body, mode = routes.get(self.path, (b"", "404"))
                if mode == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                else:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, mode: str = "ok") -> str:
        self.routes[path] = (body, mode)
        return self.url + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def pin(monkeypatch: pytest.MonkeyPatch, name: str, url: str, body: bytes, **kw: object) -> None:
    """Point DATASETS[name] at ``url`` with the checksum and size of ``body``."""
    fields = {"member": "ml-latest-small", "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    fields.update(kw)
    monkeypatch.setitem(DATASETS, name, Source(url=url, **fields))  # type: ignore[arg-type]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_download_unpacks_and_loads(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    body = ml_zip()
    pin(monkeypatch, "movielens-latest-small", server.add("/ml-latest-small.zip", body), body)
    seen = []
    path = fetch("movielens-latest-small", tmp_path / "data", progress=lambda got, total: seen.append((got, total)))
    assert path == tmp_path / "data" / "movielens-latest-small"
    assert listing(tmp_path / "data") == ["movielens-latest-small"]  # no temp files
    assert listing(path) == [".recbandit-source.json", "README.txt", "movies.csv", "ratings.csv"]
    assert seen[-1] == (len(body), len(body))
    d = load(path)
    assert len(d.interactions) == 3 and d.name == "movielens-latest-small"
    # a second call finds it and downloads nothing
    assert fetch("movielens-latest-small", tmp_path / "data") == path
    assert server.hits["/ml-latest-small.zip"] == 1


def test_wrong_checksum_leaves_nothing(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good, corrupt = ml_zip(), bytearray(ml_zip())
    corrupt[len(corrupt) // 2] ^= 0xFF
    pin(monkeypatch, "movielens-latest-small", server.add("/c.zip", bytes(corrupt)), good)
    with pytest.raises(
        FetchError, match=r"SHA-256 of the download .* is [0-9a-f]{64}, expected .*nothing was installed"
    ):
        fetch("movielens-latest-small", tmp_path / "data")
    assert listing(tmp_path / "data") == []


def test_connection_cut_midway_leaves_nothing(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    body = ml_zip(ratings=RATINGS * 2000)
    pin(monkeypatch, "movielens-latest-small", server.add("/cut.zip", body, mode="cut"), body)
    with pytest.raises(FetchError, match=rf"(cut|stopped) after [\d,]+ of {len(body):,} bytes .*closed early"):
        fetch("movielens-latest-small", tmp_path / "data")
    assert listing(tmp_path / "data") == []


def test_http_error_and_size_mismatch(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pin(monkeypatch, "movielens-100k", server.url + "/missing.zip", b"x")
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch("movielens-100k", tmp_path)
    body = ml_zip()
    pin(monkeypatch, "movielens-100k", server.add("/m.zip", body), body, size=len(body) + 1)
    with pytest.raises(FetchError, match=f"announces {len(body):,} bytes, the pinned archive has {len(body) + 1:,}"):
        fetch("movielens-100k", tmp_path)
    assert listing(tmp_path) == []


def test_interrupt_leaves_nothing(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    body = ml_zip(ratings=RATINGS * 50_000)
    pin(monkeypatch, "movielens-latest-small", server.add("/big.zip", body), body)

    def ctrl_c(got: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch("movielens-latest-small", tmp_path, progress=ctrl_c)
    assert listing(tmp_path) == []


def test_bad_archive_and_unsafe_paths(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    junk = b"not a zip at all"
    pin(monkeypatch, "movielens-latest-small", server.add("/junk.zip", junk), junk)
    with pytest.raises(FetchError, match="cannot unpack the archive"):
        fetch("movielens-latest-small", tmp_path)
    evil = ml_zip(extra={"ml-latest-small/../../evil.txt": "x"})
    pin(monkeypatch, "movielens-latest-small", server.add("/evil.zip", evil), evil)
    with pytest.raises(FetchError, match="path outside its folder"):
        fetch("movielens-latest-small", tmp_path)
    other = ml_zip(top="ml-other")
    pin(monkeypatch, "movielens-latest-small", server.add("/other.zip", other), other)
    with pytest.raises(FetchError, match="has no folder 'ml-latest-small'"):
        fetch("movielens-latest-small", tmp_path)
    assert listing(tmp_path) == [] and not (tmp_path.parent / "evil.txt").exists()


def test_force_replaces_and_tar_gz_extra_files(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    body = obd_tar()
    url = server.add("/obp-0.5.7.tar.gz", body)
    pin(
        monkeypatch,
        "obd-sample",
        url,
        body,
        member="obp-0.5.7/obp/dataset/obd",
        extra_files=(("obp-0.5.7/LICENSE", "LICENSE-obp-package-Apache-2.0.txt"),),
    )
    old = tmp_path / "obd-sample"
    old.mkdir()
    (old / "stale.txt").write_text("old copy")
    assert fetch("obd-sample", tmp_path) == old and (old / "stale.txt").exists()  # present: untouched
    path = fetch("obd-sample", tmp_path, force=True)
    assert listing(path) == [".recbandit-source.json", "LICENSE-obp-package-Apache-2.0.txt", "random"]
    assert (path / "random" / "all" / "item_context.csv").is_file()
    assert listing(tmp_path) == ["obd-sample"]


def test_entry_without_checksum_needs_one(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    body = ml_zip()
    pin(monkeypatch, "movielens-latest-small", server.add("/n.zip", body), body, sha256=None)
    with pytest.raises(FetchError, match="no pinned SHA-256 .*pass --sha256"):
        fetch("movielens-latest-small", tmp_path)
    with pytest.raises(FetchError, match="64 hexadecimal digits"):
        fetch("movielens-latest-small", tmp_path, sha256="abc")
    path = fetch("movielens-latest-small", tmp_path, sha256=hashlib.sha256(body).hexdigest().upper())
    assert (path / "ratings.csv").is_file()
    with pytest.raises(FetchError, match="unknown dataset 'ml-1b'"):
        fetch("ml-1b", tmp_path)


def test_lookup_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env, cache = tmp_path / "env", tmp_path / "xdg"
    for base in (env, cache / "recbandit"):
        (base / "movielens-100k").mkdir(parents=True)
    monkeypatch.setattr(fetch_mod.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("RECBANDIT_DATA", str(env))
    assert find_dataset("movielens-100k") == env / "movielens-100k"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "movielens-100k").mkdir()
    assert find_dataset("movielens-100k") == Path("movielens-100k")  # an existing path wins
    monkeypatch.chdir(env.parent.parent)
    monkeypatch.delenv("RECBANDIT_DATA")
    assert find_dataset("movielens-100k") == cache / "recbandit" / "movielens-100k"
    assert fetch_mod.default_dir() == cache / "recbandit"
    with pytest.raises(Exception, match=r"run `recbandit data fetch movielens-25m`"):
        find_dataset("movielens-25m")


def test_pinned_table() -> None:
    assert set(DATASETS) == {"movielens-100k", "movielens-latest-small", "movielens-25m", "obd-sample"}
    for name, src in DATASETS.items():
        assert re.fullmatch(
            r"https://(files\.grouplens\.org/datasets/movielens|files\.pythonhosted\.org/packages)/.+", src.url
        ), name
        assert src.sha256 is not None and re.fullmatch(r"[0-9a-f]{64}", src.sha256), name
        assert src.size and src.checksum_from, name
