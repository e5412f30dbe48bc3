"""The plain format: anyone's own logs as two or three CSV files in a folder.

Files (UTF-8, comma-separated, a header line, RFC 4180 quoting, LF or CRLF)::

    interactions.csv   user,item,reward,timestamp[,propensity][,position][,<context columns>...]
    items.csv          item,text[,first_seen][,<numeric feature columns>...]
    users.csv          user,text[,<numeric feature columns>...]          (optional)

- ``user`` / ``item``: ids, any text (numbers or names); every item of
  ``interactions.csv`` must be in ``items.csv``, and every user in ``users.csv`` when
  that file exists. Ids that are all integers become ``int64`` ids, others strings.
- ``reward``: a number. The log is ``reward_kind="binary"`` when every reward is 0 or 1,
  else ``"rating"`` (give ``rating_threshold`` to turn ratings into likes).
- ``timestamp``: Unix seconds (integer or decimal) or an ISO 8601 date/time
  (``2019-11-24T00:00:34Z``, ``2019-11-24 00:00:34.76+09:00``, ``2019-11-24``); a time
  without a UTC offset is taken as UTC. A time at or after 2100-01-01 is refused, and
  Unix values of 1e11 or more are reported as milliseconds (or finer units) with what to
  divide by (:mod:`recbandit.data._timestamps`).
- ``propensity`` (optional): the probability that the logging policy chose ``item``, in
  (0, 1]; needed by off-policy estimators, so a missing, zero, negative or >1 value is an
  error. ``position`` (optional): the 1-based slot of the item on the page.
- Any other column of ``interactions.csv`` is a numeric context feature
  (``Interactions.context``, float32, names in ``meta["context_names"]``).
- ``items.csv`` / ``users.csv``: ``text`` may be empty; every other column is a numeric
  feature (float32), except ``first_seen`` in ``items.csv`` (Unix seconds or ISO 8601;
  where empty or absent, the item's first interaction).

Rows are sorted by timestamp (stable). The first problem in any file raises
:class:`~recbandit.data.logged.DataError` naming the file, line and field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recbandit._validation import check_float
from recbandit.data._csv import (
    RowChecks,
    check_header,
    line_ending,
    numeric_column,
    read_frame,
    read_header,
    text_column,
)
from recbandit.data._timestamps import flag_unix_seconds
from recbandit.data.logged import DataError, Interactions, Items, LoggedData, Users

INTERACTIONS = ("user", "item", "reward", "timestamp")
INTERACTIONS_OPTIONAL = ("propensity", "position")
ITEMS = ("item", "text")
USERS = ("user", "text")


def plain_format(path: str | Path) -> bool:
    """Whether ``path`` has the files of the plain format (interactions.csv and items.csv)."""
    folder = Path(path)
    return (folder / "interactions.csv").is_file() and (folder / "items.csv").is_file()


def load_plain(path: str | Path, rating_threshold: float | None = None) -> LoggedData:
    """Load a folder in the plain format (see the module docstring).

    Args:
        path: the folder with ``interactions.csv``, ``items.csv`` and optionally ``users.csv``.
        rating_threshold: for rating logs, the rating at or above which a rating counts as
            a like (``LoggedData.binary_reward``); ignored for binary logs.

    Returns:
        The log, interactions sorted by time.

    Raises:
        DataError: a file is missing or has a bad row (file, line, field named).
    """
    folder = Path(path)
    if rating_threshold is not None:
        rating_threshold = check_float("rating_threshold", rating_threshold)
    if not folder.is_dir():
        raise DataError(folder, "not a folder (expected interactions.csv and items.csv in it)")
    for name in ("interactions.csv", "items.csv"):
        if not (folder / name).is_file():
            raise DataError(folder, f"{name} is missing; the plain format needs interactions.csv and items.csv")
    rows: dict[str, int] = {}

    # items.csv
    ipath = folder / "items.csv"
    item_ids, item_text, item_feats, item_feat_names, item_first, rows["items.csv"] = _read_entities(
        ipath, "item", allow_first_seen=True
    )
    # users.csv (optional)
    upath = folder / "users.csv"
    users_table = _read_entities(upath, "user") if upath.is_file() else None
    if users_table is not None:
        rows["users.csv"] = users_table[5]

    # interactions.csv
    path = folder / "interactions.csv"
    header = read_header(path)
    check_header(path, header, INTERACTIONS, INTERACTIONS_OPTIONAL)
    context_names = [c for c in header if c not in INTERACTIONS and c not in INTERACTIONS_OPTIONAL]
    df = read_frame(path, header, text_columns=("user", "item", "timestamp"))
    if len(df) == 0:
        raise DataError(path, "no interactions after the header: the log is empty", line=2)
    rows["interactions.csv"] = len(df)
    checks = RowChecks(path, header)
    user_raw = text_column(df, "user", checks, allow_empty=False)
    item_raw = text_column(df, "item", checks, allow_empty=False)
    reward = numeric_column(df, "reward", checks)
    ts = _timestamps(df["timestamp"], checks, "timestamp")
    propensity = None
    if "propensity" in header:
        propensity = numeric_column(
            df, "propensity", checks, lo=0.0, hi=1.0, lo_open=True, what="in (0, 1] (a logged action's probability)"
        )
    position = None
    if "position" in header:
        position = numeric_column(df, "position", checks, integer=True, lo=1, what="a 1-based slot (>= 1)")
    context = None
    if context_names:
        context = np.empty((len(df), len(context_names)), dtype=np.float32)
        for j, c in enumerate(context_names):
            context[:, j] = numeric_column(df, c, checks)
    checks.raise_first()
    del df

    item_index = _lookup(item_raw, item_ids, checks, "item", "items.csv")
    if users_table is not None:
        user_ids = users_table[0]
        user_index = _lookup(user_raw, user_ids, checks, "user", "users.csv")
    else:
        # Users seen in the log, in id order (numeric order when the ids are integers).
        uniq = np.asarray(pd.unique(pd.Series(user_raw, dtype=object)), dtype=object)
        user_ids = uniq[np.argsort(_as_ids(uniq), kind="stable")]
        user_index = _lookup(user_raw, user_ids, checks, "user", "interactions.csv")
    checks.raise_first()

    order = np.argsort(ts, kind="stable")
    inter = Interactions(
        user=user_index[order],
        item=item_index[order],
        reward=reward[order],
        timestamp=ts[order],
        propensity=None if propensity is None else propensity[order],
        position=None if position is None else position[order].astype(np.int64),
        context=None if context is None else context[order],
    )
    first = np.full(len(item_ids), np.nan)
    uniq, where = np.unique(inter.item, return_index=True)
    first[uniq] = inter.timestamp[where]
    first = np.where(np.isnan(item_first), first, item_first)

    binary = bool(np.isin(reward, (0.0, 1.0)).all())
    meta: dict[str, object] = {"format": "plain", "rows": rows, "line_endings": line_ending(path)}
    if context_names:
        meta["context_names"] = context_names
    return LoggedData(
        name=f"plain/{folder.resolve().name}",
        source=str(folder),
        interactions=inter,
        items=Items(
            ids=_as_ids(item_ids),
            text=list(item_text),
            features=item_feats,
            first_seen=first,
            feature_names=item_feat_names,
        ),
        users=Users(
            ids=_as_ids(user_ids),
            text=None if users_table is None else list(users_table[1]),
            features=None if users_table is None else users_table[2],
            feature_names=[] if users_table is None else users_table[3],
        ),
        reward_kind="binary" if binary else "rating",
        rating_threshold=None if binary else rating_threshold,
        meta=meta,
    )


def _read_entities(
    path: Path, key: str, allow_first_seen: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str], np.ndarray, int]:
    """(ids, texts, float32 features or None, feature names, first_seen (NaN if none), rows) of items/users.csv."""
    header = read_header(path)
    check_header(path, header, (key, "text"))
    reserved = {key, "text"} | ({"first_seen"} if allow_first_seen else set())
    feature_names = [c for c in header if c not in reserved]
    df = read_frame(path, header, text_columns=(key, "text") + (("first_seen",) if "first_seen" in header else ()))
    what = "items" if key == "item" else "users"
    if len(df) == 0:
        raise DataError(path, f"no {what} after the header", line=2)
    checks = RowChecks(path, header)
    ids = text_column(df, key, checks, allow_empty=False)
    texts = text_column(df, "text", checks)
    dup = pd.Series(ids, dtype=object).duplicated().to_numpy()
    checks.flag(dup, key, lambda r: f"{key} {ids[r]!r} appears twice")
    feats = None
    if feature_names:
        feats = np.empty((len(df), len(feature_names)), dtype=np.float32)
        for j, c in enumerate(feature_names):
            feats[:, j] = numeric_column(df, c, checks)
    first = np.full(len(df), np.nan)
    if allow_first_seen and "first_seen" in header:
        first = _timestamps(df["first_seen"], checks, "first_seen", allow_missing=True)
    checks.raise_first()
    return ids, texts, feats, feature_names, first, len(df)


def _timestamps(s: pd.Series, checks: RowChecks, column: str, allow_missing: bool = False) -> np.ndarray:
    """float64 Unix seconds from Unix seconds or ISO 8601 text; problems flagged on ``checks``."""
    text = s.fillna("").astype(str).str.strip()
    missing = (text == "").to_numpy()
    seconds = pd.to_numeric(text.where(~missing, None), errors="coerce").to_numpy(dtype=np.float64)
    not_number = np.isnan(seconds) & ~missing
    if not_number.any():
        iso = pd.to_datetime(text.where(not_number, None), format="ISO8601", utc=True, errors="coerce")
        iso_seconds = (iso - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
        seconds = np.where(not_number, iso_seconds, seconds)
        bad = not_number & np.isnan(iso_seconds)
        checks.flag(
            bad,
            column,
            lambda r: f"{column} {text.iloc[r]!r} is neither Unix seconds nor an ISO 8601 date/time",
        )
    else:
        bad = np.zeros(len(text), dtype=bool)
    if not allow_missing:
        checks.flag(missing, column, lambda r: f"{column} is missing")
    with np.errstate(invalid="ignore"):
        checks.flag(
            ~bad & ~missing & ~np.isfinite(seconds), column, lambda r: f"{column} {text.iloc[r]!r} is not finite"
        )
    flag_unix_seconds(seconds, checks, column, shown=lambda r: str(text.iloc[r]))
    return seconds


def _lookup(raw: np.ndarray, ids: np.ndarray, checks: RowChecks, column: str, known_in: str) -> np.ndarray:
    """int64 positions of ``raw`` ids in ``ids``; unknown ids flagged on ``checks``."""
    index = pd.Index(ids).get_indexer(pd.Index(raw))
    checks.flag(index < 0, column, lambda r: f"{column} {raw[r]!r} is not in {known_in}")
    return index.astype(np.int64)


def _as_ids(ids: np.ndarray) -> np.ndarray:
    """int64 ids when every id is written as a canonical integer, else the strings as given."""
    s = pd.Series(ids, dtype=object).astype(str)
    # Canonical integers only ("7", "-3", not "007" or "+7"), so that no id changes its spelling.
    if len(s) and s.str.fullmatch(r"-?(0|[1-9]\d{0,17})").all():
        return s.astype(np.int64).to_numpy()
    return s.to_numpy(dtype=object)
