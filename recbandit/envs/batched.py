"""Batched bandit env: B users per step, all numpy, no Python loop per user."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recbandit._validation import check_int
from recbandit.envs.problem import BanditProblem, ProblemAttributes
from recbandit.types import Obs


class BatchedBanditEnv(ProblemAttributes, gym.Env[Obs, np.ndarray]):
    """B users arrive at once; the agent picks one of K candidates for each.

    ## Description
    The same problem as ``BanditEnv``, stepped for ``batch_size`` users per call. All B
    users of a step share the decision clock of the batch's first user; the clock
    advances by B per step. With ``batch_size=1`` it reproduces ``BanditEnv`` draw for draw.

    ## Action Space
    ``MultiDiscrete([K] * B)``: one candidate position per user.

    ## Observation Space
    ``Dict``: ``user`` float32[B, d_u], ``items`` float32[B, K, d_i], ``item_ids`` int64[B, K].

    ## Rewards
    The step's scalar reward is the total over the B users (a ``gym.Env`` must return a
    scalar); per-user rewards are ``info["rewards"]`` float64[B].

    ## Starting State
    Clock at decision 0; the first B users are drawn from ``np_random``.

    ## Episode End
    Never terminates; horizons are the runner's (or ``TimeLimit``'s) job.

    ## Info
    As ``BanditEnv`` with a leading dimension B on every value.

    ## Arguments
    ``problem``: a ``BanditProblem``; ``batch_size``: B, 1 to 65536.

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, problem: BanditProblem, batch_size: int = 256) -> None:
        self.problem = problem
        self.num_envs = check_int("batch_size", batch_size, min_value=1, max_value=65536)
        self.single_observation_space = problem.observation_space(None)
        self.single_action_space = spaces.Discrete(problem.k)
        self.observation_space = problem.observation_space(self.num_envs)  # type: ignore[assignment]
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, problem.k, dtype=np.int64))
        self._t = 0
        self._users = np.zeros(self.num_envs, np.int64)
        self._candidates = np.zeros((self.num_envs, problem.k), np.int64)

    @property
    def batch_size(self) -> int:
        """Number of users per step, B."""
        return self.num_envs

    def _next(self) -> Obs:
        self._users, self._candidates = self.problem.draw(self.np_random, self._t, self.num_envs)
        return self.problem.observe(self._users, self._candidates)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict]:
        """Reset the clock to decision 0 and draw the first B users."""
        super().reset(seed=seed)
        self._t = 0
        return self._next(), {}

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        """Reward the current B users for ``action`` int64[B] and draw the next B."""
        actions = np.asarray(action)
        if (
            actions.shape != (self.num_envs,)
            or actions.dtype.kind not in "iu"
            or not _in_range(actions, self.problem.k)
        ):
            raise ValueError(
                f"action must be {self.num_envs} integers in [0, {self.problem.k}), "
                f"got shape {actions.shape} dtype {actions.dtype}"
            )
        rewards, info = self.problem.outcome(
            self.np_random, self._t, self._users, self._candidates, actions.astype(np.int64, copy=False)
        )
        self._t += self.num_envs
        return self._next(), float(rewards.sum()), False, False, info


def _in_range(actions: np.ndarray, k: int) -> bool:
    """Whether every entry of the integer array ``actions`` is in ``[0, k)``."""
    if len(actions) == 1:  # online: one Python comparison instead of two reductions
        return 0 <= int(actions[0]) < k
    return bool(actions.min() >= 0 and actions.max() < k)
