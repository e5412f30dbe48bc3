"""The registered session envs: Session-v0 (synthetic) and SessionMovieLens100K-v0.

Each builds its ``BanditProblem`` and item topics from a dataset and hands them to
``SessionEnv`` / ``BatchedSessionEnv``; keyword arguments named like a
``SessionDynamics`` field go to the dynamics, the others to the dataset's problem.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from recbandit.data.synthetic import SyntheticConfig, make_catalogue
from recbandit.encoders.base import Encoder
from recbandit.envs.problem import BanditProblem
from recbandit.envs.session.core import DYNAMICS_FIELDS, split_dynamics
from recbandit.envs.session.env import BatchedSessionEnv, SessionEnv

#: Synthetic-v0 arguments whose Session-v0 default differs: a higher base click rate
#: (Synthetic-v0: -2.5) so that sessions last long enough for fatigue to matter.
SESSION_SYNTHETIC_DEFAULTS: dict[str, Any] = {"base_logit": -1.5}


@lru_cache(maxsize=8)
def _catalogue_topics(config: SyntheticConfig) -> np.ndarray:
    topics = make_catalogue(config).item_topics
    topics.setflags(write=False)
    return topics


def _synthetic_parts(encoder: Encoder | str | None, kwargs: dict[str, Any]) -> tuple[Any, BanditProblem, np.ndarray]:
    from recbandit.envs.synthetic import make_config, synthetic_problem

    dynamics, rest = split_dynamics(kwargs)
    try:
        config = make_config(**{**SESSION_SYNTHETIC_DEFAULTS, **rest})
    except ValueError as exc:
        if str(exc).startswith("unknown"):
            raise ValueError(f"{exc}, and the session's {', '.join(DYNAMICS_FIELDS)}") from None
        raise
    return (config, dynamics), synthetic_problem(config, encoder), _catalogue_topics(config.catalogue)


class SyntheticSessionEnv(SessionEnv):
    """Session-v0: ``SessionEnv`` over Synthetic-v0's catalogue, users and contexts.

    ## Description
    The synthetic catalogue and ground truth of Synthetic-v0 (``p_0(u, i) =
    sigmoid(reward_scale * <prefs_u, topics_i> + quality_i + base_logit)``) with the
    session dynamics of ``SessionEnv`` acting on the catalogue's latent topic mixtures
    (``topics_i``, 8 topics by default; items are nearly single-topic).

    ## Action Space
    ``Discrete(k)``.

    ## Observation Space
    ``user`` float32[context_dim + 2 + 2 context_dim] (default 38), ``items``
    float32[k, context_dim], ``item_ids`` int64[k]; see ``SessionEnv``.

    ## Rewards
    Bernoulli(p_t(i)) of the item shown.

    ## Starting State
    As ``SessionEnv``.

    ## Episode End
    As ``SessionEnv`` (``max_steps`` 50 by default).

    ## Arguments
    Synthetic-v0's (``k``, ``context_dim``, ``reward_scale``, ``base_logit``,
    ``cold_window``, the catalogue's ``n_items``, ``n_users``, ``n_topics``, ..., ``seed``,
    ``encoder``) with ``base_logit`` -1.5 by default (Synthetic-v0: -2.5; a first
    recommendation is clicked often enough for sessions to last), and the
    ``SessionDynamics`` fields (see ``SessionEnv``). With the defaults
    (``benchmarks/results/session``), showing the myopically best candidate (an oracle of
    ``p_t``) gives sessions of 16.9 steps and 6.3 clicks, random picks 11.7 steps and 2.7
    clicks, and a simple far-sighted rule (``argmax logit p_t(i) - 0.5 <f_t, y_i>``:
    rest fatigued topics a little more than the myopic choice does) 18.2 steps and 7.1
    clicks: planning pays about 13% over the myopic optimum.

    ## Version History
    * v0: initial version.
    """

    def __init__(self, encoder: Encoder | str | None = None, **kwargs: Any) -> None:
        (self.config, dynamics), problem, topics = _synthetic_parts(encoder, kwargs)
        super().__init__(problem, topics, dynamics)


class SyntheticBatchedSessionEnv(BatchedSessionEnv):
    """Session-v0 with ``batch_size`` concurrent sessions (see ``SyntheticSessionEnv``, ``BatchedSessionEnv``)."""

    def __init__(self, batch_size: int = 256, encoder: Encoder | str | None = None, **kwargs: Any) -> None:
        (self.config, dynamics), problem, topics = _synthetic_parts(encoder, kwargs)
        super().__init__(problem, topics, dynamics, batch_size=batch_size)


@lru_cache(maxsize=2)
def _genre_topics(path: str, rating_threshold: float) -> np.ndarray:
    from recbandit.data.movielens import load_movielens

    items = load_movielens(path, rating_threshold=rating_threshold).items
    if items.features is None:
        raise ValueError(f"{path}: the films have no genre features to define session topics")
    topics = np.asarray(items.features, dtype=np.float64)
    topics.setflags(write=False)
    return topics


def _movielens_parts(
    path: str | Path | None, encoder: Encoder | str | None, kwargs: dict[str, Any]
) -> tuple[Any, BanditProblem, np.ndarray, dict[str, Any]]:
    from recbandit.envs import movielens as ml

    dynamics, rest = split_dynamics(kwargs)
    try:
        config = ml.make_config(ml.find_movielens_100k(path), env_name="SessionMovieLens100K-v0", **rest)
    except ValueError as exc:
        if str(exc).startswith("unknown"):
            raise ValueError(f"{exc}, and the session's {', '.join(DYNAMICS_FIELDS)}") from None
        raise
    problem, report = ml.movielens_problem(config, encoder)  # type: ignore[arg-type]
    topics = _genre_topics(config.path, config.rating_threshold)
    return (config, dynamics), problem, topics, copy.deepcopy(report)


class MovieLens100KSessionEnv(SessionEnv):
    """SessionMovieLens100K-v0: ``SessionEnv`` over MovieLens100K-v0's fitted user model.

    ## Description
    The problem of MovieLens100K-v0 (logistic MF fitted on the first 80% of the ratings,
    the films available on the evaluation timeline, users in log order, one user per
    session) with the session dynamics of ``SessionEnv`` acting on the films' genres
    (19 MovieLens genres, a film's genres weighted equally). ``p_0`` is the fitted
    probability that the user likes the film; the session dynamics are assumptions of
    this simulator, not fitted to the log (MovieLens has no sessions). ``fit_report``
    holds the user model's held-out fit.

    ## Action Space
    ``Discrete(k)``.

    ## Observation Space
    As ``SessionEnv`` over MovieLens100K-v0's contexts.

    ## Rewards
    Bernoulli(p_t(i)) of the film shown (a like).

    ## Starting State
    As ``SessionEnv``.

    ## Episode End
    As ``SessionEnv``.

    ## Arguments
    MovieLens100K-v0's (``path`` optional, ``k``, ``context_dim``, ...) and the
    ``SessionDynamics`` fields.

    ## Version History
    * v0: initial version.
    """

    def __init__(self, path: str | Path | None = None, encoder: Encoder | str | None = None, **kwargs: Any) -> None:
        (self.config, dynamics), problem, topics, self.fit_report = _movielens_parts(path, encoder, kwargs)
        super().__init__(problem, topics, dynamics)


class MovieLens100KBatchedSessionEnv(BatchedSessionEnv):
    """SessionMovieLens100K-v0 with ``batch_size`` concurrent sessions (see ``MovieLens100KSessionEnv``)."""

    def __init__(
        self,
        batch_size: int = 256,
        path: str | Path | None = None,
        encoder: Encoder | str | None = None,
        **kwargs: Any,
    ) -> None:
        (self.config, dynamics), problem, topics, self.fit_report = _movielens_parts(path, encoder, kwargs)
        super().__init__(problem, topics, dynamics, batch_size=batch_size)


__all__ = [
    "SESSION_SYNTHETIC_DEFAULTS",
    "MovieLens100KBatchedSessionEnv",
    "MovieLens100KSessionEnv",
    "SyntheticBatchedSessionEnv",
    "SyntheticSessionEnv",
]
