"""How faithful a fitted ground truth is: the split protocols, the evaluation mixture and the fit report.

Protocols (which rows a truth may be fitted on):

- ``"per-user"`` (the default of the MovieLens envs): each user's last ``holdout`` share of
  interactions, by time, is held out (``round(holdout * n_u)`` rows, at most ``n_u - 1``, so
  every user keeps at least one fitting row); the rest is the fitting part. Every user the
  env simulates has evidence behind their preferences.
- ``"global"``: rows at or after the ``1 - holdout`` time quantile are held out (what text
  encoder fine-tuning needs to avoid leakage; users first seen after the split are new).

The validation split that chooses hyper-parameters and the model is carved from the
fitting part by the same rule (``val_share`` of it); held-out rows are never used to fit,
select or calibrate anything, nor to compute the baselines.

What the truth's probability means (the exposure / missing-not-at-random choice). The env
offers items the user never rated, so the truth must score those. A rating log says which
items a user chose and how they liked them; an unrated item was mostly never seen, which is
not a certain dislike. The truth therefore models a *shown* item drawn from the mixture
``M_r``: with probability ``1 / (1 + r)`` one of the items the user rated, with probability
``r / (1 + r)`` an item the user never rated (uniformly), and "like" means rated at or above
the threshold (a never-rated item is not a like). ``expected_reward(u, i)`` is
``P(like | u is shown i)`` under ``M_r``, with ``r = neg_ratio``: a larger ``r`` says that a
recommended item the user would not have chosen is more often ignored. For click logs in
which every row is an impression (OBD) ``r = 0`` and the probability is ``P(click | shown)``.

The evaluation mixture is that same ``M_r`` on the held-out part: every held-out row
(like or dislike), plus ``r`` items per held-out row drawn uniformly, with replacement, from
the items that user never rated anywhere in the log (``numpy`` generator seeded by
``eval_seed``), labelled 0. AUC, per-user AUC, log loss and expected calibration error (ECE:
15 equal-mass bins of the predicted probability, ``sum_b n_b / N * |mean(y_b) - mean(p_b)|``)
are computed on it; the like-among-rated AUC (held-out likes against held-out dislikes only)
is reported beside them.

Baselines, both computed on the fitting part only: ``popularity`` ranks items by their number
of likes (its probability is a one-feature logistic fit of the like label on
``log(1 + likes_i)`` over the fitting mixture), and ``item_rate`` is each item's mean like
label on the fitting mixture (rated rows plus the ``r`` sampled unrated rows per rating),
shrunk to the global rate by a prior of ``ITEM_PRIOR`` rows; with ``r = 0`` it is the per-item
like-rate among ratings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recbandit._stats import log_loss, roc_auc
from recbandit._validation import check_choice, check_float, check_int

PROTOCOLS = ("per-user", "global")
#: Equal-mass bins of the expected calibration error.
ECE_BINS = 15
#: Pseudo-count of the prior that shrinks the ``item_rate`` baseline to the global rate.
ITEM_PRIOR = 5.0
#: Segments of the report, and the least held-out rows a segment needs to count for the targets.
SEGMENTS = ("known_users", "new_users", "cold_items")
SEGMENT_MIN_ROWS = 1000


# --------------------------------------------------------------------------- metrics


def grouped_auc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """Mean per-group AUC over groups that have both classes, and the number of such groups.

    Args:
        groups: int[N] group (user) of each row.
        labels: float or bool[N].
        scores: float[N].
    """
    g = np.asarray(groups)
    order = np.argsort(g, kind="stable")
    gs, ys, ss = g[order], np.asarray(labels)[order], np.asarray(scores)[order]
    bounds = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1], True])
    aucs = [roc_auc(ys[a:b], ss[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    aucs = [a for a in aucs if np.isfinite(a)]
    return (float(np.mean(aucs)) if aucs else float("nan")), len(aucs)


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over ``bins`` equal-mass bins: ``sum_b n_b / N * |mean(y in b) - mean(p in b)|``.

    Rows are sorted by probability (stable) and cut into ``bins`` consecutive chunks whose
    sizes differ by at most one (``numpy.array_split``); NaN for no rows.

    Args:
        labels: float[N] 0/1.
        probs: float[N] predicted probabilities.
        bins: number of bins (>= 1).
    """
    check_int("bins", bins, min_value=1)
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(bins, len(y))):
        total += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return float(total / len(y))


# --------------------------------------------------------------------------- protocols


@dataclass(frozen=True)
class Split:
    """Which rows of a log are held out, and which fitting rows validate.

    Attributes:
        protocol: "per-user" or "global".
        held_out: bool[N], the rows used only for the fidelity report.
        val: bool[N], fitting rows held out for hyper-parameter and model choice.
        split_time: the global split's time (rows at or after it are held out); None per user.
    """

    protocol: str
    held_out: np.ndarray
    val: np.ndarray
    split_time: float | None

    @property
    def fit(self) -> np.ndarray:
        """bool[N]: the fitting part (fit + validation), everything not held out."""
        return ~self.held_out

    @property
    def train(self) -> np.ndarray:
        """bool[N]: the fitting part minus its validation rows."""
        return ~self.held_out & ~self.val


def per_user_last(
    users: np.ndarray, timestamps: np.ndarray, share: float, among: np.ndarray | None = None
) -> np.ndarray:
    """bool[N]: each user's last ``round(share * n_u)`` rows by time (at most ``n_u - 1``).

    Args:
        users: int[N] user of each row.
        timestamps: float[N].
        share: fraction in [0, 1).
        among: bool[N] rows to consider (others are never marked); None = all.
    """
    n = len(users)
    rows = np.arange(n) if among is None else np.flatnonzero(among)
    out = np.zeros(n, dtype=bool)
    if len(rows) == 0:
        return out
    u, t = np.asarray(users)[rows], np.asarray(timestamps)[rows]
    order = np.lexsort((rows, t, u))  # by user, then time, then log order
    us = u[order]
    start = np.flatnonzero(np.r_[True, us[1:] != us[:-1]])
    counts = np.diff(np.r_[start, len(us)])
    rank = np.arange(len(us)) - np.repeat(start, counts)
    n_u = np.repeat(counts, counts)
    held = np.minimum(n_u - 1, np.floor(share * n_u + 0.5).astype(np.int64))
    out[rows[order[rank >= n_u - held]]] = True
    return out


def make_split(
    users: np.ndarray, timestamps: np.ndarray, protocol: str = "per-user", holdout: float = 0.2, val_share: float = 0.1
) -> Split:
    """Held-out and validation rows under a protocol (see the module docstring).

    Args:
        users: int[N] user of each row.
        timestamps: float[N] Unix seconds.
        protocol: "per-user" or "global".
        holdout: share of rows held out (per user, or by time), in (0, 1).
        val_share: share of the fitting part used for validation, in (0, 0.5].
    """
    check_choice("protocol", protocol, PROTOCOLS)
    check_float("holdout", holdout, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    check_float("val_share", val_share, min_value=0.0, max_value=0.5, min_inclusive=False)
    ts = np.asarray(timestamps, dtype=np.float64)
    if protocol == "per-user":
        held = per_user_last(users, ts, holdout)
        val = per_user_last(users, ts, val_share, among=~held)
        return Split(protocol, held, val, None)
    split_time = float(np.quantile(ts, 1.0 - holdout)) if len(ts) else 0.0
    held = ts >= split_time
    fit_rows = np.flatnonzero(~held)
    order = fit_rows[np.argsort(ts[fit_rows], kind="stable")]
    n_val = max(1, int(round(val_share * len(order)))) if len(order) > 1 else 0
    val = np.zeros(len(ts), dtype=bool)
    val[order[len(order) - n_val :]] = True
    return Split(protocol, held, val, split_time)


# --------------------------------------------------------------------------- sampled unrated items


def pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """int64[M] sorted unique keys ``user * n_items + item`` of a set of pairs."""
    return np.unique(np.asarray(users, np.int64) * n_items + np.asarray(items, np.int64))


def sample_unrated(
    rng: np.random.Generator, users: np.ndarray, n_items: int, rated_keys: np.ndarray, max_rounds: int = 1000
) -> np.ndarray:
    """int64[N] one item per entry of ``users``, uniform over the items that user has no pair with.

    Rejection sampling, vectorised: draw uniformly, redraw the entries whose pair is in
    ``rated_keys``. Users who rated every item must not be passed.

    Args:
        rng: the generator.
        users: int64[N].
        n_items: catalogue size.
        rated_keys: sorted int64 keys of the excluded pairs (``pair_keys``).
        max_rounds: give up (ValueError) after this many redraw rounds.
    """
    users = np.asarray(users, np.int64)
    items = rng.integers(n_items, size=len(users))
    todo = np.arange(len(users))
    for _ in range(max_rounds):
        keys = users[todo] * n_items + items[todo]
        pos = np.minimum(np.searchsorted(rated_keys, keys), max(len(rated_keys) - 1, 0))
        hit = rated_keys[pos] == keys if len(rated_keys) else np.zeros(len(keys), bool)
        todo = todo[hit]
        if len(todo) == 0:
            return items
        items[todo] = rng.integers(n_items, size=len(todo))
    raise ValueError("could not sample unrated items: some users have rated (almost) every item")


@dataclass(frozen=True)
class Mixture:
    """Rows of the mixture ``M_r``: rated rows plus sampled unrated items (label 0).

    Attributes:
        users: int64[M].
        items: int64[M].
        labels: float64[M] 1 = like.
        rated: bool[M], True for the logged rows, False for the sampled unrated items.
    """

    users: np.ndarray
    items: np.ndarray
    labels: np.ndarray
    rated: np.ndarray


def build_mixture(
    rng: np.random.Generator,
    users: np.ndarray,
    items: np.ndarray,
    labels: np.ndarray,
    ratio: int,
    n_items: int,
    excluded_keys: np.ndarray,
) -> Mixture:
    """The logged rows plus ``ratio`` unrated items per row (same user, label 0).

    Args:
        rng: the generator of the unrated draws.
        users: int64[N] users of the logged rows.
        items: int64[N] their items.
        labels: float64[N] their like labels.
        ratio: unrated items per logged row (0: the logged rows only).
        n_items: catalogue size.
        excluded_keys: ``pair_keys`` of the pairs an unrated item may not be.
    """
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    labels = np.asarray(labels, np.float64)
    if ratio == 0 or len(users) == 0:
        return Mixture(users, items, labels, np.ones(len(users), bool))
    # Users who rated every item have no unrated item to draw.
    full = np.bincount(excluded_keys // n_items, minlength=int(users.max()) + 1) >= n_items
    draw_users = np.repeat(users[~full[users]], ratio)
    neg = sample_unrated(rng, draw_users, n_items, excluded_keys)
    return Mixture(
        np.r_[users, draw_users],
        np.r_[items, neg],
        np.r_[labels, np.zeros(len(neg))],
        np.r_[np.ones(len(users), bool), np.zeros(len(neg), bool)],
    )


# --------------------------------------------------------------------------- baselines


def item_rate(mix: Mixture, n_items: int) -> np.ndarray:
    """float64[n_items]: each item's mean label on a mixture, shrunk to the global rate (``ITEM_PRIOR``)."""
    rate = float(mix.labels.mean()) if len(mix.labels) else 0.5
    likes = np.bincount(mix.items, weights=mix.labels, minlength=n_items)
    rows = np.bincount(mix.items, minlength=n_items)
    return (likes + ITEM_PRIOR * rate) / (rows + ITEM_PRIOR)


def platt(x: np.ndarray, y: np.ndarray, iterations: int = 25) -> tuple[float, float]:
    """``(a, b)`` of the one-feature logistic fit ``P(y = 1) = sigmoid(a + b x)`` (Newton's method).

    Args:
        x: float[N] the feature (a score or a logit).
        y: float[N] 0/1 labels.
        iterations: at most this many Newton steps.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(w[0] + w[1] * x)))
        g = np.array([np.sum(p - y), np.sum((p - y) * x)])
        h = p * (1 - p)
        hess = np.array([[h.sum(), (h * x).sum()], [(h * x).sum(), (h * x * x).sum()]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, g)
        w = w - step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def popularity(mix: Mixture, n_items: int) -> np.ndarray:
    """float64[n_items]: like-count popularity as a probability on the mixture.

    The score is ``log(1 + likes_i)`` (likes on the mixture's logged rows); ``sigmoid(a + b *
    score)`` is fitted to the mixture's labels (``platt``).
    """
    likes = np.bincount(mix.items[mix.rated], weights=mix.labels[mix.rated], minlength=n_items)
    x_item = np.log1p(likes)
    a, b = platt(x_item[mix.items], mix.labels)
    return 1.0 / (1.0 + np.exp(-(a + b * x_item)))


# --------------------------------------------------------------------------- the report


def scores(mix: Mixture, pred: np.ndarray) -> dict[str, float]:
    """AUC, per-user AUC, log loss, ECE on the mixture, and the like-among-rated AUC.

    Args:
        mix: the evaluation mixture.
        pred: float64[M] predicted probabilities of its rows.
    """
    user_auc, n = grouped_auc(mix.users, mix.labels, pred)
    r = mix.rated
    return {
        "auc": roc_auc(mix.labels, pred),
        "user_auc": user_auc,
        "user_auc_users": n,
        "log_loss": log_loss(mix.labels, pred),
        "ece": expected_calibration_error(mix.labels, pred),
        "mean_prediction": float(np.mean(pred)) if len(pred) else float("nan"),
        "rated_auc": roc_auc(mix.labels[r], pred[r]),
    }


def fidelity_scores(
    mix: Mixture,
    predictions: dict[str, np.ndarray],
    fit_users: np.ndarray,
    fit_items: np.ndarray,
) -> dict[str, Any]:
    """Per-predictor scores on the evaluation mixture and per segment.

    Args:
        mix: the evaluation mixture.
        predictions: name -> float64[M] probabilities ("model", "popularity", "item_rate").
        fit_users: bool[n_users], users with fitting rows.
        fit_items: bool[n_items], items with fitting rows.

    Returns:
        ``{name: scores(...)}`` for each predictor, plus ``segments``: for known users, new
        users and cold items (items without fitting rows), the mixture ``rows``, the
        ``held_out_rows`` (logged rows) and each predictor's AUC and per-user AUC.
    """
    out: dict[str, Any] = {name: scores(mix, p) for name, p in predictions.items()}
    segs: dict[str, Any] = {}
    known = fit_users[mix.users]
    for key, mask in (("known_users", known), ("new_users", ~known), ("cold_items", ~fit_items[mix.items])):
        seg: dict[str, Any] = {"rows": int(mask.sum()), "held_out_rows": int((mask & mix.rated).sum())}
        for name, p in predictions.items():
            seg[f"{name}_auc"] = roc_auc(mix.labels[mask], p[mask])
            seg[f"{name}_user_auc"] = grouped_auc(mix.users[mask], mix.labels[mask], p[mask])[0]
        segs[key] = seg
    out["segments"] = segs
    return out


def targets(report: dict[str, Any], margin: float = 0.05, max_ece: float = 0.02) -> dict[str, bool]:
    """The issue's acceptance checks on a fit report.

    ``auc`` / ``user_auc``: the model at least ``margin`` above the better baseline;
    ``segments``: the model's AUC not below popularity's on any segment with at least
    ``SEGMENT_MIN_ROWS`` held-out rows; ``ece``: the model's ECE below ``max_ece``.
    """
    m = report["model"]
    best = {k: max(report[b][k] for b in ("popularity", "item_rate")) for k in ("auc", "user_auc")}
    seg_ok = all(
        not s["held_out_rows"] >= SEGMENT_MIN_ROWS or s["model_auc"] >= s["popularity_auc"]
        for s in report["segments"].values()
    )
    return {
        "auc": m["auc"] >= best["auc"] + margin,
        "user_auc": m["user_auc"] >= best["user_auc"] + margin,
        "segments": seg_ok,
        "ece": m["ece"] < max_ece,
    }


def _f(x: Any, spec: str = ".4f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def format_report(report: dict[str, Any]) -> str:
    """The fit report as a terminal table: model vs both baselines, segments, how it was fitted."""
    prot, exp, rows, truth = report["protocol"], report["exposure"], report["rows"], report["truth"]
    where = f"split at t={prot['split_time']:.0f}" if prot.get("split_time") is not None else "each user's last share"
    lines = [
        f"{report.get('dataset', 'log')}: truth '{truth['name']}' fitted on {rows['fit']:,} rows "
        f"({rows['val']:,} of them validation), protocol {prot['name']} ({where}, holdout {prot['holdout']:g}); "
        f"{truth['seconds']:.1f} s",
        f"held out: {rows['held_out']:,} rows ({rows['held_out_likes']:,} {report.get('positive', 'likes')}) + "
        f"{rows['eval_unrated']:,} sampled unrated items ({exp['neg_ratio']} per held-out row, seed "
        f"{exp['eval_seed']}); probability = P(positive | shown), see exposure",
        "",
        "| held-out mixture | AUC | per-user AUC | log loss | ECE | like-among-rated AUC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("model", "popularity", "item_rate"):
        s = report[name]
        lines.append(
            f"| {name} | {_f(s['auc'])} | {_f(s['user_auc'])} | {_f(s['log_loss'])} | {_f(s['ece'])} "
            f"| {_f(s['rated_auc'])} |"
        )
    lines += [
        "",
        "| segment | rows | held-out rows | model AUC | popularity AUC | item-rate AUC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, s in report["segments"].items():
        lines.append(
            f"| {key.replace('_', ' ')} | {s['rows']:,} | {s['held_out_rows']:,} | {_f(s['model_auc'])} "
            f"| {_f(s['popularity_auc'])} | {_f(s['item_rate_auc'])} |"
        )
    sel = truth.get("selection") or []
    if len(sel) > 1:
        lines.append("")
        lines.append(
            "model choice (validation log loss): "
            + ", ".join(
                f"{c['name']} {_f(c['val_log_loss'])}" + (" *" if c["name"] == truth["name"] else "") for c in sel
            )
        )
    if "zero_context_share" in report:
        lines.append(f"decisions with an all-zero user context: {report['zero_context_share']:.1%}")
    return "\n".join(lines)


def summary_line(report: dict[str, Any]) -> str:
    """One line for ``recbandit run``: the truth's AUC / per-user AUC / ECE against popularity."""
    if not report or "model" not in report or "truth" not in report:
        return "fidelity: no fit report"
    m, p = report["model"], report["popularity"]
    text = (
        f"fidelity of {report.get('dataset', 'the log')}'s truth ({report['truth']['name']}, "
        f"{report['protocol']['name']} split): AUC {_f(m['auc'], '.3f')} vs popularity {_f(p['auc'], '.3f')}, "
        f"per-user {_f(m['user_auc'], '.3f')} vs {_f(p['user_auc'], '.3f')}, ECE {_f(m['ece'], '.3f')} "
        f"on {report['rows']['held_out']:,} held-out rows + {report['rows']['eval_unrated']:,} unrated"
    )
    if "zero_context_share" in report:
        text += f"; all-zero user contexts {report['zero_context_share']:.1%}"
    return text


__all__ = [
    "ECE_BINS",
    "PROTOCOLS",
    "Mixture",
    "Split",
    "build_mixture",
    "expected_calibration_error",
    "fidelity_scores",
    "format_report",
    "grouped_auc",
    "item_rate",
    "make_split",
    "pair_keys",
    "per_user_last",
    "platt",
    "popularity",
    "sample_unrated",
    "scores",
    "summary_line",
    "targets",
]
