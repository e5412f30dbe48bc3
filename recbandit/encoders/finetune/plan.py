"""Which rows a fit reads (:func:`plan_rows`), all strictly before the split time.

``split_time`` cuts the log: rows with ``timestamp < split_time`` are the training period;
nothing at or after it is read (rewards, items, users of later rows are never looked at).
The last ``validation_fraction`` of the training period (by time) is the validation slice
for early stopping; the fit rows are the rest, optionally a seeded sample of
``max_train_rows`` of them. The histories are the liked fit-period rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from recbandit.data.logged import LoggedData
from recbandit.encoders.finetune.config import FineTuneConfig
from recbandit.encoders.finetune.features import binary_labels


@dataclass
class FitPlan:
    """Rows of a fit, all before the split time.

    ``probe_rows`` (heads-only phase; empty without it), ``fit_rows`` (the mode's own
    training), ``trained_rows`` (their union), validation and history rows.
    """

    probe_rows: np.ndarray
    fit_rows: np.ndarray
    trained_rows: np.ndarray
    val_rows: np.ndarray
    history_rows: np.ndarray
    labels: np.ndarray
    fit_items: np.ndarray
    max_ts: float


def plan_rows(data: LoggedData, split_time: float, cfg: FineTuneConfig, rng: np.random.Generator) -> FitPlan:
    """Choose the fit, validation and history rows, all strictly before ``split_time``."""
    inter = data.interactions
    if len(inter) == 0:
        raise ValueError(f"data {data.name!r} has no interactions")
    ts = inter.timestamp
    period = np.flatnonzero(ts < split_time)
    if len(period) == 0:
        raise ValueError(
            f"empty training period: no interaction of {data.name!r} before split_time={split_time} "
            f"(the log starts at {float(ts.min())})"
        )
    # Time order (stable: equal timestamps keep log order); only training-period rows are read.
    period = period[np.argsort(ts[period], kind="stable")]
    labels = np.full(len(inter), np.nan)  # rows after the split stay NaN: never read
    labels[period] = binary_labels(data, cfg.rating_threshold, period)
    bad = period[~np.isin(labels[period], (0.0, 1.0))]
    if len(bad):
        raise ValueError(f"rewards must be 0/1 for fine-tuning; row {int(bad[0])} has reward {inter.reward[bad[0]]!r}")
    n_val = math.ceil(cfg.validation_fraction * len(period))
    if cfg.max_validation_rows is not None:
        n_val = min(n_val, cfg.max_validation_rows)
    if n_val >= len(period):
        raise ValueError(f"the training period has {len(period)} rows: too few to hold out {n_val} for validation")
    fit_period = period[: len(period) - n_val]
    val_rows = period[len(period) - n_val :]
    fit_rows = fit_period
    if cfg.max_train_rows is not None and cfg.max_train_rows < len(fit_period):
        fit_rows = fit_period[np.sort(rng.choice(len(fit_period), size=cfg.max_train_rows, replace=False))]
    if cfg.negatives == 0 and len(np.unique(labels[fit_rows])) < 2:
        raise ValueError(
            f"the {len(fit_rows)} fit rows have only {'likes' if labels[fit_rows[0]] == 1 else 'non-likes'}; "
            "the objective needs both (or negatives > 0)"
        )
    history_rows = fit_period[labels[fit_period] == 1] if cfg.user_history else fit_period[:0]
    probe_rows = fit_period if cfg.probe_epochs else fit_period[:0]
    trained = np.union1d(probe_rows, fit_rows)
    read = np.concatenate([trained, val_rows, history_rows])
    return FitPlan(
        probe_rows=probe_rows,
        fit_rows=fit_rows,
        trained_rows=trained,
        val_rows=val_rows,
        history_rows=np.sort(history_rows),
        labels=labels,
        fit_items=np.unique(inter.item[trained]),
        max_ts=float(ts[read].max()),
    )
