"""Open Bandit Dataset loader (ZOZOTOWN fashion items, Saito et al. 2021).

Layout (the small sample shipped in ``obp``, and the full dataset)::

    <root>/{random,bts}/{all,men,women}/{campaign}.csv
    <root>/{random,bts}/{all,men,women}/item_context.csv

``{campaign}.csv`` (one row per impression, comma-separated, a header line): an unnamed
row-index column, ``timestamp`` (``2019-11-24 00:00:34.762830+00:00``), ``item_id`` (the
action), ``position`` (1, 2, 3 = left, centre, right slot), ``click`` (0/1),
``propensity_score`` (probability that the behaviour policy put this item in this
position), ``user_feature_0..3`` (hashed categorical values) and
``user-item_affinity_0..n-1`` (one number per item). ``item_context.csv``: an unnamed
index column, ``item_id``, ``item_feature_0`` (a number) and ``item_feature_1..3``
(hashed categorical values).

The result is a :class:`~recbandit.data.logged.LoggedData` with ``reward_kind="binary"``:

- **Interactions**: every impression, sorted by time (stable); ``reward`` is the click,
  ``propensity`` the logged propensity score, ``position`` the 1-based slot and
  ``context`` float32[N, c]: the one-hot user features (every value seen in the log,
  sorted) followed by the n user-item affinities; column names in
  ``meta["context_names"]``.
- **Items**: the rows of ``item_context.csv`` sorted by ``item_id``; ``text`` is empty
  (OBD has no item text), ``features`` is ``item_feature_0`` followed by the one-hot
  ``item_feature_1..3``; ``first_seen`` is the item's first impression (NaN if none).
- **Users**: OBD has no visitor ids, so each impression is its own user (``ids`` are the
  rows' index values); who the visitor is lives in ``interactions.context``.

The first problem in either file raises :class:`~recbandit.data.logged.DataError` naming
the file, the line and the field.

Reference: Y. Saito, S. Aihara, M. Matsutani, Y. Narita. "Open Bandit Dataset and
Pipeline: Towards Realistic and Reproducible Off-Policy Evaluation", NeurIPS 2021
Datasets and Benchmarks (arXiv:2008.07146).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from recbandit._validation import check_choice
from recbandit.data._csv import (
    RowChecks,
    check_header,
    index_of,
    line_ending,
    numeric_column,
    read_frame,
    read_header,
    text_column,
)
from recbandit.data.logged import DataError, Interactions, Items, LoggedData, Users

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
LOG_COLUMNS = ("timestamp", "item_id", "position", "click", "propensity_score")
USER_FEATURES = tuple(f"user_feature_{i}" for i in range(4))
ITEM_COLUMNS = ("item_id", "item_feature_0")
ITEM_HASHED = tuple(f"item_feature_{i}" for i in range(1, 4))
AFFINITY = "user-item_affinity_"
#: Slots of the ZOZOTOWN page (left, centre, right).
N_POSITIONS = 3
_INDEX = "<index>"  # name given to the unnamed row-index column
_AFFINITY_RE = re.compile(re.escape(AFFINITY) + r"(\d+)$")


def obd_folder(path: str | Path, policy: str | None = None, campaign: str | None = None) -> tuple[Path, str, str]:
    """(campaign folder, policy, campaign) for a root, policy or campaign folder.

    ``path`` may be the dataset root (with ``random/`` and ``bts/``), a policy folder
    (``random/``) or a campaign folder (``random/all/``). ``policy`` and ``campaign``
    default to what the folder names say, else ``"random"`` and ``"all"``.

    Raises:
        DataError: the folder (or the sub-folder asked for) does not exist.
        ValueError: ``policy`` or ``campaign`` is not a known name.
    """
    folder = Path(path)
    if policy is not None:
        check_choice("policy", policy, POLICIES)
    if campaign is not None:
        check_choice("campaign", campaign, CAMPAIGNS)
    if not folder.is_dir():
        raise DataError(folder, "not a folder (expected the Open Bandit Dataset or one of its campaign folders)")
    if (folder / "item_context.csv").is_file():  # a campaign folder
        camp = campaign or (folder.name if folder.name in CAMPAIGNS else "all")
        pol = policy or (folder.parent.name if folder.parent.name in POLICIES else "random")
        return folder, pol, camp
    camp = campaign or "all"
    if folder.name in POLICIES and not (folder / "random").is_dir():  # a policy folder
        if policy is not None and policy != folder.name:
            raise DataError(folder, f"is the {folder.name!r} policy folder, but policy={policy!r} was asked for")
        pol, target = folder.name, folder / camp
    else:  # the root
        pol = policy or "random"
        target = folder / pol / camp
    if not target.is_dir():
        raise DataError(
            target,
            "no such folder: the Open Bandit Dataset has {random,bts}/{all,men,women}/ under its root "
            f"(looked for policy {pol!r}, campaign {camp!r})",
        )
    return target, pol, camp


def load_obd(path: str | Path, policy: str | None = None, campaign: str | None = None) -> LoggedData:
    """Load one (policy, campaign) log of the Open Bandit Dataset.

    Args:
        path: the dataset root, a policy folder or a campaign folder (see :func:`obd_folder`).
        policy: "random" (uniform random) or "bts" (Bernoulli Thompson sampling);
            default: the folder's, else "random".
        campaign: "all", "men" or "women"; default: the folder's, else "all".

    Returns:
        The log, see the module docstring. ``meta`` has ``policy``, ``campaign``,
        ``rows`` per file, ``context_names`` and ``n_positions``.

    Raises:
        DataError: a file is missing or has a bad row (file, line and field named).
    """
    folder, policy, campaign = obd_folder(path, policy, campaign)
    items_path = folder / "item_context.csv"
    log_path = folder / f"{campaign}.csv"
    for p in (items_path, log_path):
        if not p.is_file():
            raise DataError(p, f"missing file: an OBD campaign folder needs {campaign}.csv and item_context.csv")
    item_ids, item_feats, item_names = _read_item_context(items_path)
    inter, context_names, index_ids, rows = _read_log(log_path, item_ids)

    first_seen = np.full(len(item_ids), np.nan)
    order = np.argsort(inter.item, kind="stable")  # rows are time-sorted: first of each item is its first row
    seen_items, first = np.unique(inter.item[order], return_index=True)
    first_seen[seen_items] = inter.timestamp[order][first]
    items = Items(
        ids=item_ids,
        text=[""] * len(item_ids),
        features=item_feats,
        first_seen=first_seen,
        feature_names=item_names,
    )
    return LoggedData(
        name=f"obd/{policy}/{campaign}",
        source=str(folder),
        interactions=inter,
        items=items,
        users=Users(ids=index_ids),
        reward_kind="binary",
        meta={
            "format": "obd",
            "policy": policy,
            "campaign": campaign,
            "rows": {log_path.name: rows, "item_context.csv": len(item_ids)},
            "context_names": context_names,
            "n_positions": N_POSITIONS,
            "line_ending": {log_path.name: line_ending(log_path), "item_context.csv": line_ending(items_path)},
        },
    )


# --------------------------------------------------------------------------- files


def _header(path: Path) -> list[str]:
    """The header with the unnamed index column (if any) named ``_INDEX``."""
    header = read_header(path)
    if header and header[0] == "":
        header[0] = _INDEX
    return header


def _read_item_context(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(sorted item ids int64[n], float32[n, f] features, feature names)."""
    header = _header(path)
    check_header(path, header, ITEM_COLUMNS + ITEM_HASHED, optional=(_INDEX,), extra=False)
    df = read_frame(path, header, text_columns=ITEM_HASHED)
    if len(df) == 0:
        raise DataError(path, "no items after the header: item_context.csv is empty", line=2)
    checks = RowChecks(path, header)
    ids = numeric_column(df, "item_id", checks, integer=True, lo=0)
    f0 = numeric_column(df, "item_feature_0", checks)
    hashed = [text_column(df, c, checks, allow_empty=False) for c in ITEM_HASHED]
    checks.raise_first()
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    dup = np.flatnonzero(ids[1:] == ids[:-1])
    if dup.size:
        rows = np.sort(order[dup[0] : dup[0] + 2])
        checks.flag(np.isin(np.arange(len(df)), rows[1:]), "item_id", lambda r: f"item_id {ids[dup[0]]} is repeated")
        checks.raise_first()
    onehot, names = _one_hot([h[order] for h in hashed], ITEM_HASHED)
    feats = np.hstack([f0[order, None].astype(np.float32), onehot])
    return ids.astype(np.int64), feats, ["item_feature_0", *names]


def _read_log(path: Path, item_ids: np.ndarray) -> tuple[Interactions, list[str], np.ndarray, int]:
    """(interactions, context column names, row index ids, rows read) of a campaign log."""
    header = _header(path)
    n_items = len(item_ids)
    affinities = [f"{AFFINITY}{j}" for j in range(n_items)]
    for name in header:
        m = _AFFINITY_RE.match(name)
        if m and int(m.group(1)) >= n_items:
            raise DataError(
                path,
                f"column {name!r} names item {m.group(1)}, but item_context.csv has {n_items} items "
                f"(affinity columns must be {AFFINITY}0..{n_items - 1})",
                line=1,
                field=name,
            )
    check_header(path, header, LOG_COLUMNS + USER_FEATURES + tuple(affinities), optional=(_INDEX,), extra=False)
    df = read_frame(path, header, text_columns=("timestamp", "propensity_score", *USER_FEATURES))
    if len(df) == 0:
        raise DataError(path, "no impressions after the header: the log is empty", line=2)
    checks = RowChecks(path, header)
    ts = _timestamps(df["timestamp"], checks)
    item = numeric_column(df, "item_id", checks, integer=True)
    position = numeric_column(
        df, "position", checks, integer=True, lo=1, hi=N_POSITIONS, what=f"an integer from 1 to {N_POSITIONS}"
    )
    click = numeric_column(df, "click", checks, integer=True, lo=0, hi=1, what="0 or 1")
    pscore = _propensity(df["propensity_score"], checks)
    users = [text_column(df, c, checks, allow_empty=False) for c in USER_FEATURES]
    aff = np.empty((len(df), n_items), np.float32)
    for j, name in enumerate(affinities):
        aff[:, j] = numeric_column(df, name, checks)
    index_ids = (
        numeric_column(df, _INDEX, checks, integer=True) if _INDEX in df.columns else np.arange(len(df), dtype=np.int64)
    )
    checks.raise_first()
    item_index = index_of(item, item_ids, checks, "item_id", "item_context.csv")
    checks.raise_first()

    onehot, names = _one_hot(users, USER_FEATURES)
    context = np.hstack([onehot, aff])
    order = np.argsort(ts, kind="stable")
    inter = Interactions(
        user=order.astype(np.int64),  # user i is row i of the file (its own visitor)
        item=item_index[order],
        reward=click[order].astype(np.float64),
        timestamp=ts[order],
        propensity=pscore[order],
        position=position[order].astype(np.int64),
        context=context[order],
    )
    return inter, [*names, *affinities], np.asarray(index_ids, dtype=np.int64), len(df)


def _timestamps(s: pd.Series, checks: RowChecks) -> np.ndarray:
    """float64 Unix seconds of ISO 8601 date/times (a time without offset is UTC)."""
    text = s.fillna("").astype(str).str.strip()
    missing = (text == "").to_numpy()
    parsed = pd.to_datetime(text.where(~missing, None), format="ISO8601", utc=True, errors="coerce")
    seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    checks.flag(missing, "timestamp", lambda r: "timestamp is missing")
    checks.flag(
        np.isnan(seconds) & ~missing,
        "timestamp",
        lambda r: f"timestamp {text.iloc[r]!r} is not a date/time like 2019-11-24 00:00:34.762830+00:00",
    )
    return seconds


def _propensity(s: pd.Series, checks: RowChecks) -> np.ndarray:
    """float64 propensities in (0, 1]; a missing, non-number, NaN, zero, negative or > 1 value is flagged."""
    text = s.fillna("").astype(str).str.strip()
    missing = (text == "").to_numpy()
    values = pd.to_numeric(text.where(~missing, None), errors="coerce").to_numpy(dtype=np.float64)
    name = "propensity_score"
    checks.flag(missing, name, lambda r: f"{name} is missing (off-policy estimators need every propensity)")
    checks.flag(np.isnan(values) & ~missing, name, lambda r: f"{name} {text.iloc[r]!r} is not a number")
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(values) & ((values <= 0) | (values > 1) | ~np.isfinite(values))
    checks.flag(bad, name, lambda r: f"{name} {text.iloc[r]!r} is out of range: must be in (0, 1]")
    return values


def _one_hot(columns: list[np.ndarray], names: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """float32[N, sum of categories] one-hot of categorical columns, categories sorted; and column names."""
    blocks, out_names = [], []
    for values, name in zip(columns, names, strict=True):
        cats, inverse = np.unique(values.astype(str), return_inverse=True)
        block = np.zeros((len(values), len(cats)), np.float32)
        block[np.arange(len(values)), inverse.reshape(-1)] = 1.0
        blocks.append(block)
        out_names += [f"{name}={c}" for c in cats]
    return np.hstack(blocks), out_names


__all__ = ["CAMPAIGNS", "N_POSITIONS", "POLICIES", "load_obd", "obd_folder"]
