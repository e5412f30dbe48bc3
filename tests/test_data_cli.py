"""``recbandit data info`` and ``recbandit data fetch``, called in-process through ``main``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recbandit.cli import main
from recbandit.data.fetch import DATASETS, Source

SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
ML100K = SHARED / "ml-100k"
MOVIES = 'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,"Heat, The (1995)",Action\n'
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,2,3.5,964981247\n2,1,5.0,964983000\n"

# 90 columns, each data line over 600 characters: the field count must come from the whole line.
LONG_RATINGS = "".join(
    start + ",".join(rest) + "\n"
    for start, rest in (
        ("userId,movieId,rating,timestamp,", [f"extra_{j}" for j in range(86)]),
        ("1,1,4.0,964982703,", ["1234567"] * 86),
        ("2,1,x,964982703,", ["1234567"] * 86),
    )
)


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def write_ml_csv(folder: Path, ratings: str = RATINGS, movies: str = MOVIES) -> Path:
    folder.mkdir(parents=True)
    (folder / "movies.csv").write_text(movies)
    (folder / "ratings.csv").write_text(ratings)
    return folder


@pytest.mark.realdata
@pytest.mark.skipif(not (ML100K / "u.data").is_file(), reason=f"real MovieLens 100K not found at {ML100K}")
def test_info_ml100k() -> None:
    code, out, err = call(["data", "info", str(ML100K)])
    assert code == 0, err
    assert "interactions  100,000" in out
    assert "users         943 (943 with interactions), with profile text" in out
    assert "items         1,682 (1,682 rated)" in out
    assert "user features 24: age, gender (one-hot, 2), occupation (one-hot, 21)\n" in out
    assert "item features 19: unknown, Action, Adventure," in out and "... (7 more)" in out
    assert "1997-09-20" in out and "1998-04-22" in out
    assert "1: 6,110 (6.1%)" in out and "5: 21,201 (21.2%)" in out
    assert "propensities  no" in out


def test_info_csv_plain_and_json(tmp_path: Path) -> None:
    code, out, err = call(["data", "info", str(write_ml_csv(tmp_path / "ml-latest-small"))])
    assert code == 0, err
    assert "format        movielens-csv" in out and "2000-07-30" in out and "3.5: 1 (33.3%)" in out
    assert "users         2 (2 with interactions)\n" in out and "items         2 (2 rated)\n" in out
    assert "user features none\n" in out and "item features 3: Action, Animation, Comedy\n" in out
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "items.csv").write_text("item,text,price,color=red,color=blue\na,A,1,1,0\nb,B,2,0,1\nc,C,3,0,1\n")
    (plain / "users.csv").write_text("user,text,age\nu,,30\nv,,40\n")
    (plain / "interactions.csv").write_text(
        "user,item,reward,timestamp,propensity,position\nu,a,1,2019-11-24T00:00:00Z,0.5,1\nu,b,0,2019-11-25,0.25,2\n"
    )
    code, out, err = call(["data", "info", str(plain)])
    assert code == 0, err
    assert "reward        binary" in out and "propensities  yes (min 0.25, max 0.5)" in out
    assert "positions     yes (2 slots)" in out and "2019-11-24 00:00:00 .. 2019-11-25 00:00:00 UTC" in out
    assert "users         2 (1 with interactions)\n" in out and "items         3 (2 with interactions)\n" in out
    assert "user features 1: age\n" in out and "item features 3: price, color (one-hot, 2)\n" in out
    code, out, err = call(["data", "info", "--json", str(plain)])
    info = json.loads(out)
    assert info["interactions"] == 2 and info["has_propensity"] is True and info["reward_kind"] == "binary"
    assert (info["users_with_interactions"], info["items_with_interactions"]) == (1, 2)
    assert info["user_features"] == ["age"] and info["item_features"] == ["price", "color=red", "color=blue"]


def test_info_by_name_from_recbandit_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ml_csv(tmp_path / "movielens-latest-small")
    monkeypatch.setenv("RECBANDIT_DATA", str(tmp_path))
    code, out, err = call(["data", "info", "movielens-latest-small"])
    assert code == 0, err
    assert "interactions  3" in out


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (
            lambda p: write_ml_csv(p / "m", RATINGS + "3,1,x,964983001\n"),
            r"ratings\.csv line 5: rating 'x' is not a number",
        ),
        (
            lambda p: write_ml_csv(p / "m", RATINGS + "3,9,4.0,964983001\n"),
            r"ratings\.csv line 5: movieId 9 is not in movies",
        ),
        (lambda p: p, r"no known log format here"),
        (lambda p: p / "absent", r"no such file or folder"),
        # Issue 10: each names the file, the line and the field.
        (
            lambda p: write_ml_csv(p / "m", RATINGS.replace(",964981247\n", ",964981247000\n")),
            r"ratings\.csv line 3: timestamp 964981247000 is too large for Unix seconds .*"
            r"it looks like milliseconds \(2000-07-30 18:20:47 UTC\): divide by 1000$",
        ),
        (
            lambda p: write_ml_csv(p / "m", RATINGS + "3,1,4.0,964983001000000\n"),
            r"ratings\.csv line 5: timestamp 964983001000000 .*looks like microseconds",
        ),
        (
            lambda p: write_ml_csv(p / "m", movies=MOVIES.replace('"Heat, The (1995)"', '"Heat, The (1995)')),
            r"movies\.csv line 3: unterminated quote starting at line 3 in field title: "
            r"the quoted field runs to the end of the file",
        ),
        (
            lambda p: write_ml_csv(p / "m", RATINGS.replace(",", ";")),
            r"ratings\.csv line 1: the header has one field 'userId;movieId;rating;timestamp': "
            r"is the file separated by ';'\? It must be ','-separated, with the columns userId,",
        ),
        (
            lambda p: write_ml_csv(p / "m", RATINGS + "3\t1\t4.0\t964983001\n"),
            r"ratings\.csv line 5: userId '3\\t1\\t4\.0\\t964983001' is not a number \(the line has 1 of 4 "
            r"fields: .*is the file separated by tab\?",
        ),
        (
            lambda p: write_ml_csv(p / "m", LONG_RATINGS),
            r"ratings\.csv line 3: rating 'x' is not a number$",  # a complete long line: nothing about truncation
        ),
    ],
    ids=[
        "non-numeric",
        "unknown-item",
        "unknown-layout",
        "absent",
        "millisecond-timestamps",
        "microsecond-timestamp",
        "unterminated-quote-movies",
        "semicolon-separated",
        "tab-separated-row",
        "long-complete-line",
    ],
)
def test_info_errors_are_one_line_exit_2(tmp_path: Path, setup, match: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = call(["data", "info", str(setup(tmp_path))])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("recbandit data: error: ")
    assert re.search(match, err.rstrip("\n")), err


# --------------------------------------------------------------------------- fetch


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    """Serve ``routes`` on 127.0.0.1 and point DATASETS['movielens-latest-small'] at /ml.zip."""
    routes: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-latest-small/movies.csv", MOVIES)
        zf.writestr("ml-latest-small/ratings.csv", RATINGS)
    routes["/ml.zip"] = buf.getvalue()
    monkeypatch.setitem(
        DATASETS,
        "movielens-latest-small",
        Source(
            url=f"http://127.0.0.1:{httpd.server_address[1]}/ml.zip",
            member="ml-latest-small",
            sha256=hashlib.sha256(routes["/ml.zip"]).hexdigest(),
            size=len(routes["/ml.zip"]),
        ),
    )
    yield routes
    httpd.shutdown()
    httpd.server_close()


def test_fetch_then_info(served: dict[str, bytes], tmp_path: Path) -> None:
    code, out, err = call(["data", "fetch", "movielens-latest-small", "--dir", str(tmp_path)])
    assert code == 0, err
    assert f"checksum verified, installed in {tmp_path / 'movielens-latest-small'}" in out
    code, out, err = call(["data", "fetch", "movielens-latest-small", "--dir", str(tmp_path)])
    assert code == 0 and "already in" in out
    code, out, err = call(["data", "info", str(tmp_path / "movielens-latest-small")])
    assert code == 0 and "interactions  3" in out


def test_fetch_corrupt_is_one_line_exit_2(served: dict[str, bytes], tmp_path: Path) -> None:
    served["/ml.zip"] = b"PK" + served["/ml.zip"][2:-8] + b"\1" * 8  # same length, other bytes
    code, out, err = call(["data", "fetch", "movielens-latest-small", "--dir", str(tmp_path), "--quiet"])
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("recbandit data: error: movielens-latest-small: SHA-256") and "nothing was installed" in last
    assert list(tmp_path.iterdir()) == []


def test_fetch_unknown_name(tmp_path: Path) -> None:
    code, out, err = call(["data", "fetch", "ml-1b", "--dir", str(tmp_path)])
    assert code == 2 and "unknown dataset 'ml-1b'; known datasets: movielens-100k" in err
