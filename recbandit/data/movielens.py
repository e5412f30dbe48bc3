"""MovieLens loaders: the 100K format and the CSV format of ml-latest(-small), 20M, 25M, 32M.

Both formats become one :class:`~recbandit.data.logged.LoggedData` with
``reward_kind="rating"``:

- **Interactions**: every rating, sorted by timestamp (stable, so equal timestamps keep
  file order); ``reward`` is the rating (1–5 for 100K, 0.5–5 in half stars for the CSV
  format), ``timestamp`` Unix seconds.
- **Items**: every movie of ``u.item`` / ``movies.csv``, sorted by id. ``text`` is
  ``"Title (year) — Genre1, Genre2"`` (the title as published, which ends in its year
  where MovieLens knows it), followed by ``" Tags: a, b, c"`` with the item's most
  frequent tags where ``tags.csv`` exists. ``features`` is the genre multi-hot (float32)
  with ``feature_names`` the genre names. ``first_seen`` is the release date where the
  format has one (100K), else the item's first rating, else its first tag, else NaN.
- Timestamps must be Unix seconds from 1970 to 2100; milliseconds (and finer units) are
  refused with a hint (:mod:`recbandit.data._timestamps`).
- **Users**: 100K: every user of ``u.user`` with a profile sentence ("A 24-year-old male
  technician.") and features age (years) + one-hot gender + one-hot occupation.
  CSV format: every user with at least one rating, no text or features.

Every file is validated as it is read; the first problem raises
:class:`~recbandit.data.logged.DataError` with the file, the 1-based line and the field.
No row is dropped: ``meta["rows"]`` counts the rows read from each file.

Format references: the ``README`` of ml-100k and ``README.txt`` / ``README.html`` of the
CSV datasets (F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and
Context", ACM TiiS 5(4), 2015).
"""

from __future__ import annotations

import calendar
import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from recbandit._validation import check_float, check_int
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
from recbandit.data.logged import DataError, Interactions, Items, LoggedData, Users

#: The 19 genres of ml-100k, in the order of the flags in ``u.item`` (``u.genre``).
GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
#: The 21 occupations of ml-100k (``u.occupation``).
OCCUPATIONS_100K = (
    "administrator",
    "artist",
    "doctor",
    "educator",
    "engineer",
    "entertainment",
    "executive",
    "healthcare",
    "homemaker",
    "lawyer",
    "librarian",
    "marketing",
    "none",
    "other",
    "programmer",
    "retired",
    "salesman",
    "scientist",
    "student",
    "technician",
    "writer",
)
U_DATA = ("user_id", "item_id", "rating", "timestamp")
U_ITEM = ("movie_id", "title", "release_date", "video_release_date", "imdb_url")
U_USER = ("user_id", "age", "gender", "occupation", "zip_code")
RATINGS_CSV = ("userId", "movieId", "rating", "timestamp")
MOVIES_CSV = ("movieId", "title", "genres")
TAGS_CSV = ("userId", "movieId", "tag", "timestamp")
LINKS_CSV = ("movieId", "imdbId", "tmdbId")
NO_GENRES = "(no genres listed)"
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_GENDERS = {"M": "male", "F": "female"}


def movielens_format(path: str | Path) -> str | None:
    """The MovieLens format of a folder: "100k" (u.data, u.item, u.user), "csv" (ratings.csv, movies.csv) or None."""
    folder = Path(path)
    if all((folder / f).is_file() for f in ("u.data", "u.item", "u.user")):
        return "100k"
    if all((folder / f).is_file() for f in ("ratings.csv", "movies.csv")):
        return "csv"
    return None


def load_movielens(path: str | Path, rating_threshold: float = 4.0, *, max_tags: int = 5) -> LoggedData:
    """Load a MovieLens folder in the 100K format or the CSV format (detected from its files).

    Args:
        path: the folder (``ml-100k/`` with ``u.data``, ``u.item``, ``u.user``; or a CSV
            dataset folder with ``ratings.csv``, ``movies.csv`` and optionally
            ``tags.csv``, ``links.csv``).
        rating_threshold: the rating at or above which a rating counts as a like when a
            binary reward is asked for (``LoggedData.binary_reward``).
        max_tags: how many of an item's most frequent tags go into its text (CSV format
            with ``tags.csv``); 0 leaves tags out.

    Returns:
        The log, see the module docstring.

    Raises:
        DataError: a file is missing, unreadable or has a bad row (file, line, field named).
    """
    folder = Path(path)
    rating_threshold = check_float("rating_threshold", rating_threshold)
    max_tags = check_int("max_tags", max_tags, min_value=0)
    if not folder.is_dir():
        raise DataError(folder, "not a folder (expected a MovieLens dataset folder)")
    fmt = movielens_format(folder)
    if fmt == "100k":
        return _load_100k(folder, rating_threshold)
    if fmt == "csv":
        return _load_csv(folder, rating_threshold, max_tags)
    raise DataError(
        folder,
        "not a MovieLens folder: the 100K format needs u.data, u.item and u.user; the CSV format "
        "(ml-latest-small, 20M, 25M, 32M) needs ratings.csv and movies.csv",
    )


# --------------------------------------------------------------------------- 100K


def _load_100k(folder: Path, rating_threshold: float) -> LoggedData:
    genres = _read_u_genre(folder / "u.genre") if (folder / "u.genre").is_file() else list(GENRES_100K)
    occupations = _read_u_occupation(folder / "u.occupation") if (folder / "u.occupation").is_file() else None
    item_ids, titles, released, flags, item_encoding = _read_u_item(folder / "u.item", genres)
    user_ids, ages, genders, occs = _read_u_user(folder / "u.user", occupations)

    path = folder / "u.data"
    df = read_frame(path, U_DATA, sep="\t", header_lines=0)
    if len(df) == 0:
        raise DataError(path, "no ratings: the log is empty", line=1)
    checks = RowChecks(path, U_DATA, header_lines=0, sep="\t")
    user = numeric_column(df, "user_id", checks, integer=True, lo=1)
    item = numeric_column(df, "item_id", checks, integer=True, lo=1)
    rating = numeric_column(df, "rating", checks, integer=True, lo=1, hi=5, what="an integer from 1 to 5")
    ts = numeric_column(df, "timestamp", checks, integer=True, lo=0, what="Unix seconds >= 0")
    flag_unix_seconds(ts, checks, "timestamp")
    checks.raise_first()
    user_index = index_of(user, user_ids, checks, "user_id", "u.user")
    item_index = index_of(item, item_ids, checks, "item_id", "u.item")
    checks.raise_first()

    reward, seconds = rating.astype(np.float64), ts.astype(np.float64)
    inter = _sorted_interactions({"user": user_index, "item": item_index, "reward": reward, "timestamp": seconds})
    first_seen = _first_seen(len(item_ids), inter)
    first_seen = np.where(np.isnan(released), first_seen, released)

    texts = []
    for title, row in zip(titles, flags, strict=True):
        names = [g for g, f in zip(genres, row, strict=True) if f and g != "unknown"]
        texts.append(_item_text(title, names))
    occ_vocab = list(occupations) if occupations is not None else sorted(set(occs))
    gender_vocab = ["F", "M"]
    feats = np.zeros((len(user_ids), 1 + len(gender_vocab) + len(occ_vocab)), dtype=np.float32)
    feats[:, 0] = ages
    feats[np.arange(len(user_ids)), 1 + np.array([gender_vocab.index(g) for g in genders])] = 1.0
    feats[np.arange(len(user_ids)), 1 + len(gender_vocab) + np.array([occ_vocab.index(o) for o in occs])] = 1.0
    users = Users(
        ids=user_ids,
        text=[_profile(int(a), g, o) for a, g, o in zip(ages, genders, occs, strict=True)],
        features=feats,
        feature_names=["age"] + [f"gender={g}" for g in gender_vocab] + [f"occupation={o}" for o in occ_vocab],
    )
    items = Items(
        ids=item_ids,
        text=texts,
        features=flags.astype(np.float32),
        first_seen=first_seen,
        feature_names=list(genres),
    )
    return LoggedData(
        name="movielens-100k",
        source=str(folder),
        interactions=inter,
        items=items,
        users=users,
        reward_kind="rating",
        rating_threshold=rating_threshold,
        meta={
            "format": "movielens-100k",
            "rows": {"u.data": len(df), "u.item": len(item_ids), "u.user": len(user_ids)},
            "encoding": {"u.item": item_encoding},
        },
    )


def _lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, line without its ending) for every non-blank line."""
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            out.append((n, line))
    return out


def _split(path: Path, n: int, line: str, names: Sequence[str]) -> list[str]:
    fields = line.split("|")
    if len(fields) < len(names):
        raise DataError(
            path,
            f"{names[len(fields)]} is missing (the line has {len(fields)} of {len(names)} '|'-separated fields; "
            "truncated file?)",
            line=n,
            field=names[len(fields)],
        )
    if len(fields) > len(names):
        raise DataError(path, f"has {len(fields)} '|'-separated fields, expected {len(names)}", line=n)
    return fields


def _int_field(path: Path, n: int, value: str, field: str, lo: int = 1, hi: int | None = None) -> int:
    text = value.strip()
    if not text.lstrip("-").isdigit():
        raise DataError(path, f"{field} {value!r} is not an integer", line=n, field=field)
    out = int(text)
    if out < lo or (hi is not None and out > hi):
        rng = f">= {lo}" if hi is None else f"from {lo} to {hi}"
        raise DataError(path, f"{field} {out} is out of range: must be {rng}", line=n, field=field)
    return out


def _read_u_genre(path: Path) -> list[str]:
    text = decode_text(path, "latin-1", "latin-1")
    names: dict[int, str] = {}
    for n, line in _lines(text):
        fields = _split(path, n, line, ("genre", "index"))
        names[_int_field(path, n, fields[1], "index", lo=0)] = fields[0]
    if sorted(names) != list(range(len(GENRES_100K))):
        raise DataError(path, f"expected genre indices 0..{len(GENRES_100K) - 1}, got {sorted(names)}")
    return [names[i] for i in range(len(GENRES_100K))]


def _read_u_occupation(path: Path) -> list[str]:
    return [line.strip() for _, line in _lines(decode_text(path, "latin-1", "latin-1"))]


def _read_u_item(path: Path, genres: Sequence[str]) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, str]:
    """(ids, titles, release dates as Unix seconds or NaN, int8[n, 19] genre flags, encoding)."""
    raw = path.read_bytes()
    # The original file is latin-1 (e.g. 'Misérables' as byte 0xE9). Copies re-encoded to
    # UTF-8 circulate; a file whose non-ASCII bytes all decode as UTF-8 is read as UTF-8.
    encoding = "latin-1"
    if any(b >= 0x80 for b in raw):
        try:
            raw.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            pass
    text = raw.decode(encoding)
    names = list(U_ITEM) + list(genres)
    ids, titles, released, flags = [], [], [], []
    seen: dict[int, int] = {}
    for n, line in _lines(text):
        fields = _split(path, n, line, names)
        movie = _int_field(path, n, fields[0], "movie_id")
        if movie in seen:
            raise DataError(
                path, f"movie_id {movie} was already defined on line {seen[movie]}", line=n, field="movie_id"
            )
        seen[movie] = n
        title = fields[1].strip()
        if not title:
            raise DataError(path, "title is empty", line=n, field="title")
        released.append(_release_date(path, n, fields[2]))
        row = []
        for g, f in zip(genres, fields[len(U_ITEM) :], strict=True):
            if f.strip() not in ("0", "1"):
                raise DataError(path, f"genre flag {g} is {f!r}, expected 0 or 1", line=n, field=g)
            row.append(f.strip() == "1")
        ids.append(movie)
        titles.append(title)
        flags.append(row)
    if not ids:
        raise DataError(path, "no items: the file has no lines", line=1)
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    return (
        np.asarray(ids, dtype=np.int64)[order],
        [titles[i] for i in order],
        np.asarray(released, dtype=np.float64)[order],
        np.asarray(flags, dtype=np.int8).reshape(len(ids), len(genres))[order],
        encoding,
    )


def _release_date(path: Path, n: int, value: str) -> float:
    """dd-Mon-yyyy (e.g. 01-Jan-1995) as Unix seconds at 00:00 UTC; "" as NaN."""
    text = value.strip()
    if not text:
        return float("nan")
    parts = text.split("-")
    try:
        day, month, year = int(parts[0]), _MONTHS[parts[1]], int(parts[2])
        if len(parts) != 3 or not 1 <= day <= calendar.monthrange(year, month)[1]:
            raise ValueError
    except (ValueError, KeyError, IndexError):
        raise DataError(
            path, f"release_date {value!r} is not a date like 01-Jan-1995", line=n, field="release_date"
        ) from None
    return float(calendar.timegm((year, month, day, 0, 0, 0)))


def _read_u_user(path: Path, occupations: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(ids, ages, genders 'M'/'F', occupations), sorted by id."""
    text = decode_text(path, "latin-1", "latin-1")
    ids, ages, genders, occs = [], [], [], []
    seen: dict[int, int] = {}
    for n, line in _lines(text):
        fields = _split(path, n, line, U_USER)
        user = _int_field(path, n, fields[0], "user_id")
        if user in seen:
            raise DataError(path, f"user_id {user} was already defined on line {seen[user]}", line=n, field="user_id")
        seen[user] = n
        age = _int_field(path, n, fields[1], "age", lo=1, hi=120)
        gender = fields[2].strip()
        if gender not in _GENDERS:
            raise DataError(path, f"gender {gender!r} is not M or F", line=n, field="gender")
        occ = fields[3].strip()
        if occupations is not None and occ not in occupations:
            raise DataError(path, f"occupation {occ!r} is not in u.occupation", line=n, field="occupation")
        if not occ:
            raise DataError(path, "occupation is empty", line=n, field="occupation")
        ids.append(user)
        ages.append(age)
        genders.append(gender)
        occs.append(occ)
    if not ids:
        raise DataError(path, "no users: the file has no lines", line=1)
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    return (
        np.asarray(ids, dtype=np.int64)[order],
        np.asarray(ages, dtype=np.float32)[order],
        [genders[i] for i in order],
        [occs[i] for i in order],
    )


def _profile(age: int, gender: str, occupation: str) -> str:
    """A profile sentence: "A 24-year-old male technician.", "An 18-year-old female student."."""
    article = "An" if str(age).startswith("8") or age in (11, 18) else "A"
    sex = _GENDERS[gender]
    if occupation == "none":
        return f"{article} {age}-year-old {sex} with no occupation."
    if occupation == "other":
        return f"{article} {age}-year-old {sex} with an occupation not listed."
    if occupation == "retired":
        return f"{article} {age}-year-old retired {sex}."
    if occupation in ("entertainment", "healthcare", "marketing"):
        return f"{article} {age}-year-old {sex} who works in {occupation}."
    return f"{article} {age}-year-old {sex} {occupation}."


# --------------------------------------------------------------------------- CSV format


def _load_csv(folder: Path, rating_threshold: float, max_tags: int) -> LoggedData:
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

    vocab = sorted({g for gs in item_genres for g in gs})
    col = {g: i for i, g in enumerate(vocab)}
    feats = np.zeros((len(item_ids), len(vocab)), dtype=np.float32)
    for i, gs in enumerate(item_genres):
        feats[i, [col[g] for g in gs]] = 1.0
    texts = [_item_text(t, gs, tg) for t, gs, tg in zip(titles, item_genres, tags, strict=True)]
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


# --------------------------------------------------------------------------- shared


def _not_a_number(column: str, values: np.ndarray) -> Callable[[int], str]:
    return lambda r: f"{column} {values[r]!r} is not a number"


def _not_half_star(rating: np.ndarray) -> Callable[[int], str]:
    return lambda r: f"rating {rating[r]:g} is not a whole or half star (0.5, 1.0, ..., 5.0)"


def _item_text(title: str, genres: Sequence[str], tags: Sequence[str] = ()) -> str:
    text = title if not genres else f"{title} — {', '.join(genres)}"
    return text if not tags else f"{text} Tags: {', '.join(tags)}"


def _sorted_interactions(cols: dict[str, np.ndarray]) -> Interactions:
    """Interactions sorted by timestamp; a stable sort keeps file order among equal timestamps.

    ``cols`` (user, item, reward, timestamp) is emptied as the columns are reordered, so a
    caller that holds no other reference frees each input column as soon as it is sorted.
    """
    order = np.argsort(cols["timestamp"], kind="stable")
    out = {}
    for name, dtype in (("timestamp", np.float64), ("reward", np.float64), ("user", np.int64), ("item", np.int64)):
        out[name] = cols.pop(name)[order].astype(dtype, copy=False)
    return Interactions(**out)


def _first_seen(n_items: int, inter: Interactions) -> np.ndarray:
    """float64[n_items]: each item's first interaction time (NaN for items never rated).

    ``inter`` is sorted by time, so the first occurrence of an item is its first rating.
    """
    first = np.full(n_items, np.nan)
    uniq, where = np.unique(inter.item, return_index=True)
    first[uniq] = inter.timestamp[where]
    return first
