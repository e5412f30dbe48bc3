"""The session dynamics: how a user's click probability, fatigue, interest and patience evolve.

``SessionDynamics`` holds the parameters, ``SessionCore`` the state of B sessions and one
vectorised step of them (the equations are in ``SessionEnv``'s docstring); the envs in
``recbandit.envs.session.env`` wrap it in Gymnasium's contract.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from gymnasium import spaces

from recbandit._validation import check_float, check_int
from recbandit.envs.problem import BanditProblem, step_info
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

    def draw_candidates(self, rng: np.random.Generator, t: int, rows: np.ndarray | None = None) -> None:
        """Draw K distinct available candidates for the sessions ``rows`` (all if None) at clock ``t``."""
        if rows is None:
            self.candidates = self.problem.draw(rng, t, self.batch)[1]
        else:
            self.candidates[rows] = self.problem.draw(rng, t, len(rows))[1]

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


__all__ = ["DYNAMICS_FIELDS", "P_CLIP", "SessionCore", "SessionDynamics", "normalise_topics", "split_dynamics"]
