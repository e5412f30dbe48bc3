"""Bad MovieLens input found when tried as a new user would (issue 10): each names file, line and field.

Millisecond (and finer) timestamps, unterminated quotes, files separated by ';' or tabs.
The writers and the tiny datasets come from ``test_data_movielens``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_data_movielens import MOVIES, RATINGS, TAGS, Writer, csv_with, k100_with

from recbandit.data import DataError
from recbandit.data.movielens import load_movielens

BAD = [
    (
        "millisecond-timestamp",
        csv_with(ratings=RATINGS[:2] + ["1,2,3.5,964981247000"] + RATINGS[3:]),
        r"ratings\.csv line 3: timestamp 964981247000 is too large for Unix seconds "
        r"\(it would be after the year 9999\); it looks like milliseconds \(2000-07-30 18:20:47 UTC\): divide by 1000",
        "ratings.csv",
        3,
        "timestamp",
    ),
    (
        "all-millisecond-timestamps",  # the whole file in ms: the first row is named
        csv_with(ratings=RATINGS[:1] + [r.rsplit(",", 1)[0] + "," + r.rsplit(",", 1)[1] + "000" for r in RATINGS[1:]]),
        r"ratings\.csv line 2: timestamp 964982703000 .*milliseconds",
        "ratings.csv",
        2,
        "timestamp",
    ),
    (
        "microsecond-timestamp",
        csv_with(ratings=RATINGS[:4] + ["3,7,5.0,964980000000000"]),
        r"ratings\.csv line 5: timestamp 964980000000000 .*looks like microseconds \(2000-07-30 .*divide by 1000000",
        "ratings.csv",
        5,
        "timestamp",
    ),
    (
        "timestamp-after-2100",
        csv_with(ratings=RATINGS[:4] + ["3,7,5.0,9649800000"]),
        r"ratings\.csv line 5: timestamp 9649800000 is after 2100-01-01 00:00 UTC \(the year 2275\)",
        "ratings.csv",
        5,
        "timestamp",
    ),
    (
        "tags-millisecond-timestamp",
        csv_with(tags=TAGS[:3] + ["3,1,fun,1139045780000"]),
        r"tags\.csv line 4: timestamp 1139045780000 .*milliseconds \(2006-02-04 .*divide by 1000",
        "tags.csv",
        4,
        "timestamp",
    ),
    (
        "semicolon-separated",
        csv_with(ratings=[r.replace(",", ";") for r in RATINGS]),
        r"ratings\.csv line 1: the header has one field 'userId;movieId;rating;timestamp': "
        r"is the file separated by ';'\? It must be ','-separated",
        "ratings.csv",
        1,
        "userId",
    ),
    (
        "tab-separated-movies",
        csv_with(movies=["movieId\ttitle\tgenres", "1\tToy Story (1995)\tAnimation"]),
        r"movies\.csv line 1: the header has one field 'movieId\\ttitle\\tgenres': is the file separated by tab\?",
        "movies.csv",
        1,
        "movieId",
    ),
    (
        "semicolon-rows-under-comma-header",  # decimal commas: the line splits into 2 fields at ','
        csv_with(ratings=RATINGS[:2] + ["1;2;3,5;964981247"]),
        r"ratings\.csv line 3: userId '1;2;3' is not a number \(the line has 2 of 4 fields: '1;2;3,5;964981247'; "
        r"is the file separated by ';'\? It must be ','-separated\)",
        "ratings.csv",
        3,
        "userId",
    ),
    (
        "movies-unterminated-quote",
        csv_with(movies=MOVIES[:2] + ['2,"Jumanji, (1995),Adventure', "7,Babylon 5,Sci-Fi"]),
        r"movies\.csv line 3: unterminated quote starting at line 3 in field title: "
        r"the quoted field runs to the end of the file",
        "movies.csv",
        3,
        "title",
    ),
    (
        "movies-unterminated-quote-closed-later",  # the next '"' (line 4) closes it where no quote can close
        csv_with(movies=MOVIES[:2] + ['2,"Jumanji, (1995),Adventure', "3,Heat (1995),Action"] + MOVIES[3:]),
        # line 5 is '5,"Movie ""Quoted"" Title (2001)",Drama': its first '"' ends the runaway field
        r"movies\.csv line 3: unterminated quote starting at line 3 in field title: the quoted field runs on to line 5",
        "movies.csv",
        3,
        "title",
    ),
    (
        "movies-unterminated-quote-in-genres",
        csv_with(movies=MOVIES + ['12,Heat (1995),"Action|Crime']),
        r"movies\.csv line 8: unterminated quote starting at line 8 in field genres",
        "movies.csv",
        8,
        "genres",
    ),
    (
        "ratings-unterminated-quote",
        csv_with(ratings=RATINGS[:2] + ['1,"2,3.5,964981247'] + RATINGS[3:]),
        r"ratings\.csv line 3: unterminated quote starting at line 3 in field movieId",
        "ratings.csv",
        3,
        "movieId",
    ),
    (
        "100k-millisecond-timestamp",
        k100_with(**{"u.data": b"1\t1\t5\t881250949\n1\t2\t4\t881250950000\n"}),
        r"u\.data line 2: timestamp 881250950000 .*milliseconds \(1997-12-04 .*divide by 1000",
        "u.data",
        2,
        "timestamp",
    ),
    (
        "100k-comma-separated",
        k100_with(**{"u.data": b"1,1,5,881250949\n"}),
        r"u\.data line 1: user_id '1,1,5,881250949' is not a number \(the line has 1 of 4 fields: .*"
        r"is the file separated by ','\? It must be tab-separated\)",
        "u.data",
        1,
        "user_id",
    ),
]


@pytest.mark.parametrize(("writer", "match", "file", "line", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
@pytest.mark.parametrize("eol", ["LF", "CRLF"])
def test_bad_input_names_file_line_field(
    tmp_path: Path, writer: Writer, match: str, file: str, line: int, field: str | None, eol: str
) -> None:
    folder = writer(tmp_path)
    if eol == "CRLF":
        for path in folder.iterdir():
            path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    with pytest.raises(DataError, match=match) as info:
        load_movielens(folder)
    err = info.value
    assert Path(err.path).name == file and err.line == line and err.field == field
    assert str(err).startswith(str(folder / file))


def test_quoted_line_breaks_still_load(tmp_path: Path) -> None:
    """A closed quote over two lines is legal (RFC 4180), also on the last line of the file."""
    folder = csv_with(movies=MOVIES + ['12,"Two\nlines (1999)",Drama'])(tmp_path)
    data = load_movielens(folder)
    assert "Two\nlines (1999) — Drama" in data.items.text


def test_env_refuses_millisecond_timestamps(tmp_path: Path) -> None:
    """The env loads through the loader, so a log in milliseconds stops it too (it was accepted before)."""
    gym = pytest.importorskip("gymnasium")
    import recbandit.envs  # noqa: F401  (registers the envs)

    folder = csv_with(ratings=RATINGS[:2] + ["1,2,3.5,964981247000"] + RATINGS[3:])(tmp_path)
    with pytest.raises(DataError, match=r"ratings\.csv line 3: timestamp 964981247000 .*milliseconds"):
        gym.make("recbandit/MovieLens-v0", path=str(folder))
