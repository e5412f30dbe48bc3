"""Logs -> OPE arrays: a ``LoggedData`` with propensities, or a runner's own log."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np


def logged_arrays(data: Any) -> dict[str, np.ndarray]:
    """OPE arrays of a ``LoggedData`` with propensities (e.g. an Open Bandit Dataset log).

    Returns:
        ``rewards`` float64[n] (the binary reward), ``actions`` int64[n] (item indices),
        ``pscore`` float64[n], ``positions`` int64[n] (0-based; zeros where the log has
        none), ``context`` float64[n, c] (``(n, 0)`` where none).

    Raises:
        ValueError: the log has no propensities.
    """
    inter = data.interactions
    if inter.propensity is None:
        raise ValueError(f"{data.name}: the log has no propensities, so off-policy estimators cannot use it")
    n = len(inter)
    return {
        "rewards": np.asarray(data.binary_reward(), dtype=np.float64),
        "actions": np.asarray(inter.item, dtype=np.int64),
        "pscore": np.asarray(inter.propensity, dtype=np.float64),
        "positions": np.zeros(n, np.int64) if inter.position is None else np.asarray(inter.position) - 1,
        "context": np.zeros((n, 0)) if inter.context is None else np.asarray(inter.context, dtype=np.float64),
    }


def run_log_arrays(log: Any) -> dict[str, np.ndarray]:
    """OPE arrays of a runner log: a ``RunLog``, its dict, or the ``.npz`` a sweep saves with ``save_logs``.

    Returns:
        ``rewards`` float64[T], ``actions`` int64[T] (the chosen candidate's slot), ``items``
        int64[T] (its catalogue index), ``pscore`` float64[T] (the agent's probability of the
        chosen candidate), ``users`` int64[T].

    Raises:
        ValueError: a propensity is missing (NaN) or outside (0, 1].
    """
    if isinstance(log, (str, os.PathLike)):
        with np.load(Path(log)) as npz:
            arrays: Mapping[str, Any] = {k: npz[k] for k in npz.files}
    elif isinstance(log, (bytes, bytearray)):
        with np.load(io.BytesIO(log)) as npz:
            arrays = {k: npz[k] for k in npz.files}
    elif is_dataclass(log) and not isinstance(log, type):
        arrays = asdict(log)
    else:
        arrays = dict(log)
    missing = [k for k in ("rewards", "actions", "items", "propensities", "users") if k not in arrays]
    if missing:
        raise ValueError(f"not a run log: missing {', '.join(missing)}")
    pscore = np.asarray(arrays["propensities"], dtype=np.float64)
    bad = ~((pscore > 0) & (pscore <= 1))
    if bad.any():
        i = int(bad.argmax())
        raise ValueError(
            f"decision {i} has propensity {pscore[i]}: the agent must report a probability in (0, 1] "
            f"({int(bad.sum())} decisions affected)"
        )
    return {
        "rewards": np.asarray(arrays["rewards"], dtype=np.float64),
        "actions": np.asarray(arrays["actions"], dtype=np.int64),
        "items": np.asarray(arrays["items"], dtype=np.int64),
        "pscore": pscore,
        "users": np.asarray(arrays["users"], dtype=np.int64),
    }
