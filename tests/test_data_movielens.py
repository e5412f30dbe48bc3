"""MovieLens loaders: the real ML-100K, generated CSV-format folders, and table-driven bad input.

Bad-input cases are ``(writer, message-regex, line, field)`` in the Open Bandit Pipeline
style: each writer spoils one file of a good fixture, and the test checks that the
``DataError`` names the file, the 1-based line and the field.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recbandit.data import DataError
from recbandit.data.detect import detect_format, load
from recbandit.data.movielens import GENRES_100K, load_movielens

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
ML100K = SHARED / "ml-100k"
needs_ml100k = pytest.mark.skipif(
    not (ML100K / "u.data").is_file(),
    reason=f"real MovieLens 100K not found at {ML100K} (set RECBANDIT_SHARED_DATA to the shared data folder)",
)


# --------------------------------------------------------------------------- the real ML-100K


@pytest.fixture(scope="module")
def ml100k():
    return load_movielens(ML100K)


@needs_ml100k
@pytest.mark.realdata
def test_ml100k_counts_and_ratings(ml100k) -> None:
    d = ml100k
    assert (len(d.interactions), len(d.users), len(d.items)) == (100_000, 943, 1_682)
    values, counts = np.unique(d.interactions.reward, return_counts=True)
    assert values.tolist() == [1, 2, 3, 4, 5]
    assert counts.tolist() == [6_110, 11_370, 27_145, 34_174, 21_201]
    assert d.reward_kind == "rating" and d.rating_threshold == 4.0
    assert d.meta["rows"] == {"u.data": 100_000, "u.item": 1_682, "u.user": 943}
    assert d.meta["encoding"] == {"u.item": "latin-1"}
    ts = d.interactions.timestamp
    assert ts[0] == 874_724_710 and ts[-1] == 893_286_638 and np.all(np.diff(ts) >= 0)
    assert d.users.ids.tolist() == list(range(1, 944)) and d.items.ids.tolist() == list(range(1, 1683))
    # every index points into the tables; every user has at least 20 ratings (the README's promise)
    assert np.bincount(d.interactions.user, minlength=943).min() >= 20
    assert d.interactions.item.max() == 1681 and d.interactions.item.dtype == np.int64


@needs_ml100k
@pytest.mark.realdata
def test_ml100k_text_features_first_seen(ml100k) -> None:
    d = ml100k
    items = {int(i): k for k, i in enumerate(d.items.ids)}
    assert d.items.text[items[543]] == "Misérables, Les (1995) — Drama, Musical"
    assert d.items.text[items[1633]].startswith("Á köldum klaka (Cold Fever) (1994)")
    assert d.items.text[items[1]] == "Toy Story (1995) — Animation, Children's, Comedy"
    # item 267: title 'unknown', genre 'unknown', no dates -> first seen at its first rating
    k267 = items[267]
    assert d.items.text[k267] == "unknown"
    first_rating = d.interactions.timestamp[d.interactions.item == k267].min()
    assert d.items.first_seen[k267] == first_rating
    assert d.items.first_seen[items[1]] == 788_918_400.0  # 01-Jan-1995 00:00 UTC
    assert d.items.feature_names == list(GENRES_100K)
    assert d.items.features.dtype == np.float32 and d.items.features.shape == (1682, 19)
    assert d.items.features[k267].tolist() == [1.0] + [0.0] * 18
    assert d.users.text[0] == "A 24-year-old male technician."
    assert d.users.text[1] == "A 53-year-old female with an occupation not listed."
    assert d.users.features.shape == (943, 1 + 2 + 21)
    f0 = dict(zip(d.users.feature_names, d.users.features[0], strict=True))
    assert f0["age"] == 24 and f0["gender=M"] == 1 and f0["occupation=technician"] == 1
    assert d.users.features[:, 1:3].sum() == 943 and d.users.features[:, 3:].sum() == 943


@needs_ml100k
@pytest.mark.realdata
def test_ml100k_loads_under_two_seconds() -> None:
    t0 = time.perf_counter()
    d = load(ML100K)
    assert time.perf_counter() - t0 < 2.0
    assert detect_format(ML100K) == "movielens-100k" and len(d.interactions) == 100_000


# --------------------------------------------------------------------------- CSV-format fixtures

MOVIES = [
    "movieId,title,genres",
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
    '2,"American President, The (1995)",Comedy|Drama|Romance',
    '5,"Movie ""Quoted"" Title (2001)",Drama',
    "7,Babylon 5,Sci-Fi",
    '9,"Title, with comma and no year",(no genres listed)',
    "11,Amélie (Fabuleux destin d'Amélie Poulain) (2001),Comedy|Romance",
]
RATINGS = [
    "userId,movieId,rating,timestamp",
    "1,1,4.0,964982703",
    "1,2,3.5,964981247",
    "2,5,0.5,964983000",
    "3,7,5.0,964980000",
    "2,1,2.5,964982703",
]
TAGS = [
    "userId,movieId,tag,timestamp",
    "1,1,pixar,1139045764",
    "2,1,Pixar,1139045770",
    "3,1,fun,1139045780",
    '1,2,"politics, romance",1139045790',
    "2,11,NA,1139045795",
]
LINKS = [
    "movieId,imdbId,tmdbId",
    "1,0114709,862",
    "2,0112346,9087",
    "5,0000001,",
    "7,0105946,",
    "9,1,",
    "11,0211915,194",
]


def write_csv_dataset(
    folder: Path, eol: str = "\n", with_tags: bool = True, with_links: bool = True, **override: list[str]
) -> Path:
    """A tiny MovieLens CSV-format folder; ``override`` replaces a file's lines (e.g. ratings=[...])."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"movies": MOVIES, "ratings": RATINGS}
    if with_tags:
        files["tags"] = TAGS
    if with_links:
        files["links"] = LINKS
    files.update(override)
    for name, lines in files.items():
        (folder / f"{name}.csv").write_bytes((eol.join(lines) + eol).encode("utf-8"))
    return folder


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_csv_format_loads(tmp_path: Path, eol: str) -> None:
    d = load_movielens(write_csv_dataset(tmp_path / "ml-latest-small", eol=eol))
    assert d.name == "movielens-latest-small" and d.meta["format"] == "movielens-csv"
    assert d.meta["line_endings"] == ("CRLF" if eol == "\r\n" else "LF")
    assert d.meta["rows"] == {"movies.csv": 6, "ratings.csv": 5, "tags.csv": 5, "links.csv": 6}
    assert d.items.ids.tolist() == [1, 2, 5, 7, 9, 11]
    assert d.users.ids.tolist() == [1, 2, 3] and d.users.text is None and d.users.features is None
    text = dict(zip(d.items.ids.tolist(), d.items.text, strict=True))
    assert text[1] == "Toy Story (1995) — Adventure, Animation, Children, Comedy, Fantasy Tags: pixar, fun"
    assert text[2] == "American President, The (1995) — Comedy, Drama, Romance Tags: politics, romance"
    assert text[5] == 'Movie "Quoted" Title (2001) — Drama'
    assert text[7] == "Babylon 5 — Sci-Fi"
    assert text[9] == "Title, with comma and no year"
    assert text[11] == "Amélie (Fabuleux destin d'Amélie Poulain) (2001) — Comedy, Romance Tags: na"
    assert d.items.feature_names == sorted(
        ["Adventure", "Animation", "Children", "Comedy", "Fantasy", "Drama", "Romance", "Sci-Fi"]
    )
    assert d.items.features.dtype == np.float32
    assert d.items.features[d.items.ids.tolist().index(9)].sum() == 0
    assert d.items.features[0].sum() == 5
    # time order; the two ratings at 964982703 keep file order (user 1 before user 2)
    inter = d.interactions
    assert inter.timestamp.tolist() == [964980000, 964981247, 964982703, 964982703, 964983000]
    assert [int(d.users.ids[u]) for u in inter.user] == [3, 1, 1, 2, 2]
    assert inter.reward.tolist() == [5.0, 3.5, 4.0, 2.5, 0.5]
    assert d.binary_reward().tolist() == [1, 0, 1, 0, 0]
    # first seen: first rating; item 11 only tagged -> its tag time; item 9 neither -> NaN
    first = dict(zip(d.items.ids.tolist(), d.items.first_seen.tolist(), strict=True))
    assert first[1] == 964982703 and first[7] == 964980000 and first[11] == 1139045795
    assert np.isnan(first[9])


def test_csv_format_without_tags_and_links(tmp_path: Path) -> None:
    d = load_movielens(
        write_csv_dataset(tmp_path / "mine", with_tags=False, with_links=False), rating_threshold=3.5, max_tags=0
    )
    assert d.name == "movielens/mine" and d.rating_threshold == 3.5
    assert set(d.meta["rows"]) == {"movies.csv", "ratings.csv"}
    assert d.items.text[0] == "Toy Story (1995) — Adventure, Animation, Children, Comedy, Fantasy"
    assert d.binary_reward().tolist() == [1, 1, 1, 0, 0]


def test_csv_format_utf8_bom_and_quoted_newline(tmp_path: Path) -> None:
    movies = list(MOVIES)
    movies[0] = "\ufeff" + movies[0]
    movies[2] = '2,"American President,\nThe (1995)",Comedy'
    d = load_movielens(write_csv_dataset(tmp_path / "m", movies=movies))
    assert d.items.text[1].startswith("American President,\nThe (1995) — Comedy Tags:")


# --------------------------------------------------------------------------- 100K-format fixture


def write_100k(folder: Path, **override: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    flags = "|".join(["0"] * 19)
    drama = "|".join("1" if g == "Drama" else "0" for g in GENRES_100K)
    files = {
        "u.data": b"1\t1\t5\t881250949\n2\t2\t3\t881250000\n1\t2\t1\t881250949\n",
        "u.item": (
            f"1|Mis\xe9rables, Les (1995)|01-Jan-1995||http://x|{drama}\n".encode("latin-1")
            + f"2|unknown||||1|{flags[2:]}\n".encode("latin-1")
        ),
        "u.user": b"1|24|M|technician|85711\n2|18|F|other|T8H1N\n",
    }
    files.update(override)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_100k_fixture_loads(tmp_path: Path) -> None:
    d = load(write_100k(tmp_path / "ml-100k"))
    assert d.items.text == ["Misérables, Les (1995) — Drama", "unknown"]
    assert d.items.first_seen.tolist() == [788_918_400.0, 881250000.0]
    assert d.users.text == ["A 24-year-old male technician.", "An 18-year-old female with an occupation not listed."]
    assert d.interactions.timestamp.tolist() == [881250000, 881250949, 881250949]
    assert d.interactions.reward.tolist() == [3, 5, 1]  # stable among equal timestamps


def test_100k_reencoded_utf8_item_file_is_read_as_utf8(tmp_path: Path) -> None:
    data = (tmp_path / "x").joinpath  # noqa: F841
    folder = write_100k(tmp_path / "ml-100k")
    item = (folder / "u.item").read_bytes().decode("latin-1").encode("utf-8")
    (folder / "u.item").write_bytes(item)
    d = load_movielens(folder)
    assert d.items.text[0].startswith("Misérables") and d.meta["encoding"]["u.item"] == "utf-8"


# --------------------------------------------------------------------------- bad input, table-driven

Writer = Callable[[Path], Path]


def csv_with(**override: list[str]) -> Writer:
    return lambda tmp: write_csv_dataset(tmp / "ml", **override)


def raw(name: str, data: bytes, base: Writer | None = None) -> Writer:
    def write(tmp: Path) -> Path:
        folder = (base or csv_with())(tmp)
        (folder / name).write_bytes(data)
        return folder

    return write


def k100_with(**override: bytes) -> Writer:
    return lambda tmp: write_100k(tmp / "ml-100k", **override)


BAD = [
    # (id, writer, message regex, file, line, field)
    (
        "truncated",
        raw("ratings.csv", b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n3,7"),
        r"ratings\.csv line 3: rating is missing .*2 of 4 fields.*truncated",
        "ratings.csv",
        3,
        "rating",
    ),
    (
        "missing-column",
        csv_with(ratings=["userId,movieId,timestamp", "1,1,964982703"]),
        r"ratings\.csv line 1: missing column 'rating'",
        "ratings.csv",
        1,
        "rating",
    ),
    (
        "non-numeric-rating",
        csv_with(ratings=RATINGS[:2] + ["1,2,x,964981247"] + RATINGS[3:]),
        r"ratings\.csv line 3: rating 'x' is not a number",
        "ratings.csv",
        3,
        "rating",
    ),
    (
        "rating-out-of-range",
        csv_with(ratings=RATINGS[:4] + ["3,7,6.0,964980000"]),
        r"ratings\.csv line 5: rating '6' is out of range",
        "ratings.csv",
        5,
        "rating",
    ),
    (
        "rating-not-half-star",
        csv_with(ratings=RATINGS[:2] + ["1,2,3.7,964981247"]),
        r"ratings\.csv line 3: rating 3\.7 is not a whole or half star",
        "ratings.csv",
        3,
        "rating",
    ),
    (
        "wrong-encoding",
        raw("movies.csv", ("\n".join(MOVIES[:3]) + "\n").encode() + "11,Amélie (2001),Comedy\n".encode("latin-1")),
        r"movies\.csv line 4: not valid UTF-8 \(byte 0xe9",
        "movies.csv",
        4,
        None,
    ),
    (
        "unknown-item",
        csv_with(ratings=RATINGS[:3] + ["2,99,0.5,964983000"]),
        r"ratings\.csv line 4: movieId 99 is not in movies\.csv",
        "ratings.csv",
        4,
        "movieId",
    ),
    (
        "empty-log",
        csv_with(ratings=RATINGS[:1]),
        r"ratings\.csv line 2: no ratings after the header: the log is empty",
        "ratings.csv",
        2,
        None,
    ),
    ("empty-file", raw("ratings.csv", b""), r"ratings\.csv line 1: the file is empty", "ratings.csv", 1, None),
    (
        "repeated-header",
        csv_with(ratings=RATINGS[:3] + RATINGS[:1] + RATINGS[3:]),
        r"ratings\.csv line 4: the header line is repeated here",
        "ratings.csv",
        4,
        "userId",
    ),
    (
        "duplicated-header-column",
        csv_with(ratings=["userId,userId,rating,timestamp", "1,1,4.0,964982703"]),
        r"ratings\.csv line 1: column 'userId' appears twice",
        "ratings.csv",
        1,
        "userId",
    ),
    (
        "blank-lines-keep-line-numbers",
        csv_with(ratings=RATINGS[:2] + ["", ""] + ["1,2,x,964981247"]),
        r"ratings\.csv line 5: rating 'x' is not a number",
        "ratings.csv",
        5,
        "rating",
    ),
    (
        "too-many-fields",
        csv_with(ratings=RATINGS[:3] + ["2,5,0.5,964983000,7"]),
        r"ratings\.csv line 4: has 5 fields, expected 4",
        "ratings.csv",
        4,
        None,
    ),
    (
        "non-integer-user",
        csv_with(ratings=RATINGS[:2] + ["1.5,2,3.5,964981247"]),
        r"ratings\.csv line 3: userId '1\.5' is not an integer",
        "ratings.csv",
        3,
        "userId",
    ),
    (
        "movies-unquoted-comma",
        csv_with(movies=MOVIES[:2] + ["2,American President, The (1995),Comedy"] + MOVIES[3:]),
        r"movies\.csv line 3: has 4 fields, expected 3 .*double quotes",
        "movies.csv",
        3,
        None,
    ),
    (
        "movies-truncated",
        raw("movies.csv", ("\n".join(MOVIES) + "\n12,Heat (1995)").encode()),
        r"movies\.csv line 8: genres is missing .*truncated",
        "movies.csv",
        8,
        "genres",
    ),
    (
        "movies-duplicate-id",
        csv_with(movies=MOVIES + ["5,Again (1999),Drama"]),
        r"movies\.csv line 8: movieId 5 was already defined on line 4",
        "movies.csv",
        8,
        "movieId",
    ),
    (
        "movies-line-after-quoted-newline",
        csv_with(movies=MOVIES[:2] + ['2,"A\nB (1995)",Drama', "x,C,Drama"]),
        r"movies\.csv line 5: movieId 'x' is not an integer",
        "movies.csv",
        5,
        "movieId",
    ),
    (
        "tags-unknown-item",
        csv_with(tags=TAGS[:2] + ["2,42,fun,1139045770"]),
        r"tags\.csv line 3: movieId 42 is not in movies\.csv",
        "tags.csv",
        3,
        "movieId",
    ),
    (
        "tags-missing-column",
        csv_with(tags=["userId,movieId,timestamp", "1,1,1"]),
        r"tags\.csv line 1: missing column 'tag'",
        "tags.csv",
        1,
        "tag",
    ),
    (
        "links-bad-imdb",
        csv_with(links=LINKS[:2] + ["2,tt0112346,9087"]),
        r"links\.csv line 3: imdbId 'tt0112346' is not a number",
        "links.csv",
        3,
        "imdbId",
    ),
    (
        "100k-unknown-item",
        k100_with(**{"u.data": b"1\t1\t5\t881250949\n1\t3\t4\t881250950\n"}),
        r"u\.data line 2: item_id 3 is not in u\.item",
        "u.data",
        2,
        "item_id",
    ),
    (
        "100k-unknown-user",
        k100_with(**{"u.data": b"1\t1\t5\t881250949\n7\t1\t4\t881250950\n"}),
        r"u\.data line 2: user_id 7 is not in u\.user",
        "u.data",
        2,
        "user_id",
    ),
    (
        "100k-non-numeric-rating",
        k100_with(**{"u.data": b"1\t1\t5\t881250949\n1\t2\tfive\t881250950\n"}),
        r"u\.data line 2: rating 'five' is not a number",
        "u.data",
        2,
        "rating",
    ),
    (
        "100k-rating-out-of-range",
        k100_with(**{"u.data": b"1\t1\t0\t881250949\n"}),
        r"u\.data line 1: rating '0' is out of range: must be an integer from 1 to 5",
        "u.data",
        1,
        "rating",
    ),
    (
        "100k-truncated-data",
        k100_with(**{"u.data": b"1\t1\t5\t881250949\n2\t2"}),
        r"u\.data line 2: rating is missing .*2 of 4 fields",
        "u.data",
        2,
        "rating",
    ),
    (
        "100k-empty-log",
        k100_with(**{"u.data": b""}),
        r"u\.data line 1: no ratings: the log is empty",
        "u.data",
        1,
        None,
    ),
    (
        "100k-item-truncated",
        k100_with(**{"u.item": b"1|Toy Story (1995)|01-Jan-1995\n"}),
        r"u\.item line 1: video_release_date is missing .*3 of 24",
        "u.item",
        1,
        "video_release_date",
    ),
    (
        "100k-bad-release-date",
        k100_with(**{"u.item": ("1|T|1995-01-01||u|" + "|".join(["0"] * 19) + "\n").encode()}),
        r"u\.item line 1: release_date '1995-01-01' is not a date like 01-Jan-1995",
        "u.item",
        1,
        "release_date",
    ),
    (
        "100k-bad-genre-flag",
        k100_with(**{"u.item": ("1|T|01-Jan-1995||u|" + "|".join(["0"] * 18 + ["2"]) + "\n").encode()}),
        r"u\.item line 1: genre flag Western is '2'",
        "u.item",
        1,
        "Western",
    ),
    (
        "100k-bad-gender",
        k100_with(**{"u.user": b"1|24|M|technician|85711\n2|18|X|other|1\n"}),
        r"u\.user line 2: gender 'X' is not M or F",
        "u.user",
        2,
        "gender",
    ),
]


@pytest.mark.parametrize(("writer", "match", "file", "line", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_names_file_line_field(
    tmp_path: Path, writer: Writer, match: str, file: str, line: int, field: str | None
) -> None:
    folder = writer(tmp_path)
    with pytest.raises(DataError, match=match) as info:
        load_movielens(folder)
    err = info.value
    assert Path(err.path).name == file and err.line == line and err.field == field
    assert str(err).startswith(str(folder / file))


def test_not_a_movielens_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs u.data, u.item and u.user.*needs ratings.csv and movies.csv"):
        load_movielens(tmp_path)
    with pytest.raises(ValueError, match="rating_threshold must be a number"):
        load_movielens(write_csv_dataset(tmp_path / "m"), rating_threshold="high")


# --------------------------------------------------------------------------- benchmark smoke run


def test_load_speed_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load_speed.py"),
            "--rows",
            "20000",
            "--users",
            "500",
            "--items",
            "300",
            "--workdir",
            str(tmp_path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "20,000 ratings" in proc.stdout and "peak RSS" in proc.stdout
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == ["speed.json"]  # generated data deleted


CRLF_CASES = ["non-numeric-rating", "blank-lines-keep-line-numbers", "movies-line-after-quoted-newline", "truncated"]


@pytest.mark.parametrize("case", CRLF_CASES)
def test_bad_input_line_numbers_with_crlf(tmp_path: Path, case: str) -> None:
    _, writer, match, file, line, field = next(b for b in BAD if b[0] == case)
    folder = writer(tmp_path)
    for path in folder.iterdir():
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    with pytest.raises(DataError, match=match) as info:
        load_movielens(folder)
    assert (Path(info.value.path).name, info.value.line, info.value.field) == (file, line, field)
