"""Session envs: ``SessionEnv`` (one session per episode) and ``BatchedSessionEnv`` (B side by side)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recbandit._validation import check_int
from recbandit.envs.problem import BanditProblem, ProblemAttributes
from recbandit.envs.session.core import SessionCore, SessionDynamics
from recbandit.types import Obs


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
            # A new session: its user first, then its candidates (as SessionEnv's reset does).
            self.core.start(self.np_random, ended)
            self.core.draw_candidates(self.np_random, self._t, ended)
        return self.core.observe(), float(rewards.sum()), False, False, info


__all__ = ["BatchedSessionEnv", "SessionEnv"]
