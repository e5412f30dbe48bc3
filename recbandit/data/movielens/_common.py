"""Constants and helpers shared by the MovieLens 100K and CSV-format loaders."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recbandit.data.logged import DataError, Interactions
from recbandit.data.tmdb import TmdbFilms

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


def _not_a_number(column: str, values: np.ndarray) -> Callable[[int], str]:
    return lambda r: f"{column} {values[r]!r} is not a number"


def _not_half_star(rating: np.ndarray) -> Callable[[int], str]:
    return lambda r: f"rating {rating[r]:g} is not a whole or half star (0.5, 1.0, ..., 5.0)"


def _item_text(title: str, genres: Sequence[str], tags: Sequence[str] = (), overview: str = "") -> str:
    text = title if not genres else f"{title} — {', '.join(genres)}"
    if overview:
        text = f"{text}. {overview}"
    return text if not tags else f"{text} Tags: {', '.join(tags)}"


def _overviews(
    films: TmdbFilms, join: str, rows: np.ndarray, counts: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """Each item's overview ("" for none) from its matched TMDb row (-1: none), and ``meta["overviews"]``."""
    texts = [films.overview[r] if r >= 0 else "" for r in rows.tolist()]
    with_overview = sum(1 for t in texts if t)
    matched = int((rows >= 0).sum())
    return texts, {
        "overviews": {
            "source": films.path,
            "join": join,
            "films_read": len(films),
            "malformed_records": len(films.malformed),
            "malformed_lines": [line for line, _ in films.malformed[:10]],
            "items": len(texts),
            **counts,
            "matched": matched,
            "with_overview": with_overview,
            "matched_without_overview": matched - with_overview,
        }
    }


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


def _int_field(path: Path, n: int, value: str, field: str, lo: int = 1, hi: int | None = None) -> int:
    text = value.strip()
    if not text.lstrip("-").isdigit():
        raise DataError(path, f"{field} {value!r} is not an integer", line=n, field=field)
    out = int(text)
    if out < lo or (hi is not None and out > hi):
        rng = f">= {lo}" if hi is None else f"from {lo} to {hi}"
        raise DataError(path, f"{field} {out} is out of range: must be {rng}", line=n, field=field)
    return out
