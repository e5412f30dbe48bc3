"""MovieLens loaders: the 100K format and the CSV format of ml-latest(-small), 20M, 25M, 32M.

Both formats become one :class:`~recbandit.data.logged.LoggedData` with
``reward_kind="rating"``:

- **Interactions**: every rating, sorted by timestamp (stable, so equal timestamps keep
  file order); ``reward`` is the rating (1–5 for 100K, 0.5–5 in half stars for the CSV
  format), ``timestamp`` Unix seconds.
- **Items**: every movie of ``u.item`` / ``movies.csv``, sorted by id. ``text`` is
  ``"Title (year) — Genre1, Genre2"`` (the title as published, which ends in its year
  where MovieLens knows it), followed by ``" Tags: a, b, c"`` with the item's most
  frequent tags where ``tags.csv`` exists; with ``overviews=`` a film's TMDb plot overview
  follows the genres ("Title (year) — genres. Overview"). ``features`` is the genre multi-hot (float32)
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

from pathlib import Path

from recbandit._validation import check_float, check_int
from recbandit.data.logged import DataError, LoggedData
from recbandit.data.movielens._common import (
    GENRES_100K,
    LINKS_CSV,
    MOVIES_CSV,
    NO_GENRES,
    OCCUPATIONS_100K,
    RATINGS_CSV,
    TAGS_CSV,
    U_DATA,
    U_ITEM,
    U_USER,
)
from recbandit.data.movielens.csvformat import _load_csv
from recbandit.data.movielens.ml100k import _load_100k
from recbandit.data.tmdb import read_movies_metadata


def movielens_format(path: str | Path) -> str | None:
    """The MovieLens format of a folder: "100k" (u.data, u.item, u.user), "csv" (ratings.csv, movies.csv) or None."""
    folder = Path(path)
    if all((folder / f).is_file() for f in ("u.data", "u.item", "u.user")):
        return "100k"
    if all((folder / f).is_file() for f in ("ratings.csv", "movies.csv")):
        return "csv"
    return None


def load_movielens(
    path: str | Path,
    rating_threshold: float = 4.0,
    *,
    max_tags: int = 5,
    overviews: str | Path | None = None,
) -> LoggedData:
    """Load a MovieLens folder in the 100K format or the CSV format (detected from its files).

    Args:
        path: the folder (``ml-100k/`` with ``u.data``, ``u.item``, ``u.user``; or a CSV
            dataset folder with ``ratings.csv``, ``movies.csv`` and optionally
            ``tags.csv``, ``links.csv``).
        rating_threshold: the rating at or above which a rating counts as a like when a
            binary reward is asked for (``LoggedData.binary_reward``).
        max_tags: how many of an item's most frequent tags go into its text (CSV format
            with ``tags.csv``); 0 leaves tags out.
        overviews: TMDb metadata ("The Movies Dataset": ``movies_metadata.csv``, a prefix
            of it, or their folder, see ``recbandit.data.tmdb``): a film with an overview
            gets the text ``"Title (year) — genres. Overview"``. 100K films are joined by
            title and year, the CSV format through ``links.csv`` (the dataset's, else the
            one beside the metadata). ``meta["overviews"]`` has the match counts.

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
    films = read_movies_metadata(overviews) if overviews is not None and fmt is not None else None
    if fmt == "100k":
        return _load_100k(folder, rating_threshold, films)
    if fmt == "csv":
        return _load_csv(folder, rating_threshold, max_tags, films)
    raise DataError(
        folder,
        "not a MovieLens folder: the 100K format needs u.data, u.item and u.user; the CSV format "
        "(ml-latest-small, 20M, 25M, 32M) needs ratings.csv and movies.csv",
    )


__all__ = [
    "GENRES_100K",
    "LINKS_CSV",
    "MOVIES_CSV",
    "NO_GENRES",
    "OCCUPATIONS_100K",
    "RATINGS_CSV",
    "TAGS_CSV",
    "U_DATA",
    "U_ITEM",
    "U_USER",
    "load_movielens",
    "movielens_format",
]
