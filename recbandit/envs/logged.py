"""Logged-v0: anyone's own log as an env (any folder ``recbandit.data.detect`` knows).

``path=`` may be a plain-format folder (``interactions.csv``, ``items.csv``, optionally
``users.csv``), a MovieLens folder (100K or CSV format) or an Open Bandit Dataset folder.
The build is MovieLens-v0's (``recbandit.envs.movielens``) with the loader
``load_log``: split under the ``protocol`` (each user's last ``holdout`` share held out by
default), fit the ground truth on the fitting part (``recbandit.envs.truth``), replay the
held-out rows. An OBD folder goes through OBD-v0's build (every row a visitor known by its
logged context; global time split).

The like rule (graded rewards). A binary log's reward is the like. A graded reward (a
rating, a play count, a watch time) becomes a like when it is at or above
``like_threshold``; its default is the format's (MovieLens: 4.0; a plain-format folder
loaded with a ``rating_threshold``: that one) and otherwise the median of the log's
rewards. The rule is in ``fit_report["like_rule"]``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._validation import check_float
from recbandit.data.logged import LoggedData
from recbandit.encoders.base import Encoder
from recbandit.envs.bandit import BanditEnv
from recbandit.envs.batched import BatchedBanditEnv
from recbandit.envs.movielens import MovieLensEnvConfig, make_config, movielens_problem
from recbandit.envs.problem import BanditProblem

ENV_NAME = "Logged-v0"


def like_rule(data: LoggedData, like_threshold: float | None = None) -> tuple[float | None, str]:
    """The threshold that makes a graded reward a like, and the rule in words.

    Args:
        data: the log.
        like_threshold: an explicit threshold, or None for the default of the format.

    Returns:
        (threshold or None for a binary log, description).
    """
    if data.reward_kind == "binary":
        return None, "binary reward: reward 1 is a like"
    if like_threshold is not None:
        thr = check_float("like_threshold", like_threshold)
        return thr, f"reward >= {thr:g} is a like (like_threshold)"
    if data.rating_threshold is not None:
        return float(data.rating_threshold), f"reward >= {data.rating_threshold:g} is a like (the format's rule)"
    thr = float(np.median(data.interactions.reward))
    return thr, f"reward >= {thr:g} is a like (the median reward; override with like_threshold=)"


def load_log(path: str | Path, like_threshold: float | None = None) -> LoggedData:
    """Load any detected log folder and set its like rule (``like_rule``).

    Returns:
        The log; ``rating_threshold`` is the like threshold for graded logs, and
        ``meta["like_rule"]`` says which rule applies.

    Raises:
        DataError: the folder is not a known format, or a file has a bad row.
        ValueError: the like rule leaves only likes or only non-likes.
    """
    from recbandit.data.detect import load

    data = load(path)
    thr, rule = like_rule(data, like_threshold)
    if thr is not None:
        data = replace(data, rating_threshold=thr)
    likes = data.binary_reward()
    if len(likes) and likes.min() == likes.max():
        raise ValueError(
            f"{data.source}: with the like rule '{rule}' every reward is a {'like' if likes[0] else 'non-like'}; "
            "give like_threshold= between the smallest and the largest reward"
        )
    return replace(data, meta={**data.meta, "like_rule": rule})


def _is_obd(path: Path) -> bool:
    from recbandit.data.detect import detect_format

    return detect_format(path) == "obd"


def _resolve(path: str | Path | None) -> Path:
    if path is None:
        raise ValueError(
            f"{ENV_NAME} needs path= (a log folder: plain format, MovieLens 100K or CSV, or Open Bandit Dataset)"
        )
    from recbandit.data.fetch import find_dataset

    folder = find_dataset(path)
    if not folder.is_dir():
        raise ValueError(f"{ENV_NAME}: path {str(path)!r} is not a folder")
    return folder


def logged_problem(
    path: str | Path | None, encoder: Encoder | str | None = None, **kwargs: Any
) -> tuple[Any, BanditProblem, dict[str, Any]]:
    """(config, problem, fit report) of ``Logged-v0`` on a folder.

    Args:
        path: the log folder.
        encoder: the contexts' encoder (spec, ``Encoder`` or None).
        **kwargs: env arguments (MovieLens-v0's, with ``like_threshold`` for
            ``rating_threshold``; OBD-v0's for an OBD folder).
    """
    folder = _resolve(path)
    if _is_obd(folder):
        from recbandit.envs.obd import make_config as obd_config
        from recbandit.envs.obd import obd_problem

        kwargs = dict(kwargs)
        if kwargs.pop("protocol", "global") != "global":
            raise ValueError(
                f"{folder}: an OBD log has one row per visitor, so it is split by time only (protocol=global)"
            )
        if kwargs.pop("neg_ratio", 0) != 0:
            raise ValueError(f"{folder}: every OBD row is an impression; neg_ratio must be 0")
        if "holdout" in kwargs:
            kwargs["split_quantile"] = 1.0 - check_float("holdout", kwargs.pop("holdout"), min_value=0.0, max_value=1.0)
        obd_cfg = obd_config(folder, **kwargs)
        enc = encoder if isinstance(encoder, Encoder) else None
        if encoder is not None and enc is None:
            raise ValueError(f"{ENV_NAME} on an OBD folder takes an Encoder object as encoder=, got {encoder!r}")
        problem, report = obd_problem(obd_cfg, enc)
        report = copy.deepcopy(report)
        report["like_rule"] = "binary reward: a click is a like"
        return obd_cfg, problem, report
    if "rating_threshold" in kwargs:
        raise ValueError(f"{ENV_NAME} calls the like threshold like_threshold=, not rating_threshold=")
    thr = kwargs.pop("like_threshold", None)
    threshold = math.nan if thr is None else check_float("like_threshold", thr)  # math.nan: one object, cache hits
    config: MovieLensEnvConfig = make_config(folder, env_name=ENV_NAME, **kwargs)
    config = replace(config, rating_threshold=threshold, loader="any", noun="items")
    problem, report = movielens_problem(config, encoder)
    report = copy.deepcopy(report)
    from recbandit.envs.movielens import _load

    data = _load(config.path, config.rating_threshold, "any")
    report["like_rule"] = data.meta["like_rule"]
    report["simulation"]["format"] = data.meta.get("format")
    return config, problem, report


class LoggedBanditEnv(BanditEnv):
    """Logged-v0: items of any logged folder recommended to its users, one user per step.

    ## Description
    ``path=`` is any folder ``recbandit.data.detect`` knows: the plain format (your own
    log: ``interactions.csv`` with ``user,item,reward,timestamp``, ``items.csv`` with
    ``item,text`` and optional numeric feature columns, optional ``users.csv`` with
    ``user,text`` and feature columns; see ``recbandit.data.plain``), MovieLens (100K or
    CSV format) or the Open Bandit Dataset. The log is split under ``protocol`` (each
    user's last ``holdout`` share held out by default); the truth is fitted on the rest and
    the env replays the held-out rows' users, offering K items drawn uniformly from the
    items available by then. An OBD folder is OBD-v0 (see ``recbandit.envs.obd``).

    ## User model (ground truth)
    As MovieLens-v0 (``recbandit.envs.truth``: the best model on validation, trained with
    ``neg_ratio`` sampled unrated items per row), with the items' text (through
    ``truth_encoder``) and feature columns, and the users' feature columns and text, as
    side features. A graded reward becomes a like by the like rule (module docstring);
    ``fit_report`` holds the fidelity report, the like rule and ``zero_context_share``.

    ## Action Space
    ``Discrete(k)``.

    ## Observation Space
    ``Dict``: ``user`` float32[d_u], ``items`` float32[k, d_i], ``item_ids`` int64[k].
    Items: text through ``encoder`` plus feature columns, PCA to ``context_dim``. Users
    (``user_context="auto"``): profile text and feature columns where ``users.csv`` has
    them, else the mean context of the items the user liked (or rated) in the fitting part.

    ## Rewards
    Bernoulli(p(like)) of the chosen item.

    ## Starting State
    Decision 0 at the first held-out row's time.

    ## Episode End
    Never; use the runner's horizon or ``TimeLimit``.

    ## Arguments
    ``path`` (required), ``like_threshold`` (None = the format's rule), and MovieLens-v0's
    arguments (``k``, ``context_dim``, ``user_arrival``, ``user_context``, ``cold_window``,
    ``encoder_dim``, ``encoder``, ``truth_encoder``, ``model``/``truth``, ``protocol``,
    ``holdout``, ``val_share``, ``neg_ratio``, ``eval_seed``, ``fit_seed``, ...); for an OBD
    folder, OBD-v0's.

    ## Version History
    * v0: initial version (issue 10).
    """

    env_name = ENV_NAME

    def __init__(self, path: str | Path | None = None, encoder: Encoder | str | None = None, **kwargs: Any) -> None:
        self.config, problem, self.fit_report = logged_problem(path, encoder, **kwargs)
        super().__init__(problem)


class LoggedBatchedEnv(BatchedBanditEnv):
    """Logged-v0 with ``batch_size`` users per step (see ``LoggedBanditEnv``, ``BatchedBanditEnv``)."""

    env_name = ENV_NAME

    def __init__(
        self,
        batch_size: int = 256,
        path: str | Path | None = None,
        encoder: Encoder | str | None = None,
        **kwargs: Any,
    ) -> None:
        self.config, problem, self.fit_report = logged_problem(path, encoder, **kwargs)
        super().__init__(problem, batch_size=batch_size)


__all__ = ["LoggedBanditEnv", "LoggedBatchedEnv", "like_rule", "load_log", "logged_problem"]
