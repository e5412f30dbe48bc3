"""User models fitted on logs: logistic matrix factorisation with side features.

The simulator's ground truth for logged data. ``fit_logistic_mf`` splits a ``LoggedData``
by time (``LoggedData.split_by_time``), fits on the rows before the split only, and
scores the rows at or after it (the evaluation period) next to a popularity baseline.
The result is a ``FittedUserModel``: a ``LatentFactorUserModel`` (numpy at simulation
time, no torch in the hot path) that also carries the fit report.

Model (binary reward ``y`` of user ``u`` for item ``i``)::

    logit p(y = 1 | u, i) = b0 + bu_u + bi_i + <P_u + s_u A, Q_i + x_i B>
    with bu_u = beta_u + s_u c and bi_i = beta_i + x_i d

``P``, ``Q``, ``beta`` are per-id parameters, ``s_u`` user side features (e.g.
demographics, or a logged context), ``x_i`` item side features (text embedding from an
``Encoder`` plus genres). A user or item with no row in the training period keeps only
its side-feature part (its id parameters are exactly 0), so the model scores every
(user, item) pair, including users and items that first appear later.

What the expected reward means. MovieLens ratings exist only for films the user chose to
watch and rate. The model is fitted on the observed ratings (like = rating >= threshold),
so ``expected_reward(u, i)`` is ``P(like | u consumes i)``: the probability that the user
likes the item *given that they watch it*. The simulated user always consumes the
recommended item and reports whether they liked it. Unrated pairs are not negatives: in
MovieLens an unrated film was mostly never seen, so labelling it 0 would reward exposure
and popularity rather than taste. The cost of this choice is selection bias: users pick
films they expect to like, so for pairs far from what users choose the like probability
is extrapolated (through the side features). For click logs (Open Bandit Dataset) every
row is an impression, so the same fit gives ``P(click | shown)``.

Fitting. Full-batch Adam (torch, CPU, one thread, float32, seeded ``torch.Generator``) on
the mean log loss plus ``1 / n`` times ``l2`` x the squared norm of the id parameters and
``l2_side`` x that of the side-feature maps (Gaussian priors; ``b0`` is free). The side
maps get the stronger prior: they are shared by every user (or item), and on MovieLens
100K weaker priors on them gave a worse validation log loss (the defaults were chosen by
that validation loss, never by the evaluation period). Early stopping: the last
``val_fraction`` of the training period (by time) is held out; the epoch with the lowest
validation log loss is kept; with ``refit=True`` the model is then refitted on the whole
training period for that many epochs. Nothing at or after ``split_time`` is ever used for fitting, model selection or
the popularity baseline; ``train_max_timestamp`` records the last row the fit saw.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from recbandit._stats import log_loss, roc_auc
from recbandit._torch import torch_generator, torch_threads
from recbandit._validation import check_float, check_int, check_seed
from recbandit.data.logged import LoggedData
from recbandit.envs.user_models import LatentFactorUserModel

#: Strength (pseudo-count) of the Beta prior that shrinks each item's like-rate to the
#: global rate in the popularity baseline.
POPULARITY_PRIOR = 5.0


# --------------------------------------------------------------------------- metrics


def grouped_auc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """Mean per-group AUC over groups that have both classes, and the number of such groups.

    For a recommender the per-user AUC is the one that matters: it asks whether the model
    ranks the items a user liked above those they did not, with the user held fixed.
    """
    g = np.asarray(groups)
    order = np.argsort(g, kind="stable")
    gs, ys, ss = g[order], np.asarray(labels)[order], np.asarray(scores)[order]
    bounds = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1], True])
    aucs = [roc_auc(ys[a:b], ss[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    aucs = [a for a in aucs if np.isfinite(a)]
    return (float(np.mean(aucs)) if aucs else float("nan")), len(aucs)


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class LogisticMFConfig:
    """Settings of the logistic matrix-factorisation fit.

    Attributes:
        factors: latent dimension f.
        l2: prior precision of the per-id parameters (penalty ``l2 / n * ||w||^2``).
        l2_side: prior precision of the side-feature maps ``A, B, c, d``.
        lr: Adam learning rate.
        max_epochs: upper bound on full-batch epochs.
        patience: stop after this many epochs without a better validation log loss.
        val_fraction: share of the training period (its latest rows) held out for early stopping.
        refit: after early stopping, refit on the whole training period for the best number of epochs.
        user_ids: learn per-user parameters (``P_u``, ``beta_u``); False when every row is its
            own user described only by its features (logged contexts).
        item_ids: learn per-item parameters (``Q_i``, ``beta_i``).
        init_std: standard deviation of the initial factors.
        seed: seed of the ``torch.Generator`` that initialises the parameters.
    """

    factors: int = 16
    l2: float = 5.0
    l2_side: float = 1000.0
    lr: float = 0.1
    max_epochs: int = 400
    patience: int = 20
    val_fraction: float = 0.1
    refit: bool = True
    user_ids: bool = True
    item_ids: bool = True
    init_std: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("factors", self.factors, min_value=1)
        check_float("l2", self.l2, min_value=0.0)
        check_float("l2_side", self.l2_side, min_value=0.0)
        check_float("lr", self.lr, min_value=0.0, min_inclusive=False)
        check_int("max_epochs", self.max_epochs, min_value=1)
        check_int("patience", self.patience, min_value=1)
        check_float("val_fraction", self.val_fraction, min_value=0.0, max_value=0.5, min_inclusive=False)
        check_float("init_std", self.init_std, min_value=0.0, min_inclusive=False)
        check_seed("seed", self.seed)


# --------------------------------------------------------------------------- the fitted model


class FittedUserModel(LatentFactorUserModel):
    """A ``LatentFactorUserModel`` fitted on a training period, with its held-out fit report.

    ``expected_reward(users, items)`` is numpy only: the user and item vectors are the
    fitted ``P_u + s_u A`` and ``Q_i + x_i B`` with the biases folded in (one extra factor
    column carries ``bu_u``).

    Attributes:
        split_time: rows with ``timestamp < split_time`` were the training period.
        train_max_timestamp: the latest timestamp among the rows the fit used.
        fit_report: held-out AUC / log loss of the model and of the popularity baseline on
            the evaluation period, and how the fit went (see ``fit_logistic_mf``).
        config: the ``LogisticMFConfig`` used.
    """

    def __init__(
        self,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        item_bias: np.ndarray,
        global_bias: float,
        *,
        split_time: float,
        train_max_timestamp: float,
        config: LogisticMFConfig,
    ) -> None:
        super().__init__(user_factors, item_factors, item_bias, global_bias=global_bias)
        self.split_time = float(split_time)
        self.train_max_timestamp = float(train_max_timestamp)
        self.config = config
        self.fit_report: dict[str, Any] = {}

    def pair_reward(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64[N] expected reward of N (user, item) pairs (one item per user)."""
        return self.expected_reward(np.asarray(users), np.asarray(items)[:, None])[:, 0]


class _LogisticMF(torch.nn.Module):
    """The torch side of the fit: parameters, tables and logits."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        user_dim: int,
        item_dim: int,
        config: LogisticMFConfig,
        base_logit: float,
        gen: torch.Generator,
    ) -> None:
        super().__init__()
        f = config.factors

        def normal(*shape: int) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.randn(*shape, generator=gen) * config.init_std)

        def zeros(*shape: int) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.zeros(*shape))

        self.P = normal(n_users, f) if config.user_ids else None
        self.beta_u = zeros(n_users) if config.user_ids else None
        self.Q = normal(n_items, f) if config.item_ids else None
        self.beta_i = zeros(n_items) if config.item_ids else None
        self.A = normal(user_dim, f) if user_dim else None
        self.c = zeros(user_dim) if user_dim else None
        self.B = normal(item_dim, f) if item_dim else None
        self.d = zeros(item_dim) if item_dim else None
        self.b0 = torch.nn.Parameter(torch.tensor(base_logit, dtype=torch.float32))
        self.n_users, self.n_items, self.f = n_users, n_items, f

    def tables(
        self,
        user_side: torch.Tensor | None,
        item_side: torch.Tensor | None,
        seen_users: torch.Tensor,
        seen_items: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """User vectors [n_users, f], user biases [n_users], item vectors, item biases.

        Id parameters of users / items without fitted rows are masked to 0.
        """
        U = torch.zeros(self.n_users, self.f)
        bu = torch.zeros(self.n_users)
        V = torch.zeros(self.n_items, self.f)
        bi = torch.zeros(self.n_items)
        if self.P is not None and self.beta_u is not None:
            U = U + self.P * seen_users[:, None]
            bu = bu + self.beta_u * seen_users
        if self.A is not None and self.c is not None and user_side is not None:
            U = U + user_side @ self.A
            bu = bu + user_side @ self.c
        if self.Q is not None and self.beta_i is not None:
            V = V + self.Q * seen_items[:, None]
            bi = bi + self.beta_i * seen_items
        if self.B is not None and self.d is not None and item_side is not None:
            V = V + item_side @ self.B
            bi = bi + item_side @ self.d
        return U, bu, V, bi

    def penalty(self, l2: float, l2_side: float) -> torch.Tensor:
        """Weighted sum of squares: ``l2`` on the id parameters, ``l2_side`` on the side maps."""
        total = torch.zeros(())
        for name, p in self.named_parameters():
            if name != "b0":
                total = total + (l2_side if name in ("A", "B", "c", "d") else l2) * (p * p).sum()
        return total


def _logits(tables: tuple[torch.Tensor, ...], b0: torch.Tensor, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    U, bu, V, bi = tables
    return b0 + bu[u] + bi[i] + (U[u] * V[i]).sum(dim=1)


def _train(
    model: _LogisticMF,
    sides: tuple[torch.Tensor | None, torch.Tensor | None],
    seen: tuple[torch.Tensor, torch.Tensor],
    rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    config: LogisticMFConfig,
    epochs: int,
    val: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> tuple[int, float, int]:
    """Adam for at most ``epochs`` epochs; with ``val``, early stopping keeps the best state.

    Returns:
        (best epoch, its validation log loss or NaN, epochs run).
    """
    u, i, y = rows
    n = len(y)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    best_epoch, best_loss, best_state, since = 0, float("inf"), None, 0
    run = 0
    for epoch in range(1, epochs + 1):
        run = epoch
        opt.zero_grad()
        tables = model.tables(*sides, *seen)
        loss = bce(_logits(tables, model.b0, u, i), y) + model.penalty(config.l2, config.l2_side) / n
        loss.backward()
        opt.step()
        if val is None:
            continue
        with torch.no_grad():
            tables = model.tables(*sides, *seen)
            val_loss = float(bce(_logits(tables, model.b0, val[0], val[1]), val[2]))
        if val_loss < best_loss - 1e-6:
            best_epoch, best_loss, since = epoch, val_loss, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            if since >= config.patience:
                break
    if val is None:
        return epochs, float("nan"), run
    if best_state is not None:
        model.load_state_dict(best_state)
    return best_epoch, best_loss, run


def _tensor(x: np.ndarray | None, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    return None if x is None else torch.as_tensor(np.ascontiguousarray(x), dtype=dtype)


def side_features(name: str, x: np.ndarray | None, n: int) -> np.ndarray | None:
    """float32[n, d] side features checked for shape and finiteness; None when absent or 0-wide."""
    if x is None:
        return None
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n}, d), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr if arr.shape[1] else None


def _fit_once(
    users: np.ndarray,
    items: np.ndarray,
    labels: np.ndarray,
    n_users: int,
    n_items: int,
    user_side: np.ndarray | None,
    item_side: np.ndarray | None,
    config: LogisticMFConfig,
    epochs: int,
    val: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
) -> tuple[dict[str, np.ndarray], int, float, int]:
    """One fit on the given rows; returns numpy tables (U, bu, V, bi, b0) and the epoch stats."""
    gen = torch_generator(config.seed)
    rate = float(np.clip(labels.mean(), 1e-4, 1 - 1e-4))
    model = _LogisticMF(
        n_users,
        n_items,
        0 if user_side is None else user_side.shape[1],
        0 if item_side is None else item_side.shape[1],
        config,
        float(np.log(rate / (1 - rate))),
        gen,
    )
    seen_u = np.bincount(users, minlength=n_users) > 0
    seen_i = np.bincount(items, minlength=n_items) > 0
    sides = (_tensor(user_side), _tensor(item_side))
    seen = (torch.as_tensor(seen_u, dtype=torch.float32), torch.as_tensor(seen_i, dtype=torch.float32))
    rows = (torch.as_tensor(users), torch.as_tensor(items), torch.as_tensor(labels, dtype=torch.float32))
    val_t = None
    if val is not None:
        val_t = (torch.as_tensor(val[0]), torch.as_tensor(val[1]), torch.as_tensor(val[2], dtype=torch.float32))
    best, best_loss, run = _train(model, sides, seen, rows, config, epochs, val_t)
    with torch.no_grad():
        U, bu, V, bi = model.tables(*sides, *seen)
    out = {
        "U": U.double().numpy(),
        "bu": bu.double().numpy(),
        "V": V.double().numpy(),
        "bi": bi.double().numpy(),
        "b0": np.asarray(model.b0.item(), dtype=np.float64),
    }
    return out, best, best_loss, run


def fit_logistic_mf(
    data: LoggedData,
    split_time: float,
    config: LogisticMFConfig | None = None,
    *,
    item_side: np.ndarray | None = None,
    user_side: np.ndarray | None = None,
    threshold: float | None = None,
) -> FittedUserModel:
    """Fit the logistic MF user model on the rows before ``split_time``; report on the rest.

    Args:
        data: the log (users and items indexed ``0..n-1``).
        split_time: rows with ``timestamp < split_time`` train (``LoggedData.split_by_time``);
            the rows at or after it are the evaluation period, used only for the report.
        config: fit settings (``LogisticMFConfig()`` if None).
        item_side: float32[n_items, h] item side features (e.g. text embedding + genres), or None.
        user_side: float32[n_users, g] user side features, or None.
        threshold: rating threshold for rating logs (``data.rating_threshold`` if None).

    Returns:
        The model; ``model.fit_report`` holds: ``split_time``, ``train_rows`` (fit +
        validation), ``val_rows``, ``test_rows``, ``train_max_timestamp``,
        ``test_positive_rate``, ``best_epoch``, ``epochs_run``, ``val_log_loss``,
        ``seconds``; ``model`` and ``popularity`` (each ``auc``, ``log_loss``,
        ``user_auc`` = mean per-user AUC, ``user_auc_users``) on the evaluation period;
        ``known_users``, ``new_users`` and ``cold_items`` (the same AUCs on evaluation
        rows whose user has / has no training row, whose item has none; with row counts).

    Raises:
        ValueError: no training rows, or training labels of one class only.
    """
    config = LogisticMFConfig() if config is None else config
    split_time = check_float("split_time", split_time)
    start = time.perf_counter()
    n_users, n_items = len(data.users), len(data.items)
    user_side = side_features("user_side", user_side, n_users)
    item_side = side_features("item_side", item_side, n_items)
    train, test = data.split_by_time(split_time)
    y_train = train.binary_reward(threshold)
    y_test = test.binary_reward(threshold)
    tr = train.interactions
    if len(tr) < 2 or y_train.min() == y_train.max():
        raise ValueError(
            f"split_time {split_time} leaves {len(tr)} training rows with "
            f"{int(y_train.sum()) if len(tr) else 0} positives: need rows of both classes before the split"
        )
    order = np.argsort(tr.timestamp, kind="stable")
    u_all, i_all, y_all = tr.user[order], tr.item[order], y_train[order]
    n_val = max(1, int(round(config.val_fraction * len(tr))))
    n_fit = len(tr) - n_val
    val = (u_all[n_fit:], i_all[n_fit:], y_all[n_fit:])
    with torch_threads(1):  # bit-identical fits in every process, whatever its thread settings
        tables, best, best_loss, run = _fit_once(
            u_all[:n_fit], i_all[:n_fit], y_all[:n_fit], n_users, n_items, user_side, item_side,
            config, config.max_epochs, val,
        )  # fmt: skip
        if config.refit:
            tables, _, _, _ = _fit_once(
                u_all, i_all, y_all, n_users, n_items, user_side, item_side, config, max(best, 1), None
            )
    fitted_max = float(tr.timestamp.max()) if config.refit else float(tr.timestamp[order][:n_fit].max())
    model = FittedUserModel(
        np.column_stack([tables["U"], tables["bu"]]),
        np.column_stack([tables["V"], np.ones(n_items)]),
        tables["bi"],
        float(tables["b0"]),
        split_time=split_time,
        train_max_timestamp=fitted_max,
        config=config,
    )
    report: dict[str, Any] = {
        "split_time": split_time,
        "train_rows": len(tr),
        "val_rows": n_val,
        "test_rows": len(test.interactions),
        "train_max_timestamp": fitted_max,
        "train_positive_rate": float(y_train.mean()),
        "test_positive_rate": float(y_test.mean()) if len(y_test) else float("nan"),
        "best_epoch": best,
        "epochs_run": run,
        "val_log_loss": best_loss,
        "config": asdict(config),
    }
    report.update(_held_out(model, tr.user, tr.item, y_train, test, y_test, n_items))
    report["seconds"] = time.perf_counter() - start
    model.fit_report = report
    return model


def popularity(items: np.ndarray, labels: np.ndarray, n_items: int) -> np.ndarray:
    """float64[n_items]: each item's training like-rate, shrunk to the global rate.

    ``(likes_i + m * rate) / (rows_i + m)`` with ``m = POPULARITY_PRIOR``; an item without
    training rows gets the global rate.
    """
    rate = float(np.mean(labels))
    likes = np.bincount(items, weights=labels, minlength=n_items)
    rows = np.bincount(items, minlength=n_items)
    return (likes + POPULARITY_PRIOR * rate) / (rows + POPULARITY_PRIOR)


def _scores(users: np.ndarray, labels: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    user_auc, n = grouped_auc(users, labels, pred)
    return {"auc": roc_auc(labels, pred), "log_loss": log_loss(labels, pred), "user_auc": user_auc, "user_auc_users": n}


def _held_out(
    model: FittedUserModel,
    train_users: np.ndarray,
    train_items: np.ndarray,
    y_train: np.ndarray,
    test: LoggedData,
    y_test: np.ndarray,
    n_items: int,
) -> dict[str, Any]:
    """AUC / log loss of the model and of popularity on the evaluation period."""
    te = test.interactions
    if len(te) == 0:
        return {"model": None, "popularity": None, "known_users": None, "new_users": None, "cold_items": None}
    pop = popularity(train_items, y_train, n_items)
    pred_model = model.pair_reward(te.user, te.item)
    pred_pop = pop[te.item]
    out: dict[str, Any] = {
        "model": _scores(te.user, y_test, pred_model),
        "popularity": _scores(te.user, y_test, pred_pop),
    }
    known = np.isin(te.user, train_users)
    for key, mask in (
        ("known_users", known),
        ("new_users", ~known),
        ("cold_items", ~np.isin(te.item, train_items)),
    ):
        out[key] = {
            "rows": int(mask.sum()),
            "model_auc": roc_auc(y_test[mask], pred_model[mask]),
            "popularity_auc": roc_auc(y_test[mask], pred_pop[mask]),
        }
    return out


def format_fit_report(report: dict[str, Any]) -> str:
    """A few lines for terminals and benchmark logs: held-out AUC / log loss vs popularity.

    A report of ``recbandit.envs.truth.fit_truth`` (it has a ``truth`` entry) is formatted
    by ``recbandit.envs.fidelity.format_report``.
    """
    if "truth" in report:
        from recbandit.envs.fidelity import format_report

        return format_report(report)
    lines = [
        f"user model fitted on {report['train_rows']:,} rows before t={report['split_time']:.0f} "
        f"(last seen t={report['train_max_timestamp']:.0f}); best epoch {report['best_epoch']} "
        f"of {report['epochs_run']}, {report['seconds']:.1f} s",
        f"evaluation period: {report['test_rows']:,} rows, positive rate {report['test_positive_rate']:.3f}",
    ]
    if report.get("model") is None:
        return "\n".join(lines)
    lines.append("| held-out | AUC | per-user AUC | log loss |")
    lines.append("|---|---:|---:|---:|")
    for name in ("model", "popularity"):
        s = report[name]
        lines.append(f"| {name} | {s['auc']:.4f} | {s['user_auc']:.4f} | {s['log_loss']:.4f} |")
    for key in ("known_users", "new_users", "cold_items"):
        s = report[key]
        if s["rows"]:
            lines.append(
                f"{key}: {s['rows']:,} rows, AUC model {s['model_auc']:.4f} vs popularity {s['popularity_auc']:.4f}"
            )
    return "\n".join(lines)


__all__ = [
    "FittedUserModel",
    "LogisticMFConfig",
    "fit_logistic_mf",
    "format_fit_report",
    "grouped_auc",
    "log_loss",
    "popularity",
    "roc_auc",
]
