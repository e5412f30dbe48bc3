"""Single-user bandit env over a ``BanditProblem``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recbandit.envs.problem import BanditProblem, ProblemAttributes
from recbandit.types import Obs


class BanditEnv(ProblemAttributes, gym.Env[Obs, np.int64]):
    """One user arrives per step and picks nothing: the agent picks one of K candidates for them.

    ## Description
    A contextual bandit over a recommendation problem. At each step a user is drawn, K
    distinct candidate items are drawn from the items available at that time, the agent
    picks one, and a Bernoulli reward is drawn from the user model's expected reward of
    that (user, item) pair. Regret is exact: ``info`` has every candidate's expected reward.

    ## Action Space
    ``Discrete(K)``: the position of the chosen candidate.

    ## Observation Space
    ``Dict``: ``user`` float32[d_u] (the user's context), ``items`` float32[K, d_i] (each
    candidate's context), ``item_ids`` int64[K] (catalogue indices, for ID-based agents).

    ## Rewards
    1.0 for a click/like, 0.0 otherwise, drawn with the user model's probability.

    ## Starting State
    The clock is at decision 0; the first user and candidates are drawn from ``np_random``.

    ## Episode End
    Never terminates (each step is a new user); time limits are left to ``TimeLimit`` /
    the runner's horizon.

    ## Info (from ``step``, about the decision just taken)
    ``expected_rewards`` float64[K], ``expected_reward`` (chosen), ``optimal_reward``,
    ``optimal_action``, ``regret`` (optimal minus chosen expected reward), ``rewards``,
    ``item_ids`` int64[K], ``user_ids``, ``cold`` bool[K] (arrived within ``cold_window``).

    ## Arguments
    ``problem``: a ``BanditProblem`` (see ``recbandit.envs.synthetic`` for Synthetic-v0).
    The env shows ``item_contexts``, ``n_items``, ``contexts_info`` and ``fit_report`` as
    attributes (``ProblemAttributes``; read them on ``env.unwrapped`` through wrappers).

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, problem: BanditProblem) -> None:
        self.problem = problem
        self.observation_space = problem.observation_space(None)  # type: ignore[assignment]
        self.action_space = spaces.Discrete(problem.k)
        self._t = 0
        self._users = np.zeros(1, np.int64)
        self._candidates = np.zeros((1, problem.k), np.int64)

    def _next(self) -> Obs:
        self._users, self._candidates = self.problem.draw(self.np_random, self._t, 1)
        return {key: value[0] for key, value in self.problem.observe(self._users, self._candidates).items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict]:
        """Reset the clock to decision 0 and draw the first user."""
        super().reset(seed=seed)
        self._t = 0
        return self._next(), {}

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        """Reward the current user for ``action`` and draw the next user."""
        if not _is_action(action, self.problem.k):
            raise ValueError(f"action must be an integer in [0, {self.problem.k}), got {action!r}")
        actions = np.array([int(action)], dtype=np.int64)
        rewards, info = self.problem.outcome(self.np_random, self._t, self._users, self._candidates, actions)
        info = {key: value[0] for key, value in info.items()}
        self._t += 1
        # Never terminated: a continuing stream of users; truncation is TimeLimit's job.
        return self._next(), float(rewards[0]), False, False, info


def _is_action(action: Any, k: int) -> bool:
    """``Discrete(k).contains(action)`` without its conversions: an integer (or 0-d integer array) in ``[0, k)``."""
    if isinstance(action, (int, np.integer)):
        return bool(0 <= action < k)
    arr = np.asarray(action)
    return arr.shape == () and arr.dtype.kind in "iu" and 0 <= int(arr) < k
