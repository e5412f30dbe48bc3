"""Session-v0 and SessionMovieLens100K-v0: a user stays for several steps, and what is shown changes them.

``SessionCore`` holds B sessions at once and steps them with numpy; ``SessionEnv`` is one
session per episode (Gymnasium's contract, for ``gym.make`` and SB3's ``learn``) and
``BatchedSessionEnv`` runs B sessions side by side, replacing each session that ends with
a new user inside ``step`` (so it never terminates, like the batched bandit env) and
reporting the ends per user in ``info``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recbandit._validation import check_float, check_int
from recbandit.data.synthetic import SyntheticConfig, make_catalogue
from recbandit.encoders.base import Encoder
from recbandit.envs.problem import BanditProblem, ProblemAttributes, step_info
from recbandit.types import REWARDS, SESSION_IDS, SESSION_STEP, Obs

#: Base click probabilities are clipped to [P_CLIP, 1 - P_CLIP] before taking their logit.
P_CLIP = 1e-6


@dataclass(frozen=True)
class SessionDynamics:
    """How a session evolves with what is shown (the equations are in ``SessionEnv``'s docstring).

    Attributes:
        fatigue_decay: gamma_f in [0, 1), how much of the fatigue is left after a step.
        fatigue_strength: logit penalty per unit of ``<fatigue, topics_i>``, >= 0.
        drift_decay: gamma_d in [0, 1), how much of the interest drift is left after a step.
        drift_strength: logit bonus per unit of ``<drift, topics_i>``, >= 0.
        satisfaction_rate: lambda in (0, 1], weight of the latest click in the satisfaction.
        initial_satisfaction: satisfaction s_0 of a user arriving, in [0, 1].
        leave_logit: a, the logit of leaving after a step at satisfaction 0.
        leave_sensitivity: b >= 0, how much satisfaction lowers that logit.
        max_steps: session length cap (the session is truncated after this many steps).
    """

    fatigue_decay: float = 0.8
    fatigue_strength: float = 1.0
    drift_decay: float = 0.9
    drift_strength: float = 0.5
    satisfaction_rate: float = 0.3
    initial_satisfaction: float = 0.5
    leave_logit: float = -1.0
    leave_sensitivity: float = 6.0
    max_steps: int = 50

    def __post_init__(self) -> None:
        check_float("fatigue_decay", self.fatigue_decay, min_value=0.0, max_value=1.0, max_inclusive=False)
        check_float("fatigue_strength", self.fatigue_strength, min_value=0.0)
        check_float("drift_decay", self.drift_decay, min_value=0.0, max_value=1.0, max_inclusive=False)
        check_float("drift_strength", self.drift_strength, min_value=0.0)
        check_float("satisfaction_rate", self.satisfaction_rate, min_value=0.0, max_value=1.0, min_inclusive=False)
        check_float("initial_satisfaction", self.initial_satisfaction, min_value=0.0, max_value=1.0)
        check_float("leave_logit", self.leave_logit)
        check_float("leave_sensitivity", self.leave_sensitivity, min_value=0.0)
        check_int("max_steps", self.max_steps, min_value=1)

    def leave_probability(self, satisfaction: np.ndarray) -> np.ndarray:
        """float64[B]: ``sigmoid(leave_logit - leave_sensitivity * satisfaction)``."""
        return 1.0 / (1.0 + np.exp(-(self.leave_logit - self.leave_sensitivity * np.asarray(satisfaction))))


DYNAMICS_FIELDS = tuple(f.name for f in fields(SessionDynamics))


def split_dynamics(kwargs: dict[str, Any]) -> tuple[SessionDynamics, dict[str, Any]]:
    """The ``SessionDynamics`` of the keyword arguments and the arguments left for the problem."""
    dyn = {k: v for k, v in kwargs.items() if k in DYNAMICS_FIELDS}
    return SessionDynamics(**dyn), {k: v for k, v in kwargs.items() if k not in DYNAMICS_FIELDS}


def normalise_topics(topics: np.ndarray, n_items: int) -> np.ndarray:
    """float64[n_items, T]: rows scaled to sum to 1; an all-zero row becomes uniform.

    Raises:
        ValueError: wrong shape, negative or non-finite entries.
    """
    arr = np.asarray(topics, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n_items or arr.shape[1] < 1:
        raise ValueError(f"topics must have shape ({n_items}, T) with T >= 1, got {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError("topics must be finite and non-negative")
    sums = arr.sum(axis=1, keepdims=True)
    return np.where(sums > 0, arr / np.where(sums > 0, sums, 1.0), 1.0 / arr.shape[1])


class SessionCore:
    """B sessions stepped at once: the state and dynamics shared by ``SessionEnv`` and ``BatchedSessionEnv``.

    Args:
        problem: users, items, their contexts, the base user model p_0 and the candidate schedule.
        topics: float[n_items, T] non-negative topic weights of the items (normalised per row);
            fatigue and interest drift live in this topic space.
        dynamics: the session dynamics.
        batch: number of sessions B stepped together.
    """

    def __init__(self, problem: BanditProblem, topics: np.ndarray, dynamics: SessionDynamics, batch: int) -> None:
        self.problem = problem
        self.dynamics = dynamics
        self.topics = normalise_topics(topics, problem.n_items)
        self.batch = check_int("batch", batch, min_value=1)
        b, k, n_topics, d_i = self.batch, problem.k, self.topics.shape[1], problem.item_dim
        self.n_sessions = 0
        self.users = np.zeros(b, np.int64)
        self.candidates = np.zeros((b, k), np.int64)
        self.session_ids = np.zeros(b, np.int64)
        self.steps = np.zeros(b, np.int64)
        self.returns = np.zeros(b)
        self.satisfaction = np.zeros(b)
        self.fatigue = np.zeros((b, n_topics))
        self.drift = np.zeros((b, n_topics))
        self.shown = np.zeros((b, d_i))
        self.clicked = np.zeros((b, d_i))

    @property
    def session_dim(self) -> int:
        """Number of session features appended to the user context: ``2 + 2 d_i``."""
        return 2 + 2 * self.problem.item_dim

    def observation_space(self, batch: int | None) -> spaces.Dict:
        """Dict space of one observation (leading dimension ``batch`` unless ``None``)."""
        base = self.problem.observation_space(batch)
        lead = () if batch is None else (batch,)
        u, v = self.problem.user_contexts, self.problem.item_contexts
        d_u, d_i = self.problem.user_dim, self.problem.item_dim
        # Session features: step / max_steps and satisfaction in [0, 1]; the two context
        # averages are convex combinations of 0 and item contexts.
        lo_v, hi_v = min(0.0, float(v.min())), max(0.0, float(v.max()))
        low = np.concatenate([np.full(d_u, u.min()), [0.0, 0.0], np.full(2 * d_i, lo_v)]).astype(np.float32)
        high = np.concatenate([np.full(d_u, u.max()), [1.0, 1.0], np.full(2 * d_i, hi_v)]).astype(np.float32)
        shape = (*lead, d_u + self.session_dim)
        user = spaces.Box(np.broadcast_to(low, shape), np.broadcast_to(high, shape), dtype=np.float32)
        return spaces.Dict({"user": user, "items": base["items"], "item_ids": base["item_ids"]})

    def start(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Start new sessions in ``rows`` (int64 indices): new users, fresh state."""
        n = len(rows)
        self.users[rows] = self.problem.draw_users(rng, self.n_sessions, n)  # schedule by session count
        self.session_ids[rows] = self.n_sessions + np.arange(n)
        self.n_sessions += n
        self.steps[rows] = 0
        self.returns[rows] = 0.0
        self.satisfaction[rows] = self.dynamics.initial_satisfaction
        for state in (self.fatigue, self.drift, self.shown, self.clicked):
            state[rows] = 0.0

    def draw_candidates(self, rng: np.random.Generator, t: int) -> None:
        """Draw K distinct available candidates for every session (decision clock ``t``)."""
        self.candidates = self.problem.draw(rng, t, self.batch)[1]

    def expected_rewards(self) -> np.ndarray:
        """float64[B, K]: click probability of each candidate in the current state."""
        dyn = self.dynamics
        base = np.clip(self.problem.user_model.expected_reward(self.users, self.candidates), P_CLIP, 1 - P_CLIP)
        logit = np.log(base) - np.log1p(-base)
        shift = dyn.drift_strength * self.drift - dyn.fatigue_strength * self.fatigue  # [B, T]
        logit += np.einsum("bkt,bt->bk", self.topics[self.candidates], shift)
        return 1.0 / (1.0 + np.exp(-logit))

    def observe(self) -> Obs:
        """Observation dict with leading dimension B."""
        session = np.empty((self.batch, self.session_dim))
        session[:, 0] = self.steps / self.dynamics.max_steps
        session[:, 1] = self.satisfaction
        d_i = self.problem.item_dim
        session[:, 2 : 2 + d_i] = self.shown
        session[:, 2 + d_i :] = self.clicked
        user = np.concatenate([self.problem.user_contexts[self.users], session.astype(np.float32)], axis=1)
        return {
            "user": user,
            "items": self.problem.item_contexts[self.candidates],
            "item_ids": self.candidates.copy(),
        }

    def step(
        self, rng: np.random.Generator, t: int, actions: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Show ``actions`` (int64[B] candidate positions), draw clicks and departures, update the state.

        Returns:
            rewards float64[B], info (leading dimension B), terminated bool[B] (the user
            left), truncated bool[B] (the session reached ``max_steps``).
        """
        dyn, problem = self.dynamics, self.problem
        rows = np.arange(self.batch)
        info = step_info(
            rng, self.expected_rewards(), actions, self.users.copy(), self.candidates.copy(),
            problem.cold(t, self.candidates),
        )  # fmt: skip
        info[SESSION_IDS] = self.session_ids.copy()
        info[SESSION_STEP] = self.steps.copy()
        clicks = info[REWARDS]
        items = self.candidates[rows, actions]
        # User state: fatigue from exposure, interest drift from consumption, satisfaction from clicks.
        y, v = self.topics[items], problem.item_contexts[items].astype(np.float64)
        self.fatigue = dyn.fatigue_decay * self.fatigue + y
        self.drift = dyn.drift_decay * self.drift + clicks[:, None] * y
        self.satisfaction = (1 - dyn.satisfaction_rate) * self.satisfaction + dyn.satisfaction_rate * clicks
        # What the agent can compute from its own history: averages of shown / clicked contexts.
        self.shown = dyn.fatigue_decay * self.shown + (1 - dyn.fatigue_decay) * v
        self.clicked = dyn.drift_decay * self.clicked + (1 - dyn.drift_decay) * clicks[:, None] * v
        self.steps += 1
        self.returns += clicks
        leave_p = dyn.leave_probability(self.satisfaction)
        terminated = rng.random(self.batch) < leave_p
        truncated = ~terminated & (self.steps >= dyn.max_steps)
        info.update(
            session_return=self.returns.copy(),
            session_length=self.steps.copy(),
            satisfaction=self.satisfaction.copy(),
            leave_probability=leave_p,
            terminated=terminated,
            truncated=truncated,
        )
        return clicks, info, terminated, truncated


class SessionEnv(ProblemAttributes, gym.Env[Obs, np.int64]):
    """A user stays for a session of several recommendations; fatigue, drift and satisfaction evolve.

    ## Description
    Each episode is one session of one user (drawn like the bandit env's users: from the
    problem's ``user_schedule`` by session count, its ``user_weights``, or uniformly). At
    every step K distinct candidates are drawn from the items available at the decision
    clock, the agent shows one, the user clicks with the current click probability, and
    the user's state changes with what was shown:

    * click probability of item i: ``p_t(i) = sigmoid(logit p_0(u, i) + drift_strength *
      <d_t, y_i> - fatigue_strength * <f_t, y_i>)``, with ``p_0`` the problem's user model
      (clipped to [1e-6, 1 - 1e-6]) and ``y_i`` the item's topic mixture (rows sum to 1);
    * fatigue (exposure to a topic tires of it): ``f_{t+1} = fatigue_decay * f_t + y_shown``;
    * interest drift toward consumed topics: ``d_{t+1} = drift_decay * d_t + click_t * y_shown``;
    * satisfaction: ``s_{t+1} = (1 - satisfaction_rate) * s_t + satisfaction_rate * click_t``;
    * after each step the user leaves with probability ``sigmoid(leave_logit -
      leave_sensitivity * s_{t+1})``: low satisfaction raises the chance of leaving.

    Showing the user's favourite topic again and again wins clicks now and costs them
    later (fatigue), and lost clicks lower satisfaction and end the session early, so the
    myopically best item is not always the best for the session's return.

    ## Action Space
    ``Discrete(K)``: the position of the candidate shown.

    ## Observation Space
    ``Dict`` with the bandit envs' keys, so bandit agents run on it unchanged:
    ``items`` float32[K, d_i], ``item_ids`` int64[K], and ``user`` float32[d_u + 2 + 2 d_i]:
    the user's context followed by the session features the agent could compute itself
    from its own history: ``step / max_steps``, the satisfaction ``s_t`` (an average of
    the clicks it saw), the exponential average (weight ``1 - fatigue_decay``) of the
    contexts of the items shown and that (weight ``1 - drift_decay``) of the items clicked.
    Fatigue and drift themselves (in latent topic space) are hidden.

    ## Rewards
    1.0 for a click, 0.0 otherwise; the session return is the number of clicks.

    ## Starting State
    A new user with ``f = d = 0`` and ``s = initial_satisfaction``; the first candidates.
    The decision clock (item arrivals, cold flags) is 0 after a seeded ``reset`` and keeps
    counting decisions across later unseeded resets, so new items arrive over a run.

    ## Episode End
    Terminated when the user leaves; truncated after ``max_steps`` steps (the env does it
    itself, so the runner's unwrapped env and SB3 see the same cap).

    ## Info (from ``step``, about the decision just taken)
    As ``BanditEnv`` (``expected_rewards`` float64[K] in the current state,
    ``expected_reward``, ``optimal_reward`` and ``optimal_action`` of the *myopic* optimum,
    ``regret`` = myopic per-step regret, ``rewards``, ``item_ids``, ``user_ids``,
    ``cold``), plus ``session_ids``, ``session_step`` (0-based index of the decision in its
    session), ``session_return`` and ``session_length`` (so far, this step included),
    ``satisfaction``, ``leave_probability``, ``terminated``, ``truncated``.

    ## Arguments
    ``problem`` (a ``BanditProblem``), ``topics`` (float[n_items, T] >= 0) and the
    ``SessionDynamics``: ``fatigue_decay`` (0.8), ``fatigue_strength`` (1.0),
    ``drift_decay`` (0.9), ``drift_strength`` (0.5), ``satisfaction_rate`` (0.3),
    ``initial_satisfaction`` (0.5), ``leave_logit`` (-1.0), ``leave_sensitivity`` (6.0),
    ``max_steps`` (50). The registered ids build the problem themselves (see
    ``SyntheticSessionEnv``, ``MovieLens100KSessionEnv``).

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, problem: BanditProblem, topics: np.ndarray, dynamics: SessionDynamics | None = None) -> None:
        self.problem = problem
        self.dynamics = dynamics or SessionDynamics()
        self.core = SessionCore(problem, topics, self.dynamics, batch=1)
        self.observation_space = self.core.observation_space(None)  # type: ignore[assignment]
        self.action_space = spaces.Discrete(problem.k)
        self._t = 0

    def _obs(self) -> Obs:
        return {key: value[0] for key, value in self.core.observe().items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict]:
        """Start a session with a new user (a seeded reset also rewinds the clock and session count)."""
        super().reset(seed=seed)
        if seed is not None:
            self._t = 0
            self.core.n_sessions = 0
        self.core.start(self.np_random, np.zeros(1, np.int64))
        self.core.draw_candidates(self.np_random, self._t)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        """Show candidate ``action``; the user clicks or not, and stays or leaves."""
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {self.problem.k}), got {action!r}")
        rewards, info, terminated, truncated = self.core.step(
            self.np_random, self._t, np.array([int(action)], dtype=np.int64)
        )
        self._t += 1
        self.core.draw_candidates(self.np_random, self._t)
        out = {key: value[0] for key, value in info.items()}
        return self._obs(), float(rewards[0]), bool(terminated[0]), bool(truncated[0]), out

    def expected_rewards(self) -> np.ndarray:
        """float64[K]: the current candidates' click probabilities (for oracles and tests)."""
        return self.core.expected_rewards()[0]


class BatchedSessionEnv(ProblemAttributes, gym.Env[Obs, np.ndarray]):
    """B sessions side by side; a session that ends is replaced by a new user within ``step``.

    ## Description
    ``SessionEnv``'s dynamics for ``batch_size`` concurrent sessions, stepped with numpy.
    All B sessions share the decision clock, which advances by B per step.

    ## Action Space
    ``MultiDiscrete([K] * B)``.

    ## Observation Space
    As ``SessionEnv`` with a leading dimension B.

    ## Rewards
    The scalar reward is the B sessions' total; per-user clicks are ``info["rewards"]``.

    ## Starting State
    B new sessions, clock at decision 0.

    ## Episode End
    Never: a session that ends (``info["terminated"]`` / ``info["truncated"]``, bool[B])
    is replaced by a new user's session in the returned observation, and
    ``info["final_obs"]`` (present when any session ended) holds every row's observation
    before the replacement (Gymnasium's same-step autoreset).

    ## Info
    As ``SessionEnv`` with a leading dimension B, plus ``final_obs``.

    ## Arguments
    As ``SessionEnv``, plus ``batch_size`` (1 to 65536).

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        problem: BanditProblem,
        topics: np.ndarray,
        dynamics: SessionDynamics | None = None,
        batch_size: int = 256,
    ) -> None:
        self.problem = problem
        self.dynamics = dynamics or SessionDynamics()
        self.num_envs = check_int("batch_size", batch_size, min_value=1, max_value=65536)
        self.core = SessionCore(problem, topics, self.dynamics, batch=self.num_envs)
        self.single_observation_space = self.core.observation_space(None)
        self.single_action_space = spaces.Discrete(problem.k)
        self.observation_space = self.core.observation_space(self.num_envs)  # type: ignore[assignment]
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, problem.k, dtype=np.int64))
        self._t = 0

    @property
    def batch_size(self) -> int:
        """Number of concurrent sessions, B."""
        return self.num_envs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict]:
        """Start B sessions; a seeded reset rewinds the clock and the session count."""
        super().reset(seed=seed)
        if seed is not None:
            self._t = 0
            self.core.n_sessions = 0
        self.core.start(self.np_random, np.arange(self.num_envs))
        self.core.draw_candidates(self.np_random, self._t)
        return self.core.observe(), {}

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        """Show ``action`` int64[B]; replace the sessions that ended by new users' sessions."""
        actions = np.asarray(action)
        k = self.problem.k
        if (
            actions.shape != (self.num_envs,)
            or not np.issubdtype(actions.dtype, np.integer)
            or (actions < 0).any()
            or (actions >= k).any()
        ):
            raise ValueError(
                f"action must be {self.num_envs} integers in [0, {k}), got shape {actions.shape} dtype {actions.dtype}"
            )
        rewards, info, terminated, truncated = self.core.step(self.np_random, self._t, actions.astype(np.int64))
        self._t += self.num_envs
        self.core.draw_candidates(self.np_random, self._t)
        ended = np.flatnonzero(terminated | truncated)
        if len(ended):
            info["final_obs"] = self.core.observe()  # type: ignore[assignment]
            self.core.start(self.np_random, ended)
        return self.core.observe(), float(rewards.sum()), False, False, info


# --------------------------------------------------------------------------- registered envs


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
    "BatchedSessionEnv",
    "MovieLens100KBatchedSessionEnv",
    "MovieLens100KSessionEnv",
    "SessionCore",
    "SessionDynamics",
    "SessionEnv",
    "SyntheticBatchedSessionEnv",
    "SyntheticSessionEnv",
]
