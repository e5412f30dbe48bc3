"""OBD-v0: fashion items of one ZOZOTOWN campaign shown to logged visitors (Open Bandit Dataset).

The build (``obd_problem``) is: load the campaign's log (``recbandit.data.obd.load_obd``),
treat every logged row as one visitor described by its logged context features, split
the rows at the ``split_quantile`` time quantile (the "global" protocol of
``recbandit.envs.fidelity``: a visitor has one row, so there is no per-user split), fit the
click model on the earlier rows of the uniform-random policy (``recbandit.envs.truth``:
the best on validation of logistic MF and the two-tower models, with ``neg_ratio=0``, since
every row is an impression), and replay the later rows' visitors.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._validation import check_choice, check_int, split_kwargs
from recbandit.data.fetch import find_data_folder
from recbandit.data.logged import LoggedData, Users
from recbandit.encoders.base import Encoder
from recbandit.encoders.bow import HashingBowEncoder
from recbandit.envs.bandit import BanditEnv
from recbandit.envs.batched import BatchedBanditEnv
from recbandit.envs.contexts import feature_block, logged_item_contexts, logged_round_contexts
from recbandit.envs.fitted import LogisticMFConfig
from recbandit.envs.problem import BanditProblem
from recbandit.envs.truth import TruthConfig, fit_truth

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
USER_ARRIVALS = ("log", "activity")

#: The click model's defaults on OBD: no per-visitor ids (every row is a new visitor, seen
#: through its context only), few factors and strong priors (the small sample has ~40
#: clicks per campaign).
OBD_FIT = LogisticMFConfig(factors=4, l2=50.0, l2_side=200.0, user_ids=False, lr=0.05)
#: The truth's defaults on OBD: global time split, every row an impression (no sampled
#: unrated items), no per-visitor ids, candidates chosen on validation.
OBD_TRUTH = TruthConfig(protocol="global", neg_ratio=0, user_ids=False, logistic=OBD_FIT)


@dataclass(frozen=True)
class OBDEnvConfig:
    """Knobs of OBD-v0 (the fit's knobs are in ``fit``).

    Attributes:
        path: the dataset root (with ``random/`` and ``bts/``), resolved.
        policy: the behaviour policy whose log is fitted ("random": uniform, the unbiased one).
        campaign: "all", "men" or "women".
        k: candidates per visitor; None = every item of the campaign.
        context_dim: dimension of the PCA contexts agents see.
        split_quantile: time quantile of the split between the fitted rows and the replayed rows.
        user_arrival: "log" (the evaluation period's visitors in order) or "activity"
            (visitors drawn uniformly from the evaluation period's rows).
        encoder_dim: dimension of the default ``HashingBowEncoder`` (for item text, if any).
        fit: the click model's settings (``TruthConfig``; ``OBD_TRUTH`` by default).
    """

    path: str
    policy: str = "random"
    campaign: str = "all"
    k: int | None = None
    context_dim: int = 12
    split_quantile: float = 0.8
    user_arrival: str = "log"
    encoder_dim: int = 256
    fit: TruthConfig = field(default_factory=lambda: OBD_TRUTH)

    def __post_init__(self) -> None:
        check_choice("policy", self.policy, POLICIES)
        check_choice("campaign", self.campaign, CAMPAIGNS)
        if self.k is not None:
            check_int("k", self.k, min_value=2)
        check_int("context_dim", self.context_dim, min_value=1)
        if not 0.0 < float(self.split_quantile) < 1.0:
            raise ValueError(f"split_quantile must be a number in (0, 1), got {self.split_quantile!r}")
        check_choice("user_arrival", self.user_arrival, USER_ARRIVALS)
        check_int("encoder_dim", self.encoder_dim, min_value=1)


_ENV_FIELDS = {f.name for f in fields(OBDEnvConfig)} - {"path", "fit"}
#: Truth settings as env arguments (no ``protocol``/``holdout``: ``split_quantile`` sets the split).
_TRUTH_FIELDS = {"model", "truth", "val_share", "eval_seed", "fit_seed"}
_LOGISTIC_FIELDS = {f.name for f in fields(LogisticMFConfig)} - {"seed", "user_ids"}


def make_config(path: str | Path, **kwargs: Any) -> OBDEnvConfig:
    """Split flat keyword arguments between the env and the truth configs (defaults: ``OBD_TRUTH``)."""
    from recbandit.envs.movielens import truth_config

    parts = split_kwargs(
        "OBD-v0",
        kwargs,
        {"env": _ENV_FIELDS, "fit": _TRUTH_FIELDS, "logistic": _LOGISTIC_FIELDS},
        also_allowed=("path", "encoder"),
    )
    fit = truth_config(parts["fit"], parts["logistic"], OBD_TRUTH)
    config = OBDEnvConfig(path=str(Path(path).resolve()), fit=fit, **parts["env"])
    return replace(config, fit=replace(fit, holdout=1.0 - float(config.split_quantile)))


def config_dict(config: OBDEnvConfig) -> dict[str, Any]:
    """Flat JSON-ready view of a configuration."""
    flat = asdict(config)
    flat.update(flat.pop("fit"))
    return flat


def find_obd(path: str | Path | None = None) -> Path:
    """The Open Bandit Dataset root (with ``random/`` and ``bts/``).

    ``path`` if given, else ``$RECBANDIT_DATA/obd-sample``, then the user cache (where
    ``recbandit data fetch obd-sample`` puts it).
    """
    return find_data_folder(path, "obd-sample")


def obd_problem(config: OBDEnvConfig, encoder: Encoder | None = None) -> tuple[BanditProblem, dict[str, Any]]:
    """Build (or fetch from the per-process cache) the problem and its fit report."""
    if encoder is None:
        return _cached_problem(config)
    return _build(_load(config.path, config.policy, config.campaign), config, encoder)


@lru_cache(maxsize=4)
def _cached_problem(config: OBDEnvConfig) -> tuple[BanditProblem, dict[str, Any]]:
    data = _load(config.path, config.policy, config.campaign)
    return _build(data, config, HashingBowEncoder(dim=config.encoder_dim))


def _load(path: str, policy: str, campaign: str) -> LoggedData:
    from recbandit.data.obd import load_obd  # the loader module is imported only when needed

    return load_obd(path, policy=policy, campaign=campaign)


def problem_from_log(
    data: LoggedData, config: OBDEnvConfig, encoder: Encoder | None = None
) -> tuple[BanditProblem, dict[str, Any]]:
    """The OBD-v0 problem of an already loaded click log with logged contexts (not cached).

    Args:
        data: a click log (``reward_kind="binary"``) whose ``interactions.context`` holds
            each row's context features; ``config.path``, ``policy`` and ``campaign`` are
            then only labels.
        config: the env settings.
        encoder: item text encoder (default ``HashingBowEncoder(config.encoder_dim)``).
    """
    return _build(data, config, HashingBowEncoder(dim=config.encoder_dim) if encoder is None else encoder)


def _build(data: LoggedData, config: OBDEnvConfig, encoder: Encoder) -> tuple[BanditProblem, dict[str, Any]]:
    inter = data.interactions
    if inter.context is None:
        raise ValueError(f"{data.name}: OBD-v0 needs the logged context features (interactions.context)")
    n_rows, n_items = len(inter), len(data.items)
    k = n_items if config.k is None else config.k
    if k > n_items:
        raise ValueError(f"k must be at most the number of items of the campaign ({n_items}), got {k}")
    # Every row is one visitor, known only through its logged context.
    contexts = feature_block(inter.context)
    rows = replace(data, interactions=replace(inter, user=np.arange(n_rows, dtype=np.int64)),
                   users=Users(ids=np.arange(n_rows), features=contexts))  # fmt: skip
    fit = replace(config.fit, protocol="global", holdout=1.0 - float(config.split_quantile))

    item_parts = []
    if any(t.strip() for t in data.items.text):
        item_parts.append(encoder.encode(data.items.text))
    if data.items.features is not None and data.items.features.shape[1]:
        item_parts.append(feature_block(data.items.features))
    item_raw = np.hstack(item_parts) if item_parts else np.eye(n_items, dtype=np.float32)
    model = fit_truth(rows, fit, item_side=item_raw, user_side=contexts)
    train_mask, held = model.split.fit, model.split.held_out
    train_rows = np.flatnonzero(train_mask)

    item_ctx = logged_item_contexts(item_raw, config.context_dim)
    user_ctx = logged_round_contexts(inter.context, config.context_dim, train_rows)
    eval_rows = np.flatnonzero(held)
    schedule = weights = None
    if config.user_arrival == "log":
        schedule = eval_rows
    else:
        weights = np.zeros(n_rows)
        weights[eval_rows] = 1.0
    problem = BanditProblem(
        user_model=model,
        user_contexts=user_ctx,
        item_contexts=item_ctx,
        k=k,
        user_weights=weights,
        user_schedule=schedule,
        name=f"{data.name}({encoder.name})",
    )
    report = dict(model.fit_report)
    report["simulation"] = {
        "dataset": data.name,
        "source": data.source,
        "policy": config.policy,
        "campaign": config.campaign,
        "items": n_items,
        "k": k,
        "user_arrival": config.user_arrival,
        "visitors": len(eval_rows),
        "context_features": int(inter.context.shape[1]),
        "train_clicks": int(rows.binary_reward()[train_mask].sum()),
        "test_clicks": int(rows.binary_reward()[held].sum()),
    }
    zero = np.asarray(~np.asarray(user_ctx).any(axis=1))
    report["zero_context_share"] = float(zero[eval_rows].mean())
    return problem, report


class OBDBanditEnv(BanditEnv):
    """OBD-v0: items of a ZOZOTOWN campaign recommended to logged visitors, one per step.

    ## Description
    The Open Bandit Dataset (ZOZO, 2019; the small sample of ``recbandit data fetch
    obd-sample`` or ``$RECBANDIT_DATA/obd-sample``; ``path=`` for another copy): one
    week of fashion-item impressions on ZOZOTOWN under a uniform-random and a Bernoulli
    Thompson sampling policy, campaigns "all" (80 items), "men" (34), "women" (46), with
    each visitor's context features (hashed user features and user-item affinities). Every
    logged row is one visitor. The rows are split at the ``split_quantile`` time quantile;
    the click model is fitted on the earlier rows; each step serves one visitor of the
    later rows (in log order, or drawn uniformly from them), and the candidates are the
    campaign's items (all of them in random order, or ``k`` drawn uniformly).

    ## User model (ground truth)
    The best on validation (``recbandit.envs.truth``, ``model="auto"``) of logistic MF on
    the logged contexts (``p(click | x, i) = sigmoid(b0 + x c + bi_i + <x A, Q_i + z_i B>)``
    with ``x`` the row's standardised context and ``z_i`` the item's features) and the
    linear / two-tower models over the same inputs; no per-visitor parameters, and no
    sampled unrated items (every logged row is an impression). It is fitted on
    the behaviour policy's own rows, ignoring the slot position: under the uniform-random
    policy (default) positions are uniform, so ``p`` is the click probability averaged
    over the three slots. ``fit_report`` has its held-out AUC / log loss next to a
    like-count popularity and a per-item click-rate (AUC, per-user AUC, log loss, ECE);
    with ~40 clicks per campaign in the small sample these figures are noisy.

    ## Action Space
    ``Discrete(k)``.

    ## Observation Space
    ``Dict``: ``user`` float32[d_u] (the visitor's context, PCA), ``items`` float32[k, d_i]
    (item features, and item text through the encoder where the log has text, PCA),
    ``item_ids`` int64[k].

    ## Rewards
    Bernoulli(p(click)) of the chosen item.

    ## Starting State
    Decision 0: the first visitor of the evaluation period.

    ## Episode End
    Never; use the runner's horizon or ``TimeLimit``.

    ## Arguments
    ``path`` (optional), ``policy`` ("random" | "bts"), ``campaign`` ("all" | "men" |
    "women"), ``k`` (None = all items), ``context_dim`` (12), ``split_quantile`` (0.8),
    ``user_arrival`` ("log" | "activity"), ``encoder_dim`` (256), ``encoder``, the truth's
    ``model`` (or ``truth``; "auto" | "mf" | "two-tower" | "logistic-mf"), ``val_share``,
    ``eval_seed``, ``fit_seed``, and the logistic MF candidate's knobs (defaults
    ``OBD_FIT``). ``info`` as ``BanditEnv``.

    ## Version History
    * v0: initial version.
    """

    def __init__(self, path: str | Path | None = None, encoder: Encoder | None = None, **kwargs: Any) -> None:
        self.config = make_config(find_obd(path), **kwargs)
        problem, report = obd_problem(self.config, encoder)
        self.fit_report = copy.deepcopy(report)
        super().__init__(problem)


class OBDBatchedEnv(BatchedBanditEnv):
    """OBD-v0 with ``batch_size`` visitors per step (see ``OBDBanditEnv``, ``BatchedBanditEnv``)."""

    def __init__(
        self,
        batch_size: int = 256,
        path: str | Path | None = None,
        encoder: Encoder | None = None,
        **kwargs: Any,
    ) -> None:
        self.config = make_config(find_obd(path), **kwargs)
        problem, report = obd_problem(self.config, encoder)
        self.fit_report = copy.deepcopy(report)
        super().__init__(problem, batch_size=batch_size)


__all__ = ["OBD_FIT", "OBDBanditEnv", "OBDBatchedEnv", "OBDEnvConfig", "find_obd", "obd_problem", "problem_from_log"]
