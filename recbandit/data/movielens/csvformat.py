"""The MovieLens CSV format (ml-latest(-small), 20M, 25M, 32M): ratings.csv, movies.csv, tags.csv, links.csv."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbandit.data._csv import (
    RowChecks,
    check_header,
    check_quoted_record,
    decode_text,
    dense_index,
    index_of,
    line_ending,
    numeric_column,
    open_text,
    read_frame,
    read_header,
    text_column,
    unterminated_quote,
)
from recbandit.data._timestamps import flag_unix_seconds
from recbandit.data.logged import DataError, Items, LoggedData, Users
from recbandit.data.movielens._common import (
    LINKS_CSV,
    MOVIES_CSV,
    NO_GENRES,
    RATINGS_CSV,
    TAGS_CSV,
    _first_seen,
    _int_field,
    _item_text,
    _not_a_number,
    _not_half_star,
    _overviews,
    _sorted_interactions,
)
from recbandit.data.tmdb import TmdbFilms, join_links, read_links


def _load_csv(folder: Path, rating_threshold: float, max_tags: int, films: TmdbFilms | None = None) -> LoggedData:
    item_ids, titles, item_genres, movie_rows = _read_movies_csv(folder / "movies.csv")
    rows = {"movies.csv": movie_rows}

    # ratings.csv: one pandas pass, whole-column checks, then the item lookup.
    path = folder / "ratings.csv"
    header = read_header(path)
    check_header(path, header, RATINGS_CSV)
    df = read_frame(path, header, usecols=RATINGS_CSV)
    if len(df) == 0:
        raise DataError(path, "no ratings after the header: the log is empty", line=2)
    rows["ratings.csv"] = len(df)
    checks = RowChecks(path, header)
    user = numeric_column(df, "userId", checks, integer=True, lo=1)
    movie = numeric_column(df, "movieId", checks, integer=True, lo=1)
    rating = numeric_column(df, "rating", checks, lo=0.5, hi=5.0, what="from 0.5 to 5 in half stars")
    with np.errstate(invalid="ignore"):
        checks.flag(np.isfinite(rating) & (rating * 2 != np.round(rating * 2)), "rating", _not_half_star(rating))
    ts = numeric_column(df, "timestamp", checks, integer=True, lo=0, what="Unix seconds >= 0")
    flag_unix_seconds(ts, checks, "timestamp")
    checks.raise_first()
    del df
    item_index = index_of(movie, item_ids, checks, "movieId", "movies.csv")
    checks.raise_first()
    del movie
    user_ids, user_index = dense_index(user)
    seconds = ts.astype(np.float64)
    # Hand the columns over (no other reference left), so each can be freed once sorted.
    del user, ts
    cols = {"user": user_index, "item": item_index, "reward": rating, "timestamp": seconds}
    del user_index, item_index, rating, seconds
    inter = _sorted_interactions(cols)
    first_seen = _first_seen(len(item_ids), inter)

    tags: list[list[str]] = [[] for _ in range(len(item_ids))]
    meta_extra: dict[str, int] = {}
    if (folder / "tags.csv").is_file():
        tag_rows, empty, tag_first, top = _read_tags_csv(folder / "tags.csv", item_ids, max_tags)
        rows["tags.csv"] = tag_rows
        meta_extra["tags_empty"] = empty
        first_seen = np.where(np.isnan(first_seen), tag_first, first_seen)
        tags = top
    if (folder / "links.csv").is_file():
        rows["links.csv"] = _read_links_csv(folder / "links.csv", item_ids)
    overviews: list[str] | None = None
    overview_meta: dict[str, Any] = {}
    if films is not None:
        overviews, overview_meta = _overviews(films, "links", *_join_links(folder, item_ids, films))

    vocab = sorted({g for gs in item_genres for g in gs})
    col = {g: i for i, g in enumerate(vocab)}
    feats = np.zeros((len(item_ids), len(vocab)), dtype=np.float32)
    for i, gs in enumerate(item_genres):
        feats[i, [col[g] for g in gs]] = 1.0
    texts = [
        _item_text(t, gs, tg, overviews[i] if overviews else "")
        for i, (t, gs, tg) in enumerate(zip(titles, item_genres, tags, strict=True))
    ]
    return LoggedData(
        name=_dataset_name(folder),
        source=str(folder),
        interactions=inter,
        items=Items(ids=item_ids, text=texts, features=feats, first_seen=first_seen, feature_names=vocab),
        users=Users(ids=user_ids),
        reward_kind="rating",
        rating_threshold=rating_threshold,
        meta={
            "format": "movielens-csv",
            "rows": rows,
            "line_endings": line_ending(path),
            **meta_extra,
            **overview_meta,
        },
    )


def _dataset_name(folder: Path) -> str:
    name = folder.resolve().name
    if name.startswith("ml-"):
        return "movielens-" + name[3:]
    return name if name.startswith("movielens") else f"movielens/{name}"


def _read_movies_csv(path: Path) -> tuple[np.ndarray, list[str], list[list[str]], int]:
    """(ids sorted, titles, genre lists, rows read) from movies.csv (RFC 4180, UTF-8)."""
    text = decode_text(path)
    reader = csv.reader(open_text(text))
    header: list[str] | None = None
    ids: list[int] = []
    titles: list[str] = []
    genres: list[list[str]] = []
    seen: dict[int, int] = {}
    line_before = 0
    lines: list[str] = []  # the text split into lines, once a record needs a closer look
    last = (1, 1)  # first and last line of the last record that is not blank
    try:
        for record in reader:
            n = line_before + 1
            line_before = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            last = (n, line_before)
            if line_before > n or (header is not None and len(record) != len(header)):
                # A quoted line break, or a quote never closed (which also upsets the field count).
                lines = lines or text.split("\n")
                check_quoted_record(path, lines, n, line_before, header or MOVIES_CSV)
            if header is None:
                header = [f.strip() for f in record]
                check_header(path, header, MOVIES_CSV)
                pos = [header.index(c) for c in MOVIES_CSV]
                continue
            if len(record) != len(header):
                if len(record) < len(header):
                    missing = header[len(record)]
                    raise DataError(
                        path,
                        f"{missing} is missing (the line has {len(record)} of {len(header)} fields; truncated file?)",
                        line=n,
                        field=missing,
                    )
                raise DataError(
                    path,
                    f"has {len(record)} fields, expected {len(header)} ({','.join(header)}); "
                    "a title with a comma must be in double quotes",
                    line=n,
                )
            movie = _int_field(path, n, record[pos[0]], "movieId")
            if movie in seen:
                raise DataError(
                    path, f"movieId {movie} was already defined on line {seen[movie]}", line=n, field="movieId"
                )
            seen[movie] = n
            title = record[pos[1]].strip()
            if not title:
                raise DataError(path, "title is empty", line=n, field="title")
            gs = record[pos[2]].strip()
            if not gs:
                raise DataError(path, f"genres is empty (use {NO_GENRES!r} for none)", line=n, field="genres")
            parts = [] if gs == NO_GENRES else [g.strip() for g in gs.split("|")]
            if any(not g for g in parts):
                raise DataError(path, f"genres {gs!r} has an empty genre name", line=n, field="genres")
            ids.append(movie)
            titles.append(title)
            genres.append(parts)
    except csv.Error as exc:
        if reader.line_num > line_before + 1:  # e.g. a field over csv's size limit: a runaway quote
            raise unterminated_quote(path, header or MOVIES_CSV, line_before + 1, end=reader.line_num) from None
        raise DataError(path, f"cannot be parsed as CSV: {exc}", line=reader.line_num) from None
    if header is None:
        raise DataError(path, "the file is empty (no header line)", line=1)
    # A quote left open on the last line ends with the file, and the lenient reader takes it as closed.
    check_quoted_record(path, lines or text.split("\n"), *last, header)
    if not ids:
        raise DataError(path, "no movies after the header", line=2)
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    return (
        np.asarray(ids, dtype=np.int64)[order],
        [titles[i] for i in order],
        [genres[i] for i in order],
        len(ids),
    )


def _read_tags_csv(path: Path, item_ids: np.ndarray, max_tags: int) -> tuple[int, int, np.ndarray, list[list[str]]]:
    """(rows, empty tags, first tag time per item (NaN if none), top tags per item)."""
    header = read_header(path)
    check_header(path, header, TAGS_CSV)
    df = read_frame(path, header, usecols=TAGS_CSV, text_columns=("tag",))
    checks = RowChecks(path, header)
    numeric_column(df, "userId", checks, integer=True, lo=1)
    movie = numeric_column(df, "movieId", checks, integer=True, lo=1)
    ts = numeric_column(df, "timestamp", checks, integer=True, lo=0, what="Unix seconds >= 0")
    flag_unix_seconds(ts, checks, "timestamp")
    tag = text_column(df, "tag", checks)
    checks.raise_first()
    item = index_of(movie, item_ids, checks, "movieId", "movies.csv")
    checks.raise_first()
    first = np.full(len(item_ids), np.inf)
    np.minimum.at(first, item, ts.astype(np.float64))
    first[np.isinf(first)] = np.nan

    top: list[list[str]] = [[] for _ in range(len(item_ids))]
    norm = pd.Series(tag).str.lower()
    empty = int((norm == "").sum())
    if max_tags and len(df):
        counts = (
            pd.DataFrame({"item": item, "tag": norm})[norm.to_numpy() != ""]
            .value_counts(["item", "tag"])
            .reset_index(name="n")
            .sort_values(["item", "n", "tag"], ascending=[True, False, True], kind="stable")
        )
        counts = counts.groupby("item", sort=False).head(max_tags)
        for i, t in zip(counts["item"].to_numpy(), counts["tag"].to_numpy(), strict=True):
            top[int(i)].append(str(t))
    return len(df), empty, first, top


def _read_links_csv(path: Path, item_ids: np.ndarray) -> int:
    """Validate links.csv (movieId known, imdbId digits, tmdbId digits or empty); rows read."""
    header = read_header(path)
    check_header(path, header, LINKS_CSV)
    df = read_frame(path, header, usecols=LINKS_CSV, text_columns=("imdbId", "tmdbId"))
    checks = RowChecks(path, header)
    movie = numeric_column(df, "movieId", checks, integer=True, lo=1)
    for column, allow_empty in (("imdbId", False), ("tmdbId", True)):
        values = text_column(df, column, checks, allow_empty=allow_empty)
        s = pd.Series(values, dtype=object)
        bad = ~s.str.fullmatch(r"\d*").to_numpy(dtype=bool)
        checks.flag(bad, column, _not_a_number(column, values))
    checks.raise_first()
    index_of(movie, item_ids, checks, "movieId", "movies.csv")
    checks.raise_first()
    return len(df)


def _join_links(folder: Path, item_ids: np.ndarray, films: TmdbFilms) -> tuple[np.ndarray, dict[str, Any]]:
    """Match the items to TMDb rows through the dataset's links.csv, else the one beside the metadata."""
    for path in (folder / "links.csv", Path(films.path).parent / "links.csv"):
        if path.is_file():
            rows, counts = join_links(item_ids, read_links(path), films)
            return rows, {**counts, "links": str(path)}
    raise DataError(
        folder / "links.csv",
        f"overviews need links.csv (movieId,imdbId,tmdbId) to join the films: none here nor beside {films.path}",
    )
