"""The MovieLens 100K format: u.data, u.item (latin-1), u.user, u.genre, u.occupation."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recbandit.data._csv import (
    RowChecks,
    decode_text,
    index_of,
    numeric_column,
    read_frame,
)
from recbandit.data._timestamps import flag_unix_seconds
from recbandit.data.logged import DataError, Items, LoggedData, Users
from recbandit.data.movielens._common import (
    _GENDERS,
    _MONTHS,
    GENRES_100K,
    U_DATA,
    U_ITEM,
    U_USER,
    _first_seen,
    _int_field,
    _item_text,
    _overviews,
    _sorted_interactions,
)
from recbandit.data.tmdb import TmdbFilms, join_titles


def _load_100k(folder: Path, rating_threshold: float, films: TmdbFilms | None = None) -> LoggedData:
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

    overviews: list[str] | None = None
    overview_meta: dict[str, Any] = {}
    if films is not None:
        overviews, overview_meta = _overviews(films, "title+year", *join_titles(titles, films))
    texts = []
    for i, (title, row) in enumerate(zip(titles, flags, strict=True)):
        names = [g for g, f in zip(genres, row, strict=True) if f and g != "unknown"]
        texts.append(_item_text(title, names, overview=overviews[i] if overviews else ""))
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
            **overview_meta,
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
