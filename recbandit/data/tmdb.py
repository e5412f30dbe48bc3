"""TMDb film metadata ("The Movies Dataset", Kaggle): plot overviews for MovieLens films.

``read_movies_metadata`` reads ``movies_metadata.csv`` (the complete file, 45,466 films,
or a prefix of it) and keeps what a join needs: the TMDb id, the IMDb id, the title, the
release year and the overview. The file is UTF-8 CSV with RFC 4180 quoting; quoted
overviews may hold line breaks, so records are read with a CSV parser and reported by
the physical line they start on. List columns (``genres``, ``production_companies``, ...)
hold Python literals and are not read.

Malformed records are skipped and listed in ``TmdbFilms.malformed`` (line, reason): a
record with the wrong number of fields, or whose ``id`` is not an integer (the complete
file has 3, where a line break outside quotes split a record and a date landed in
``id``), or whose ``imdb_id`` / ``release_date`` is not of its form. More than
``max_malformed`` of them raise ``DataError`` naming the first (a file of another
format); so do a missing column, bad UTF-8 and a quote that is never closed.

Two joins (``join_titles``, ``join_links``) give each MovieLens film its TMDb row:

- MovieLens 100K (``u.item`` has only "Title (year)"): the title without " (YYYY)",
  and also with a trailing ", The" / ", A" / ", An" moved to the front, must equal
  ``title`` with the year of ``release_date`` equal to the MovieLens year; a film that
  matches two TMDb ids is left unmatched (ambiguous).
- The MovieLens CSV format (``links.csv``: ``movieId,imdbId,tmdbId``): ``id == tmdbId``
  and ``imdb_id == "tt" + imdbId`` (a tmdbId that names another film is no match).

An overview that is empty or the placeholder "No overview found." counts as none.
Whitespace in overviews (line breaks included) is collapsed to single spaces.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbandit.data._csv import (
    RowChecks,
    check_header,
    check_quoted_record,
    decode_text,
    numeric_column,
    open_text,
    read_frame,
    read_header,
    text_column,
    unterminated_quote,
)
from recbandit.data.logged import DataError

#: Columns of ``movies_metadata.csv`` the joins read (the file has 24).
METADATA_COLUMNS = ("id", "imdb_id", "title", "overview", "release_date")
LINKS_COLUMNS = ("movieId", "imdbId", "tmdbId")
#: Overviews that say there is none.
PLACEHOLDER_OVERVIEWS = frozenset({"", "No overview found."})
#: The name of the complete file; a folder may hold a prefix instead (``movies_metadata*.csv``).
METADATA_FILE = "movies_metadata.csv"
_ARTICLES = ("The", "A", "An")
_YEAR_SUFFIX = re.compile(r"^(.*\S)\s+\((\d{4})\)$")
_TRAILING_ARTICLE = re.compile(r"^(.*), (" + "|".join(_ARTICLES) + r")$")
_IMDB = re.compile(r"^tt\d+$")
_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}$")


@dataclass(frozen=True)
class TmdbFilms:
    """The films of a ``movies_metadata*.csv``, N well-formed records in file order.

    Attributes:
        path: the file read.
        tmdb_id: int64[N] TMDb ids (a few appear twice in the complete file).
        imdb_id: N strings ``"tt"`` + digits, or "" where the file has none.
        title: N titles (may be "").
        year: int64[N] release year, 0 where ``release_date`` is empty.
        overview: N overviews, "" where there is none (empty or a placeholder).
        line: int64[N] the physical line each record starts on.
        malformed: (line, reason) of every record skipped.
    """

    path: str
    tmdb_id: np.ndarray
    imdb_id: list[str] = field(repr=False)
    title: list[str] = field(repr=False)
    year: np.ndarray = field(repr=False)
    overview: list[str] = field(repr=False)
    line: np.ndarray = field(repr=False)
    malformed: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.tmdb_id.shape[0])


def find_metadata_file(path: str | Path) -> Path:
    """The metadata file of ``path``: the file, or a folder's ``movies_metadata.csv`` (else its one prefix).

    Raises:
        DataError: no such file, or a folder with none or several candidates.
    """
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if not p.is_dir():
        raise DataError(p, "no such file or folder (expected movies_metadata.csv or a folder that holds it)")
    if (p / METADATA_FILE).is_file():
        return p / METADATA_FILE
    found = sorted(f for f in p.glob("movies_metadata*.csv") if f.is_file())
    if len(found) != 1:
        what = "no movies_metadata*.csv" if not found else f"several ({', '.join(f.name for f in found)})"
        raise DataError(p, f"{what} in the folder; expected {METADATA_FILE} (The Movies Dataset) or one prefix of it")
    return found[0]


def read_movies_metadata(path: str | Path, *, max_malformed: int = 10) -> TmdbFilms:
    """Read the join columns of ``movies_metadata*.csv`` (a file, or a folder that holds one).

    Args:
        path: the file or its folder (see ``find_metadata_file``).
        max_malformed: how many malformed records are skipped before the file is refused.

    Returns:
        The well-formed films; see the module docstring for what is skipped.

    Raises:
        DataError: missing columns, bad UTF-8, a quote never closed, or more than
            ``max_malformed`` malformed records (file, line and field named).
    """
    file = find_metadata_file(path)
    text = decode_text(file)
    reader = csv.reader(open_text(text))
    header: list[str] = []
    pos: dict[str, int] = {}
    cols: dict[str, list[Any]] = {k: [] for k in ("id", "imdb", "title", "year", "overview", "line")}
    malformed: list[tuple[int, str, str | None]] = []
    lines: list[str] = []
    line_before = 0
    try:
        for record in reader:
            n = line_before + 1
            line_before = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if not header:
                header = [f.strip() for f in record]
                check_header(file, header, METADATA_COLUMNS)
                pos = {c: header.index(c) for c in METADATA_COLUMNS}
                continue
            if len(record) != len(header):
                if line_before > n:  # over several lines: a legal quoted break, or a quote left open
                    lines = lines or text.split("\n")
                    check_quoted_record(file, lines, n, line_before, header)
                malformed.append((n, f"has {len(record)} fields, expected {len(header)}", None))
                continue
            problem = _check_record(record, pos)
            if problem is not None:
                malformed.append((n, *problem))
                continue
            date = _DATE.match(record[pos["release_date"]].strip())
            cols["id"].append(int(record[pos["id"]].strip()))
            cols["imdb"].append(record[pos["imdb_id"]].strip())
            cols["title"].append(record[pos["title"]].strip())
            cols["year"].append(int(date.group(1)) if date else 0)
            cols["overview"].append(_overview(record[pos["overview"]]))
            cols["line"].append(n)
    except csv.Error as exc:
        if reader.line_num > line_before + 1:  # a field over csv's size limit: a runaway quote
            raise unterminated_quote(file, header or METADATA_COLUMNS, line_before + 1, end=reader.line_num) from None
        raise DataError(file, f"cannot be parsed as CSV: {exc}", line=reader.line_num) from None
    if not header:
        raise DataError(file, "the file is empty (no header line)", line=1)
    if len(malformed) > max_malformed:
        line, reason, fld = malformed[0]
        raise DataError(
            file,
            f"{reason}; {len(malformed)} malformed records (more than max_malformed={max_malformed}): "
            "is this The Movies Dataset's movies_metadata.csv?",
            line=line,
            field=fld,
        )
    if not cols["id"]:
        raise DataError(file, "no films after the header", line=2)
    return TmdbFilms(
        path=str(file),
        tmdb_id=np.asarray(cols["id"], dtype=np.int64),
        imdb_id=cols["imdb"],
        title=cols["title"],
        year=np.asarray(cols["year"], dtype=np.int64),
        overview=cols["overview"],
        line=np.asarray(cols["line"], dtype=np.int64),
        malformed=[(line, reason) for line, reason, _ in malformed],
    )


def _check_record(record: Sequence[str], pos: dict[str, int]) -> tuple[str, str] | None:
    """(reason, field) of the first problem of a record with the right field count, or None."""
    tmdb = record[pos["id"]].strip()
    if not tmdb.isdigit():
        return f"id {tmdb!r} is not an integer", "id"
    imdb = record[pos["imdb_id"]].strip()
    if imdb and not _IMDB.match(imdb):
        return f"imdb_id {imdb!r} is not 'tt' followed by digits", "imdb_id"
    date = record[pos["release_date"]].strip()
    if date and not _DATE.match(date):
        return f"release_date {date!r} is not YYYY-MM-DD", "release_date"
    return None


def _overview(value: str) -> str:
    text = " ".join(value.split())
    return "" if text in PLACEHOLDER_OVERVIEWS else text


@dataclass(frozen=True)
class Links:
    """A MovieLens ``links.csv``: M rows.

    Attributes:
        movie_id: int64[M] MovieLens ids.
        imdb_id: M strings of digits (as written, leading zeros kept).
        tmdb_id: int64[M] TMDb ids, -1 where blank.
    """

    movie_id: np.ndarray
    imdb_id: list[str] = field(repr=False)
    tmdb_id: np.ndarray = field(repr=False)


def read_links(path: str | Path) -> Links:
    """Read a MovieLens ``links.csv`` (``movieId,imdbId,tmdbId``; imdbId digits, tmdbId digits or blank).

    Raises:
        DataError: a missing column or a bad value (file, line and field named).
    """
    file = Path(path)
    header = read_header(file)
    check_header(file, header, LINKS_COLUMNS)
    df = read_frame(file, header, usecols=LINKS_COLUMNS, text_columns=("imdbId", "tmdbId"))
    checks = RowChecks(file, header)
    movie = numeric_column(df, "movieId", checks, integer=True, lo=1)
    values: dict[str, np.ndarray] = {}
    for column, allow_empty in (("imdbId", False), ("tmdbId", True)):
        values[column] = text_column(df, column, checks, allow_empty=allow_empty)
        bad = ~pd.Series(values[column], dtype=object).str.fullmatch(r"\d*").to_numpy(dtype=bool)
        checks.flag(bad, column, _not_a_number(column, values[column]))
    checks.raise_first()
    tmdb = np.array([int(v) if v else -1 for v in values["tmdbId"]], dtype=np.int64)
    return Links(movie_id=movie.astype(np.int64), imdb_id=[str(v) for v in values["imdbId"]], tmdb_id=tmdb)


def _not_a_number(column: str, values: np.ndarray) -> Callable[[int], str]:
    return lambda r: f"{column} {values[r]!r} is not a number"


def title_forms(title: str) -> tuple[list[str], int]:
    """The TMDb titles a MovieLens "Title (year)" may have, and its year (0 when none).

    ``"Usual Suspects, The (1995)"`` -> ``(["Usual Suspects, The", "The Usual Suspects"], 1995)``.
    """
    m = _YEAR_SUFFIX.match(title.strip())
    if m is None:
        return [title.strip()], 0
    base, year = m.group(1), int(m.group(2))
    forms = [base]
    art = _TRAILING_ARTICLE.match(base)
    if art is not None:
        forms.append(f"{art.group(2)} {art.group(1)}")
    return forms, year


def join_titles(titles: Sequence[str], films: TmdbFilms) -> tuple[np.ndarray, dict[str, int]]:
    """Match MovieLens 100K titles to TMDb rows by title and year (see the module docstring).

    Args:
        titles: n MovieLens titles, "Title (year)".
        films: the TMDb films.

    Returns:
        int64[n] row of ``films`` per title (-1: no match, or an ambiguous one), and
        counts ``matched``, ``ambiguous``.
    """
    index: dict[tuple[str, int], dict[int, int]] = {}
    for row, (t, y, i) in enumerate(zip(films.title, films.year.tolist(), films.tmdb_id.tolist(), strict=True)):
        if t and y:
            index.setdefault((t, y), {}).setdefault(i, row)  # a TMDb id listed twice is one film
    out = np.full(len(titles), -1, dtype=np.int64)
    ambiguous = 0
    for n, title in enumerate(titles):
        forms, year = title_forms(title)
        if not year:
            continue
        hits: dict[int, int] = {}
        for form in forms:
            for tmdb, row in index.get((form, year), {}).items():
                hits.setdefault(tmdb, row)
        if len(hits) == 1:
            out[n] = next(iter(hits.values()))
        elif len(hits) > 1:
            ambiguous += 1
    return out, {"matched": int((out >= 0).sum()), "ambiguous": ambiguous}


def join_links(movie_ids: np.ndarray, links: Links, films: TmdbFilms) -> tuple[np.ndarray, dict[str, int]]:
    """Match MovieLens ids to TMDb rows through ``links.csv`` (``id == tmdbId`` and the IMDb id agrees).

    Args:
        movie_ids: int64[n] MovieLens ids.
        links: the dataset's links.
        films: the TMDb films.

    Returns:
        int64[n] row of ``films`` per movie (-1: none), and counts ``matched``,
        ``no_link`` (no links row or a blank tmdbId), ``imdb_mismatch`` (the tmdbId names
        another film) and ``no_row`` (the tmdbId is not in the metadata file).
    """
    rows_of: dict[int, list[int]] = {}
    for row, i in enumerate(films.tmdb_id.tolist()):
        rows_of.setdefault(i, []).append(row)  # an id listed twice may hold two films
    link_of = {int(m): k for k, m in enumerate(links.movie_id.tolist())}
    out = np.full(len(movie_ids), -1, dtype=np.int64)
    counts = {"no_link": 0, "imdb_mismatch": 0, "no_row": 0}
    for n, movie in enumerate(np.asarray(movie_ids).tolist()):
        k = link_of.get(int(movie))
        if k is None or links.tmdb_id[k] < 0:
            counts["no_link"] += 1
            continue
        rows = rows_of.get(int(links.tmdb_id[k]))
        if rows is None:
            counts["no_row"] += 1
            continue
        agree = [row for row in rows if films.imdb_id[row] == "tt" + links.imdb_id[k]]
        if agree:
            out[n] = agree[0]
        else:
            counts["imdb_mismatch"] += 1
    return out, {"matched": int((out >= 0).sum()), **counts}


__all__ = [
    "METADATA_COLUMNS",
    "PLACEHOLDER_OVERVIEWS",
    "Links",
    "TmdbFilms",
    "find_metadata_file",
    "join_links",
    "join_titles",
    "read_links",
    "read_movies_metadata",
    "title_forms",
]
