"""MovieLens-v0 and MovieLens100K-v0: users and films of a MovieLens log, a fitted ground truth.

The build (``movielens_problem``) is: load the folder (``load_movielens``), split the log
under the ``protocol`` (``recbandit.envs.fidelity``: by default each user's last ``holdout``
share of ratings is held out; ``"global"`` holds out the ratings after the ``1 - holdout``
time quantile), fit the ground truth on the fitting part (``recbandit.envs.truth.fit_truth``:
the best model on validation), and turn the held-out rows into the env's timeline of
arrivals. Built problems are cached per process, keyed by the settings.

Why per user by default: every simulated user then has ratings behind their preferences
(with the global split 85% of MovieLens 100K's later arrivals are users the truth has
never seen, simulated from their demographics alone). The global split is the option for
work that must not see the future at all (text encoder fine-tuning).

Time. Decision ``t`` happens at the time of the ``t``-th held-out rating (in time order).
A film becomes a candidate at the first decision whose time is at or after its
availability, ``min(release date, first rating)`` (``Items.first_seen`` and the log);
films available before the first held-out rating are there from decision 0. After the
last held-out rating (decision ``n_eval``) every film is available and the arrivals
replay (``user_arrival="log"``) from the start.

Ground truth and contexts are separate. The user model's item side features are the film
text through ``truth_encoder`` (default: the hashed bag of words) plus genres, whatever
``encoder`` the agents' contexts come from, so envs that differ only in ``encoder`` have
the same expected rewards and their regrets compare. The fit is cached per process by the
settings; contexts per (settings, canonical encoder spec).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._validation import check_choice, check_float, check_int, split_kwargs
from recbandit.data.fetch import find_data_folder, find_dataset
from recbandit.data.logged import LoggedData
from recbandit.data.movielens import load_movielens
from recbandit.encoders.base import Encoder
from recbandit.envs.bandit import BanditEnv
from recbandit.envs.batched import BatchedBanditEnv
from recbandit.envs.contexts import ContextEncoding, PCAContexts, feature_block, resolve_encoder
from recbandit.envs.fitted import LogisticMFConfig
from recbandit.envs.problem import BanditProblem
from recbandit.envs.truth import TruthConfig, TruthModel, fit_truth_cached

USER_ARRIVALS = ("log", "activity")
USER_CONTEXTS = ("auto", "profile", "history")
#: Arrival decision of an item that never becomes available (no date and no rating).
NEVER = 2**62


@dataclass(frozen=True)
class MovieLensEnvConfig:
    """Knobs of the MovieLens envs (the fit's knobs are in ``fit``).

    Attributes:
        path: the dataset folder (resolved, absolute).
        k: candidates per user.
        context_dim: dimension of the PCA contexts agents see.
        rating_threshold: a rating at or above this is a like (reward 1).
        user_arrival: "log" (users in the held-out rows' time order) or "activity" (users
            drawn i.i.d. with probability proportional to their number of ratings in the log).
        user_context: "profile" (profile text + user features, where the data has them),
            "history" (mean context of the films the user liked in the fitting part, or of
            the films they rated there if they liked none; 0 for users without fitting
            rows), or "auto" (profile where there is user text, else history).
        cold_window: decisions during which a newly arrived film is flagged cold.
        encoder_dim: dimension of the default ``HashingBowEncoder`` (``"bow:<encoder_dim>"``),
            the default of both the contexts' encoder and ``truth_encoder``.
        truth_encoder: encoder spec of the film text in the user model's side features;
            ``None``: ``"bow:<encoder_dim>"``. Never the agents' ``encoder``.
        overviews: TMDb metadata (a path, or a dataset name such as "the-movies-dataset"
            found under ``$RECBANDIT_DATA``; resolved): the contexts' film text gets the plot
            overview (``load_movielens(overviews=)``); the user model keeps the plain text.
        fit: how the ground truth is split, fitted and measured (``TruthConfig``).
        loader: "movielens" (``load_movielens``) or "any" (``recbandit.envs.logged.load_log``:
            any folder ``recbandit.data.detect`` knows; ``rating_threshold`` NaN = the
            format's like rule). Set by the env class, not an env argument.
        noun: what the items are called in messages ("films", "items").
    """

    path: str
    k: int = 10
    context_dim: int = 12
    rating_threshold: float = 4.0
    user_arrival: str = "log"
    user_context: str = "auto"
    cold_window: int = 1000
    encoder_dim: int = 256
    truth_encoder: str | None = None
    overviews: str | None = None
    fit: TruthConfig = field(default_factory=TruthConfig)
    loader: str = "movielens"
    noun: str = "films"

    def __post_init__(self) -> None:
        check_int("k", self.k, min_value=2)
        check_int("context_dim", self.context_dim, min_value=1)
        if not (self.loader == "any" and np.isnan(float(self.rating_threshold))):
            check_float("rating_threshold", self.rating_threshold)
        check_choice("loader", self.loader, ("movielens", "any"))
        check_choice("user_arrival", self.user_arrival, USER_ARRIVALS)
        check_choice("user_context", self.user_context, USER_CONTEXTS)
        check_int("cold_window", self.cold_window, min_value=0)
        check_int("encoder_dim", self.encoder_dim, min_value=1)
        if self.truth_encoder is not None:
            from recbandit.encoders.registry import canonical_spec

            object.__setattr__(self, "truth_encoder", canonical_spec(self.truth_encoder))
        if self.overviews is not None:
            object.__setattr__(self, "overviews", str(find_dataset(self.overviews).resolve()))

    @property
    def default_encoder(self) -> str:
        """Spec of the default encoder: the hashed bag of words of ``encoder_dim``."""
        return f"bow:{self.encoder_dim}"


_ENV_FIELDS = {f.name for f in fields(MovieLensEnvConfig)} - {"path", "fit", "loader", "noun"}
#: Truth settings accepted as env keyword arguments (``fit_seed`` is ``TruthConfig.seed``;
#: ``truth`` is another name for ``model``).
_TRUTH_FIELDS = {f.name for f in fields(TruthConfig)} - {"seed", "logistic"} | {"fit_seed", "truth"}
#: Settings of the "logistic-mf" candidate (``LogisticMFConfig``).
_LOGISTIC_FIELDS = {f.name for f in fields(LogisticMFConfig)} - {"seed", "user_ids"}


def truth_config(parts: dict[str, Any], logistic: dict[str, Any], base: TruthConfig | None = None) -> TruthConfig:
    """A ``TruthConfig`` from flat env arguments (``truth``/``model``, ``protocol``, ``fit_seed``, ...)."""
    base = TruthConfig() if base is None else base
    kw = dict(parts)
    if "truth" in kw:
        if "model" in kw and kw["model"] != kw["truth"]:
            raise ValueError(f"give truth= or model=, not both (got {kw['truth']!r} and {kw['model']!r})")
        kw["model"] = kw.pop("truth")
    if "fit_seed" in kw:
        kw["seed"] = kw.pop("fit_seed")
    return replace(base, logistic=replace(base.logistic, **logistic), **kw)


def make_config(path: str | Path, env_name: str = "MovieLens-v0", **kwargs: Any) -> MovieLensEnvConfig:
    """Split flat keyword arguments between the env and the truth configs."""
    parts = split_kwargs(
        env_name,
        kwargs,
        {"env": _ENV_FIELDS, "fit": _TRUTH_FIELDS, "logistic": _LOGISTIC_FIELDS},
        also_allowed=("path", "encoder"),
    )
    return MovieLensEnvConfig(
        path=str(Path(path).resolve()), fit=truth_config(parts["fit"], parts["logistic"]), **parts["env"]
    )


def config_dict(config: MovieLensEnvConfig) -> dict[str, Any]:
    """Flat JSON-ready view of a configuration."""
    flat = asdict(config)
    flat.update(flat.pop("fit"))
    return flat


def movielens_problem(
    config: MovieLensEnvConfig, encoder: Encoder | str | None = None
) -> tuple[BanditProblem, dict[str, Any]]:
    """Build (or fetch from the per-process cache) the problem and its fit report.

    Args:
        config: the env's settings.
        encoder: the agents' contexts: an encoder spec (``"minilm"``, ``"bow:512"``, a
            model folder; cached per process by (config, canonical spec)), an ``Encoder``
            (built every time), or ``None`` (``config.default_encoder``). The user model
            does not depend on it (see ``truth_encoder``).
    """
    if encoder is None or isinstance(encoder, str):
        from recbandit.encoders.registry import canonical_spec

        return _cached_problem(config, canonical_spec(encoder or config.default_encoder))
    return _build_problem(config, encoder)


@lru_cache(maxsize=8)
def _cached_problem(config: MovieLensEnvConfig, spec: str) -> tuple[BanditProblem, dict[str, Any]]:
    return _build_problem(config, spec)


@lru_cache(maxsize=2)
def _load(path: str, rating_threshold: float, loader: str = "movielens", overviews: str | None = None) -> LoggedData:
    if loader == "any":
        from recbandit.envs.logged import load_log

        return load_log(path, None if np.isnan(rating_threshold) else rating_threshold)
    return load_movielens(path, rating_threshold=rating_threshold, overviews=overviews)


def item_availability(data: LoggedData) -> np.ndarray:
    """float64[n_items]: when each item can first be recommended, Unix seconds (NaN = never).

    ``min(first_seen, first rating)``: a release date after the item's first rating
    (MovieLens 100K has a few) does not hide a film that users were already rating.
    """
    n = len(data.items)
    first = np.full(n, np.inf)
    np.minimum.at(first, data.interactions.item, data.interactions.timestamp)
    seen = data.items.first_seen if data.items.first_seen is not None else np.full(n, np.nan)
    avail = np.fmin(np.where(np.isinf(first), np.nan, first), seen)
    return avail


def decision_arrival(avail_time: np.ndarray, timeline: np.ndarray) -> np.ndarray:
    """int64[n_items]: each item's first decision whose time is at or after its availability.

    Args:
        avail_time: float64[n_items] availability times (NaN = never available).
        timeline: float64[T] sorted times of the decisions.

    Returns:
        0 for items available before the timeline starts, ``NEVER`` for NaN.
    """
    arrival = np.searchsorted(timeline, np.nan_to_num(avail_time, nan=np.inf), side="left").astype(np.int64)
    arrival[np.isnan(avail_time)] = NEVER
    return arrival


def item_features(data: LoggedData, text_embeddings: np.ndarray) -> np.ndarray:
    """float32[n_items, D + g]: the films' text embeddings beside their genre block (if any)."""
    genres = feature_block(data.items.features) if data.items.features is not None else None
    return text_embeddings if genres is None else np.hstack([text_embeddings, genres])


def _fitted(config: MovieLensEnvConfig) -> tuple[LoggedData, TruthModel, str]:
    """The loaded log, the fitted ground truth (with its split) and the truth encoder's spec.

    Fits are cached per process and on disk (``recbandit.envs.truth.fit_truth_cached``:
    ``$RECBANDIT_TRUTH_CACHE``, ``0`` to turn it off, else ``<cache>/truth``).

    Cached per process by the settings the fit depends on (not ``k``, ``context_dim``,
    ``user_context``, ``user_arrival``, ``cold_window`` or the contexts' encoder).
    """
    data = _load(config.path, config.rating_threshold, config.loader, config.overviews)  # overviews: contexts only
    if config.k > len(data.items):
        raise ValueError(f"k must be at most the number of {config.noun} ({len(data.items)}), got {config.k}")
    truth_spec = config.truth_encoder or config.default_encoder
    model = _fit(config.path, config.rating_threshold, truth_spec, config.fit, config.loader)
    return data, model, truth_spec


@lru_cache(maxsize=4)
def _fit(
    path: str, rating_threshold: float, truth_spec: str, fit: TruthConfig, loader: str = "movielens"
) -> TruthModel:
    data = _load(path, rating_threshold, loader)
    # Item side of the model: film text through the truth encoder + genre block.
    truth_encoder, _ = resolve_encoder(truth_spec, truth_spec)
    item_side = item_features(data, truth_encoder.encode(data.items.text))
    # User side for the model: the users' features (100K: age, gender, occupation).
    parts = [feature_block(data.users.features)] if data.users.features is not None else []
    if loader == "any" and data.users.text is not None and any(t.strip() for t in data.users.text):
        parts.append(truth_encoder.encode(data.users.text))  # profile text (MovieLens 100K's repeats its features)
    user_side = np.hstack(parts) if parts else None
    return fit_truth_cached(data, fit, item_side=item_side, user_side=user_side)


def _build_problem(config: MovieLensEnvConfig, encoder_arg: Encoder | str) -> tuple[BanditProblem, dict[str, Any]]:
    data, model, truth_spec = _fitted(config)
    split = model.split
    train = replace(data, interactions=data.interactions.take(split.fit))
    test = replace(data, interactions=data.interactions.take(split.held_out))

    # Contexts: film text through the agents' encoder + genres, PCA over the films (no rewards involved).
    encoder, spec = resolve_encoder(encoder_arg, config.default_encoder)
    texts = ContextEncoding(encoder, spec)
    item_raw = item_features(data, texts.encode(data.items.text))
    item_ctx = PCAContexts(min(config.context_dim, *item_raw.shape)).fit(item_raw).transform(item_raw)
    mode = config.user_context
    if mode == "auto":
        has_features = config.loader == "any" and data.users.features is not None and data.users.features.shape[1] > 0
        mode = "profile" if data.users.text is not None or has_features else "history"
    if mode == "profile":
        user_ctx = _profile_contexts(data, texts, config.context_dim)
    else:
        user_ctx = _history_contexts(train, item_ctx)

    te = test.interactions
    order = np.argsort(te.timestamp, kind="stable")  # LoggedData rows are in time order already
    timeline, eval_users = te.timestamp[order], te.user[order]
    arrival = decision_arrival(item_availability(data), timeline)
    schedule = weights = None
    if config.user_arrival == "log":
        schedule = eval_users
        arrivals = eval_users
    else:
        weights = np.bincount(data.interactions.user, minlength=len(data.users)).astype(np.float64)
        arrivals = data.interactions.user
    known = np.isin(arrivals, train.interactions.user)
    zero_users = np.asarray(~np.asarray(user_ctx).any(axis=1))
    zero_share = (
        float(zero_users[arrivals].mean()) if weights is None else float(weights[zero_users].sum() / weights.sum())
    )
    problem = BanditProblem(
        user_model=model,
        user_contexts=user_ctx,
        item_contexts=item_ctx,
        k=config.k,
        item_arrival=arrival,
        cold_window=config.cold_window,
        user_weights=weights,
        user_schedule=schedule,
        name=f"{data.name}({encoder.name})",
        contexts_info={"encoder": encoder.name, "spec": spec, "encode": texts.to_dict()},
    )
    report = dict(model.fit_report)
    report["simulation"] = {
        "dataset": data.name,
        "source": data.source,
        "encoder": encoder.name,
        "encoder_spec": spec,
        "truth_encoder": truth_spec,
        "user_arrival": config.user_arrival,
        "user_context": mode,
        "timeline_decisions": len(timeline),
        "timeline": [float(timeline[0]), float(timeline[-1])],
        "items_at_start": problem.n_available(0),
        "items_arriving": int(((arrival > 0) & (arrival < NEVER)).sum()),
        "items_never": int((arrival == NEVER).sum()),
        "known_user_share": float(known.mean()),
        "overviews": data.meta.get("overviews"),
    }
    report["zero_context_share"] = zero_share
    return problem, report


def _profile_contexts(data: LoggedData, texts: ContextEncoding, dim: int) -> np.ndarray:
    """Profile text (through the contexts' encoder) + user feature block, PCA over the users."""
    parts = [texts.encode(data.users.text)] if data.users.text is not None else []
    if data.users.features is not None:
        parts.append(feature_block(data.users.features))
    if not parts:
        raise ValueError(f"user_context='profile' needs user text or features, and {data.name} has neither")
    raw = np.hstack(parts)
    return PCAContexts(min(dim, *raw.shape)).fit(raw).transform(raw)


def _history_contexts(train: LoggedData, item_ctx: np.ndarray) -> np.ndarray:
    """float32[n_users, d]: mean context of each user's liked items in the fitting part.

    A user who liked none of the items they rated there gets the mean context of those
    items instead; a user without fitting rows gets 0.
    """
    inter = train.interactions
    liked = train.binary_reward() > 0
    n_users = len(train.users)

    def mean(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sums = np.zeros((n_users, item_ctx.shape[1]))
        np.add.at(sums, inter.user[mask], item_ctx[inter.item[mask]])
        counts = np.bincount(inter.user[mask], minlength=n_users)
        return sums / np.maximum(counts, 1)[:, None], counts

    liked_mean, n_liked = mean(liked)
    rated_mean, _ = mean(np.ones(len(inter), dtype=bool))
    return np.where((n_liked > 0)[:, None], liked_mean, rated_mean).astype(np.float32)


def _resolve(env_name: str, path: str | Path | None) -> Path:
    """The data folder of an env id: ``path`` for MovieLens-v0 (required), searched for 100K."""
    if env_name == "MovieLens100K-v0":
        return find_movielens_100k(path)
    if path is None:
        raise ValueError(f"{env_name} needs path= (a MovieLens folder); MovieLens100K-v0 finds its own")
    return find_data_folder(path, "movielens")


class MovieLensBanditEnv(BanditEnv):
    """MovieLens-v0: films recommended to MovieLens users, one user per step.

    ## Description
    Any MovieLens folder (100K format: ``u.data``, ``u.item``, ``u.user``; CSV format of
    ml-latest(-small), 20M, 25M, 32M: ``ratings.csv``, ``movies.csv``), given as
    ``path=``. The log is split under ``protocol``: by default ("per-user") each user's
    last ``holdout`` share of ratings (by time) is held out, so every simulated user has
    ratings behind their preferences; "global" holds out the ratings after the
    ``1 - holdout`` time quantile (users first seen later are then new to the truth).
    The truth is fitted on the rest; the env replays the held-out rows: decision ``t`` is
    at the time of the ``t``-th held-out rating; each step a user arrives
    (``user_arrival``: that rating's user, or a user drawn in proportion to their number
    of ratings) and K distinct candidates are drawn uniformly from the films available by
    then (released, or already rated, by that time), not only films the user rated. Past
    the last held-out rating every film is available and "log" arrivals replay from the
    start.

    ## User model (ground truth)
    ``recbandit.envs.truth.fit_truth``: ID embeddings plus user features (100K: age,
    gender, occupation) and film features (text ``"Title (year) — genres"``, plus its most
    frequent tags where the CSV folder has ``tags.csv``, through ``truth_encoder``
    — default the hashed bag of words, whatever the agents' ``encoder`` — and genres),
    trained with ``neg_ratio`` sampled unrated films per rating; the model ("mf",
    "two-tower", or "logistic-mf") is the best on a validation split carved from the
    fitting part (``model="auto"``). ``expected_reward(u, i)`` is the probability that
    user ``u`` likes film ``i`` when it is shown to them, a shown film being, with
    probability ``r / (1 + r)``, one they would not have rated (see
    ``recbandit.envs.fidelity``). ``fit_report`` holds its fidelity on the held-out rows
    (plus sampled unrated films) next to like-count popularity and a per-item like-rate:
    AUC, per-user AUC, log loss, calibration error, like-among-rated AUC, segments, and
    ``zero_context_share`` (share of decisions whose user context is all zeros).

    ## Action Space
    ``Discrete(k)``.

    ## Observation Space
    ``Dict``: ``user`` float32[d_u], ``items`` float32[k, d_i], ``item_ids`` int64[k].
    Item contexts: the film's text through ``encoder`` (default: the hashed bag of words)
    plus its genres, reduced to ``context_dim`` by PCA over the films. User contexts
    (``user_context``): ``"profile"``, the profile sentence ("A 24-year-old male
    technician.") through the same encoder plus the user features, PCA over the users
    (100K); or ``"history"``, the mean context of the films the user liked in the fitting
    part (rated, if they liked none; zero for users without fitting rows; the default of
    the CSV format, which has no profiles). Agents never see the truth's parameters or
    held-out labels.

    ## Rewards
    Bernoulli(p(like)) of the chosen film (like = rating >= ``rating_threshold``).

    ## Starting State
    Decision 0 (the first held-out rating's time): the films available by then.

    ## Episode End
    Never (a continuing stream of users); use the runner's horizon or ``TimeLimit``.

    ## Arguments
    ``path`` (required), ``k`` (10), ``context_dim`` (12), ``rating_threshold`` (4.0),
    ``user_arrival`` ("log" | "activity"), ``user_context`` ("auto" | "profile" |
    "history"), ``cold_window`` (1000), ``encoder_dim`` (256), ``encoder`` (the contexts'
    encoder: a spec such as ``"minilm"``, ``"bow:512"``, a Hugging Face id or a model
    folder, see ``recbandit.encoders.registry``, or an ``Encoder`` object, which skips the
    per-process cache; None = ``"bow:<encoder_dim>"``), ``truth_encoder`` (spec; None =
    ``"bow:<encoder_dim>"``), ``overviews`` (None, or TMDb metadata as a path or dataset
    name, e.g. ``"the-movies-dataset"``: the contexts' film text becomes "Title (year) —
    genres. Overview"; the truth is unchanged); the truth's ``model`` (or ``truth``: "auto" | "mf" |
    "two-tower" | "logistic-mf"), ``protocol`` ("per-user" | "global"), ``holdout`` (0.2),
    ``val_share`` (0.1), ``neg_ratio`` (4), ``eval_seed`` (0), ``fit_seed`` (0); and the
    "logistic-mf" candidate's ``factors``, ``l2``, ``l2_side``, ``lr``, ``max_epochs``,
    ``patience``, ``val_fraction``, ``refit``, ``item_ids``, ``init_std``. ``info`` as
    ``BanditEnv``.

    ## Version History
    * v0: initial version; since issue 10 the truth is chosen on validation among models
      trained with sampled unrated films, the split is per user by default, and the
      history contexts come from the fitting part.
    """

    env_name = "MovieLens-v0"

    def __init__(self, path: str | Path | None = None, encoder: Encoder | str | None = None, **kwargs: Any) -> None:
        self.config = make_config(_resolve(self.env_name, path), env_name=self.env_name, **kwargs)
        problem, report = movielens_problem(self.config, encoder)
        self.fit_report = copy.deepcopy(report)
        super().__init__(problem)


class MovieLensBatchedEnv(BatchedBanditEnv):
    """MovieLens-v0 with ``batch_size`` users per step (see ``MovieLensBanditEnv``, ``BatchedBanditEnv``)."""

    env_name = "MovieLens-v0"

    def __init__(
        self,
        batch_size: int = 256,
        path: str | Path | None = None,
        encoder: Encoder | str | None = None,
        **kwargs: Any,
    ) -> None:
        self.config = make_config(_resolve(self.env_name, path), env_name=self.env_name, **kwargs)
        problem, report = movielens_problem(self.config, encoder)
        self.fit_report = copy.deepcopy(report)
        super().__init__(problem, batch_size=batch_size)


def find_movielens_100k(path: str | Path | None = None) -> Path:
    """The MovieLens 100K folder.

    ``path`` if given, else ``$RECBANDIT_DATA/movielens-100k``, then the user cache
    (where ``recbandit data fetch movielens-100k`` puts it).

    Raises:
        DatasetNotFoundError: none found (the message says to run
            ``recbandit data fetch movielens-100k``).
    """
    return find_data_folder(path, "movielens-100k")


class MovieLens100KBanditEnv(MovieLensBanditEnv):
    """MovieLens100K-v0: ``MovieLens-v0`` on MovieLens 100K, found without ``path=``.

    ## Description
    As ``MovieLens-v0`` on MovieLens 100K (GroupLens, 1998: 100,000 ratings 1-5 of 1,682
    films by 943 users, 1997-09 to 1998-04). The folder is ``path=`` if given, else
    ``$RECBANDIT_DATA/movielens-100k`` or the user cache; if none exists the env raises
    ``DatasetNotFoundError`` saying to run ``recbandit data fetch movielens-100k``.
    With the defaults each user's last 20% of ratings is held out (20,000 rows, at least 4
    per user) and decisions follow them in time order; the truth knows every user from
    their earlier ratings. With ``protocol="global"`` the truth is fitted on the first 80%
    of the ratings (to 1998-03-07) and 85% of the later ratings come from users it has
    never seen, simulated from their age, gender and occupation.

    ## User model (ground truth)
    See ``MovieLensBanditEnv``; ``fit_report`` holds the held-out figures.

    ## Action Space
    ``Discrete(k)``.

    ## Observation Space
    As ``MovieLensBanditEnv``; user contexts are the profile sentence ("A 24-year-old male
    technician.") through the encoder plus age, gender and occupation, PCA over the users.

    ## Rewards
    Bernoulli(p(like)), like = rating >= 4 by default.

    ## Starting State
    Decision 0 at the first held-out rating (1998-03-07 with ``protocol="global"``); the
    films available by then.

    ## Episode End
    Never; use the runner's horizon or ``TimeLimit``.

    ## Arguments
    As ``MovieLensBanditEnv``, with ``path`` optional.

    ## Version History
    * v0: initial version; since issue 10 the truth is chosen on validation among models
      trained with sampled unrated films, the split is per user by default, and the
      history contexts come from the fitting part.
    """

    env_name = "MovieLens100K-v0"


class MovieLens100KBatchedEnv(MovieLensBatchedEnv):
    """MovieLens100K-v0 with ``batch_size`` users per step (see ``MovieLens100KBanditEnv``)."""

    env_name = "MovieLens100K-v0"


__all__ = [
    "MovieLens100KBanditEnv",
    "MovieLens100KBatchedEnv",
    "MovieLensBanditEnv",
    "MovieLensBatchedEnv",
    "MovieLensEnvConfig",
    "find_movielens_100k",
    "movielens_problem",
]
