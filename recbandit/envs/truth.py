"""The ground truth of a logged-data env: split, fit the candidate models, keep the best on validation, report.

``fit_truth(data, TruthConfig(...))`` splits the log (``recbandit.envs.fidelity.make_split``:
per user by default, or by global time), fits each candidate model on the fitting part
minus its validation rows, keeps the one with the lowest log loss on the validation mixture
(never the held-out rows), refits it on the whole fitting part, and measures it on the
held-out mixture beside two baselines (``recbandit.envs.fidelity``). The result is a
``TruthModel``: a ``LatentFactorUserModel`` (numpy at simulation time) with its
``fit_report``.

Candidate models (``MODELS``):

- ``"mf"``: ID embeddings + linear maps of user and item features, sampled unrated items
  (``recbandit.envs.twotower`` with ``hidden=0``);
- ``"two-tower"``: the same with one-hidden-layer ReLU towers on the features (``hidden=64``);
- ``"logistic-mf"``: the logistic MF of ``recbandit.envs.fitted`` fitted on the rated rows
  only, ignoring unrated items (the earlier truth; a candidate of ``"auto"`` only where
  ``neg_ratio == 0``, since it cannot model which items a user chooses);
- ``"auto"``: the best of the candidates on validation log loss.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._io import atomic_write_bytes
from recbandit._validation import check_choice, check_float, check_int, check_seed
from recbandit.data.logged import LoggedData
from recbandit.envs.fidelity import (
    PROTOCOLS,
    Mixture,
    Split,
    build_mixture,
    fidelity_scores,
    item_rate,
    make_split,
    pair_keys,
    platt,
    popularity,
    scores,
)
from recbandit.envs.fitted import LogisticMFConfig, _fit_once, side_features
from recbandit.envs.twotower import TwoTowerConfig, fit_two_tower
from recbandit.envs.user_models import LatentFactorUserModel

MODELS = ("auto", "mf", "two-tower", "logistic-mf")
#: Hyper-parameters of the sampled-negative candidates (``user_ids`` and ``seed`` come from ``TruthConfig``).
CANDIDATES: dict[str, TwoTowerConfig] = {
    "mf": TwoTowerConfig(factors=32, hidden=0, l2=0.01, lr=0.003),
    "two-tower": TwoTowerConfig(factors=32, hidden=64, l2=0.01, lr=0.005),
}

MEANING = (
    "P(like | the user is shown the item), a shown item being one the user rated with probability 1/(1+r) "
    "and one they never rated (uniformly) with probability r/(1+r), r = neg_ratio; a never-rated item is "
    "not a like (unrated items are not certain dislikes: r sets how often a recommended item the user "
    "would not have chosen is ignored)"
)


@dataclass(frozen=True)
class TruthConfig:
    """How the ground truth is fitted and measured.

    Attributes:
        model: one of ``MODELS`` ("auto": the best candidate on validation log loss).
        protocol: "per-user" (each user's last ``holdout`` share held out) or "global"
            (rows after the ``1 - holdout`` time quantile held out).
        holdout: share held out for the fidelity report (and the env's timeline).
        val_share: share of the fitting part carved out for validation (same protocol).
        neg_ratio: unrated items per rated row, in fitting and in the evaluation mixture
            (0: every row is an impression and unrated items are not modelled).
        user_ids: per-user parameters (False when users are known only by features).
        calibrate: rescale the chosen model's logit, ``a + b * logit``, with ``(a, b)`` fitted
            on the validation mixture by the model fitted without it (Platt scaling).
        eval_seed: seed of the evaluation and validation mixtures' unrated draws.
        seed: seed of the fits (initialisation and training negatives).
        logistic: settings of the "logistic-mf" candidate.
    """

    model: str = "auto"
    protocol: str = "per-user"
    holdout: float = 0.2
    val_share: float = 0.1
    neg_ratio: int = 4
    user_ids: bool = True
    calibrate: bool = True
    eval_seed: int = 0
    seed: int = 0
    logistic: LogisticMFConfig = field(default_factory=LogisticMFConfig)

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        check_choice("protocol", self.protocol, PROTOCOLS)
        check_float("holdout", self.holdout, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
        check_float("val_share", self.val_share, min_value=0.0, max_value=0.5, min_inclusive=False)
        check_int("neg_ratio", self.neg_ratio, min_value=0, max_value=1000)
        check_seed("eval_seed", self.eval_seed)
        check_seed("seed", self.seed)


class TruthModel(LatentFactorUserModel):
    """A fitted ground truth: ``expected_reward`` in numpy, plus its split and fit report.

    Attributes:
        split: which rows were held out / validation (``recbandit.envs.fidelity.Split``).
        fit_report: the fidelity report (see ``fit_truth``).
        name: the chosen candidate.
    """

    def __init__(self, user_table: np.ndarray, item_table: np.ndarray, b0: float, *, split: Split, name: str) -> None:
        f = user_table.shape[1] - 1
        super().__init__(
            np.column_stack([user_table[:, :f], user_table[:, f]]),
            np.column_stack([item_table[:, :f], np.ones(len(item_table))]),
            item_table[:, f],
            global_bias=b0,
        )
        self.split = split
        self.name = name
        self.fit_report: dict[str, Any] = {}

    def pair_reward(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64[N] expected reward of N (user, item) pairs (one item per user)."""
        return self.expected_reward(np.asarray(users), np.asarray(items)[:, None])[:, 0]


def _tables_from_logistic(out: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    return (
        np.column_stack([out["U"], out["bu"]]),
        np.column_stack([out["V"], out["bi"]]),
        float(out["b0"]),
    )


def _predict(tables: tuple[np.ndarray, np.ndarray, float], users: np.ndarray, items: np.ndarray) -> np.ndarray:
    U, V, b0 = tables
    f = U.shape[1] - 1
    z = b0 + U[users, f] + V[items, f] + np.einsum("nf,nf->n", U[users, :f], V[items, :f])
    return 1.0 / (1.0 + np.exp(-z))


def _fit_candidate(
    name: str,
    config: TruthConfig,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: Mixture,
    whole: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    n_users: int,
    n_items: int,
    user_side: np.ndarray | None,
    item_side: np.ndarray | None,
    epochs: int | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray, float], dict[str, Any]]:
    """Fit one candidate on ``train`` (early stopping on ``val``) or, with ``epochs``, on ``whole``."""
    if name == "logistic-mf":
        cfg = replace(config.logistic, seed=config.seed, user_ids=config.user_ids)
        val_rated = (val.users[val.rated], val.items[val.rated], val.labels[val.rated])
        if epochs is None:
            out, best, loss, run = _fit_once(
                *train, n_users, n_items, user_side, item_side, cfg, cfg.max_epochs, val_rated
            )
        else:
            assert whole is not None
            out, best, loss, run = _fit_once(*whole, n_users, n_items, user_side, item_side, cfg, epochs, None)
        return _tables_from_logistic(out), {"best_epoch": best, "epochs_run": run, "config": asdict(cfg)}
    tt = replace(CANDIDATES[name], seed=config.seed, user_ids=config.user_ids, refit=False)
    if epochs is None:
        fit = fit_two_tower(train, val, n_users, n_items, user_side=user_side, item_side=item_side,
                            neg_ratio=config.neg_ratio, config=tt)  # fmt: skip
    else:
        assert whole is not None
        fit = fit_two_tower(whole, None, n_users, n_items, user_side=user_side, item_side=item_side,
                            neg_ratio=config.neg_ratio, config=replace(tt, max_epochs=epochs))  # fmt: skip
    tables = (fit.user_table, fit.item_table, fit.b0)
    return tables, {"best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run, "config": asdict(tt)}



def fit_truth(
    data: LoggedData,
    config: TruthConfig | None = None,
    *,
    item_side: np.ndarray | None = None,
    user_side: np.ndarray | None = None,
    threshold: float | None = None,
) -> TruthModel:
    """Fit the ground truth on the fitting part of ``data``; report its fidelity on the held-out part.

    Args:
        data: the log (users and items indexed ``0..n-1``).
        config: how to split, fit and measure (``TruthConfig()`` if None).
        item_side: float32[n_items, h] item features (text embedding, genres), or None.
        user_side: float32[n_users, g] user features, or None.
        threshold: rating threshold for rating logs (``data.rating_threshold`` if None).

    Returns:
        The model. ``model.fit_report`` holds ``dataset``; ``protocol`` (name, holdout,
        val_share, split_time); ``exposure`` (neg_ratio, eval_seed, meaning, how unrated
        items are drawn); ``rows`` (fit, val, held_out, held_out_likes, eval_unrated);
        ``truth`` (name, config, best_epoch, epochs_run, selection = each candidate's
        validation log loss and AUC, seconds); ``model``, ``popularity``, ``item_rate``
        (``fidelity.scores`` on the held-out mixture); ``segments``; and ``split_time``,
        ``train_rows``, ``test_rows``, ``train_max_timestamp``, ``train_positive_rate``,
        ``test_positive_rate``.

    Raises:
        ValueError: the fitting part has no rows of one class, or bad side features.
    """
    config = TruthConfig() if config is None else config
    start = time.perf_counter()
    inter = data.interactions
    n_users, n_items = len(data.users), len(data.items)
    user_side = side_features("user_side", user_side, n_users)
    item_side = side_features("item_side", item_side, n_items)
    labels = data.binary_reward(threshold).astype(np.float64)
    split = make_split(inter.user, inter.timestamp, config.protocol, config.holdout, config.val_share)
    fit_rows, train_rows, held = split.fit, split.train, split.held_out
    if fit_rows.sum() < 2 or labels[fit_rows].min() == labels[fit_rows].max():
        raise ValueError(
            f"{data.name}: the fitting part has {int(fit_rows.sum())} rows with {int(labels[fit_rows].sum())} likes; "
            "need rows of both classes (a longer log, or a smaller holdout)"
        )
    if held.sum() == 0:
        raise ValueError(f"{data.name}: holdout {config.holdout} holds out no row (users have too few rows)")

    def rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return inter.user[mask].astype(np.int64), inter.item[mask].astype(np.int64), labels[mask]

    fit_keys = pair_keys(inter.user[fit_rows], inter.item[fit_rows], n_items)
    all_keys = pair_keys(inter.user, inter.item, n_items)
    r = config.neg_ratio
    val_mix = build_mixture(np.random.default_rng([config.eval_seed, 2]), *rows(split.val), r, n_items, fit_keys)
    eval_mix = build_mixture(np.random.default_rng([config.eval_seed, 1]), *rows(held), r, n_items, all_keys)
    fit_mix = build_mixture(np.random.default_rng([config.eval_seed, 3]), *rows(fit_rows), r, n_items, fit_keys)

    names = [config.model] if config.model != "auto" else [*CANDIDATES, *(["logistic-mf"] if r == 0 else [])]
    selection = []
    best: tuple[float, str, dict[str, Any], np.ndarray] | None = None
    for name in names:
        tables, info = _fit_candidate(
            name, config, rows(train_rows), val_mix, None, n_users, n_items, user_side, item_side
        )
        pv = _predict(tables, val_mix.users, val_mix.items)
        s = scores(val_mix, pv)
        selection.append({"name": name, "val_log_loss": s["log_loss"], "val_auc": s["auc"],
                          "val_user_auc": s["user_auc"], "best_epoch": info["best_epoch"]})  # fmt: skip
        if best is None or s["log_loss"] < best[0]:
            best = (s["log_loss"], name, info, pv)
    assert best is not None
    val_loss, chosen, info, pv = best
    # Platt scaling on the validation mixture, by the model that did not see it. A validation
    # part with one class only (a tiny log) cannot calibrate: the logistic fit would send every
    # probability to 0 or 1, so the model stays as fitted (recorded as a = 0, b = 1).
    pc = np.clip(pv, 1e-7, 1 - 1e-7)
    two_classes = 0 < val_mix.labels.sum() < len(val_mix.labels)
    a, b = platt(np.log(pc / (1 - pc)), val_mix.labels) if config.calibrate and two_classes else (0.0, 1.0)
    # Refit the chosen candidate on the whole fitting part for its best number of epochs.
    tables, _ = _fit_candidate(chosen, config, rows(train_rows), val_mix, rows(fit_rows), n_users, n_items,
                               user_side, item_side, epochs=max(int(info["best_epoch"]), 1))  # fmt: skip
    U, V, b0 = tables
    U, V = U.copy(), V.copy()
    U *= b  # every term of the logit but b0 is a product with one user-table entry...
    V[:, -1] *= b  # ...except the item bias
    tables = (U, V, a + b * b0)
    model = TruthModel(*tables, split=split, name=chosen)
    fit_users = np.bincount(inter.user[fit_rows], minlength=n_users) > 0
    fit_items = np.bincount(inter.item[fit_rows], minlength=n_items) > 0
    predictions = {
        "model": model.pair_reward(eval_mix.users, eval_mix.items),
        "popularity": popularity(fit_mix, n_items)[eval_mix.items],
        "item_rate": item_rate(fit_mix, n_items)[eval_mix.items],
    }
    report: dict[str, Any] = {
        "dataset": data.name,
        # What a positive label is called in messages.
        "positive": "likes" if data.reward_kind == "rating" else "clicks" if "obd" in data.name else "positives",
        "protocol": {
            "name": config.protocol,
            "holdout": config.holdout,
            "val_share": config.val_share,
            "split_time": split.split_time,
        },  # fmt: skip
        "exposure": {
            "neg_ratio": r,
            "eval_seed": config.eval_seed,
            "meaning": MEANING if r else "P(like | shown): every logged row is an impression",
            "fit_unrated": "redrawn each epoch, uniform over items without a fitting-part row of the user",
            "eval_unrated": f"{r} per held-out row, uniform with replacement over items the user never rated in "
            f"the log, numpy default_rng([{config.eval_seed}, 1])",
        },
        "rows": {
            "fit": int(fit_rows.sum()),
            "val": int(split.val.sum()),
            "held_out": int(held.sum()),
            "held_out_likes": int(labels[held].sum()),
            "eval_unrated": int((~eval_mix.rated).sum()),
            "users_fit": int(fit_users.sum()),
            "items_fit": int(fit_items.sum()),
        },
        "truth": {
            "name": chosen,
            "config": info["config"],
            "best_epoch": info["best_epoch"],
            "epochs_run": info["epochs_run"],
            "val_log_loss": val_loss,
            "selection": selection,
            "calibration": {"a": a, "b": b},
        },  # fmt: skip
        **fidelity_scores(eval_mix, predictions, fit_users, fit_items),
        "split_time": split.split_time,
        "train_rows": int(fit_rows.sum()),
        "test_rows": int(held.sum()),
        "train_max_timestamp": float(inter.timestamp[fit_rows].max()),
        "train_positive_rate": float(labels[fit_rows].mean()),
        "test_positive_rate": float(labels[held].mean()),
    }
    # The segments also under their own keys, as in the logistic MF report (``fitted.py``).
    report.update(report["segments"])
    report["truth"]["seconds"] = time.perf_counter() - start
    model.fit_report = report
    return model


# --------------------------------------------------------------------------- on-disk cache

#: Bump when a change to the fit changes its result: old cache entries are then ignored.
TRUTH_CACHE_VERSION = 2


def truth_cache_dir() -> Path | None:
    """Where fitted truths are cached: ``$RECBANDIT_TRUTH_CACHE`` (``0``/``off``: no cache), else ``<cache>/truth``."""
    env = os.environ.get("RECBANDIT_TRUTH_CACHE")
    if env is not None and env.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    if env:
        return Path(env).expanduser()
    from recbandit.data.fetch import cache_dir

    return cache_dir() / "truth"


def _cache_key(data: LoggedData, labels: np.ndarray, config: TruthConfig, sides: tuple[Any, Any]) -> str:
    import torch

    h = hashlib.sha256()
    meta = (TRUTH_CACHE_VERSION, data.name, len(data.users), len(data.items), repr(config), torch.__version__,
            np.__version__)  # fmt: skip
    h.update(repr(meta).encode())
    inter = data.interactions
    for arr in (inter.user, inter.item, inter.timestamp, labels, *(x for x in sides if x is not None)):
        a = np.ascontiguousarray(arr)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


def fit_truth_cached(
    data: LoggedData,
    config: TruthConfig | None = None,
    *,
    item_side: np.ndarray | None = None,
    user_side: np.ndarray | None = None,
    threshold: float | None = None,
) -> TruthModel:
    """``fit_truth`` through an on-disk cache keyed by every input (rows, labels, features, config, versions).

    A cached truth is bit-identical to a fresh fit (its float64 tables are stored as they
    are); ``fit_report["truth"]["cache"]`` says whether it was read or written. An
    unreadable entry is refitted; an unwritable cache folder only skips the write.
    """
    config = TruthConfig() if config is None else config
    folder = truth_cache_dir()
    if folder is None:
        return fit_truth(data, config, item_side=item_side, user_side=user_side, threshold=threshold)
    labels = data.binary_reward(threshold).astype(np.float64)
    path = folder / f"{_cache_key(data, labels, config, (item_side, user_side))}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            split = Split(str(z["protocol"]), z["held_out"], z["val"],
                          None if np.isnan(z["split_time"]) else float(z["split_time"]))  # fmt: skip
            model = TruthModel.__new__(TruthModel)
            LatentFactorUserModel.__init__(model, z["user_factors"], z["item_factors"], z["item_bias"])
            model.split, model.name = split, str(z["name"])
            model.fit_report = json.loads(str(z["report"]))
        model.fit_report["truth"]["cache"] = f"read {path}"
        return model
    except (OSError, ValueError, KeyError):
        pass
    model = fit_truth(data, config, item_side=item_side, user_side=user_side, threshold=threshold)
    buf = io.BytesIO()
    np.savez(
        buf,
        user_factors=model.user_factors,
        item_factors=model.item_factors,
        item_bias=model.item_bias,
        held_out=model.split.held_out,
        val=model.split.val,
        split_time=np.nan if model.split.split_time is None else model.split.split_time,
        protocol=model.split.protocol,
        name=model.name,
        report=json.dumps(model.fit_report, default=float),
    )
    try:
        atomic_write_bytes(path, buf.getvalue())
        model.fit_report["truth"]["cache"] = f"written {path}"
    except OSError:
        model.fit_report["truth"]["cache"] = None  # a read-only cache folder only costs the next fit
    return model


__all__ = [
    "CANDIDATES",
    "MODELS",
    "TRUTH_CACHE_VERSION",
    "TruthConfig",
    "TruthModel",
    "fit_truth",
    "fit_truth_cached",
    "truth_cache_dir",
]
