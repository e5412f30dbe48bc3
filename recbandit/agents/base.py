"""The Agent protocol: batched ``act`` / ``update`` with propensities, and shared helpers.

Observations (``recbandit.types.Obs``) are dicts of batched arrays (B users, K
candidates): ``user`` float32[B, d_u], ``items`` float32[B, K, d_i], ``item_ids`` int64[B, K].

Agents know nothing of how rewards are made and never import an env.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from recbandit._validation import check_seed
from recbandit.types import Decision, Obs

#: ``Agent.family`` values: ``"context-free"`` (per-item-id statistics; contexts are
#: ignored), ``"linear"`` (ridge models over contexts), ``"neural"`` (bandits over a
#: trained network) and ``"deep-rl"`` (stable-baselines3 algorithms, trained online).
FAMILIES = ("context-free", "linear", "neural", "deep-rl")


@dataclass(frozen=True)
class AgentConfig:
    """Base of every agent's hyper-parameters (frozen, validated in ``__post_init__``)."""


class Agent(ABC):
    """Base class of all agents.

    Subclasses declare ``name`` (the registry key), the traits ``deterministic`` and
    ``family``, a frozen ``Config`` dataclass of hyper-parameters and implement ``_reset``,
    ``act`` and ``update``. All randomness comes from ``self.rng``, re-seeded by
    ``reset(seed)``.
    """

    name: ClassVar[str]
    #: ``act`` draws no random number: the choice is a function of the observation and of
    #: what the agent has learned, and every propensity is 1. The seed may still shape what
    #: is learned (a network's initial weights, its minibatches).
    deterministic: ClassVar[bool]
    #: The kind of model, one of ``FAMILIES``.
    family: ClassVar[str]
    Config: ClassVar[type[AgentConfig]] = AgentConfig

    def __init__(self, seed: int | None = None, **params: Any) -> None:
        self.config = self.make_config(**params)
        self.reset(seed)

    @classmethod
    def make_config(cls, **params: Any) -> AgentConfig:
        """The validated ``Config`` of ``params`` over the defaults, without building the agent.

        Raises:
            ValueError: an unknown parameter (the allowed ones are listed) or a bad value.
        """
        allowed = [f.name for f in dataclasses.fields(cls.Config)]
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for agent {cls.name!r}; allowed: {', '.join(allowed) or 'none'}"
            )
        return cls.Config(**params)

    @property
    def params(self) -> dict[str, Any]:
        """Hyper-parameters as a flat dict (they become columns of the results table)."""
        return dataclasses.asdict(self.config)

    def reset(self, seed: int | None = None) -> None:
        """Forget everything learned and re-seed the generator."""
        if seed is not None:
            check_seed("seed", seed)
        self.rng = np.random.default_rng(seed)
        self._reset()

    @abstractmethod
    def _reset(self) -> None:
        """Clear learned state."""

    @abstractmethod
    def act(self, obs: Obs) -> Decision:
        """Choose one candidate per user of the batch ``obs``."""

    @abstractmethod
    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from the rewards float64[B] of ``actions`` int64[B] taken on ``obs``."""

    def end_episodes(self, final_obs: Obs, terminated: np.ndarray, truncated: np.ndarray) -> None:  # noqa: B027
        """Hear that some users' episodes ended with the decision just passed to ``update``.

        The runner calls it, after ``update``, when an episodic env (a session env) ends
        the episode of at least one user of the batch; the next ``act`` then sees those
        users' replacements. Bandit agents ignore it (to them every decision stands alone);
        agents that bootstrap values (the SB3 adapters) need it.

        Args:
            final_obs: the batch's observation after the step (leading dimension B); only
                the rows whose episode ended are meaningful.
            terminated: bool[B], the episode ended for good (e.g. the user left).
            truncated: bool[B], the episode was cut short (e.g. a session length cap).
        """

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def deterministic(batch: int) -> np.ndarray:
    """Propensities float64[B] of a deterministic choice: all ones."""
    out = np.empty(batch)
    out.fill(1.0)  # cheaper than np.ones for the B=1 path
    return out


def argmax_random_ties(scores: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise argmax with ties broken uniformly at random.

    Args:
        scores: float64[B, K] (may hold +inf).
        rng: generator for the tie-break.

    Returns:
        actions int64[B] and ties bool[B, K] (the maximisers of each row).
    """
    ties = scores == scores.max(axis=1, keepdims=True)
    keys = rng.random(scores.shape)
    keys[~ties] = -1.0
    return keys.argmax(axis=1), ties


def check_rewards(actions: np.ndarray, rewards: np.ndarray, batch: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``update``'s arguments; return int64 actions and float64 rewards."""
    actions = np.asarray(actions)
    rewards = np.asarray(rewards, dtype=np.float64)
    if actions.shape != (batch,) or rewards.shape != (batch,):
        raise ValueError(
            f"actions and rewards must have shape ({batch},) to match the observation batch, "
            f"got {actions.shape} and {rewards.shape}"
        )
    if actions.dtype.kind not in "iu":
        raise ValueError(f"actions must be integers in [0, {k})")
    if batch == 1:  # online: Python scalars are cheaper than numpy reductions
        in_range = 0 <= int(actions[0]) < k
        finite = math.isfinite(rewards[0])
    else:
        in_range = actions.min() >= 0 and actions.max() < k
        finite = np.isfinite(rewards).all()
    if not in_range:
        raise ValueError(f"actions must be integers in [0, {k})")
    if not finite:
        raise ValueError("rewards contain NaN or infinite values")
    return actions.astype(np.int64, copy=False), rewards


def checked_contexts(obs: Obs, dims: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``user`` [B, d_u] and ``items`` [B, K, d_i] of ``obs``, and their dims ``(d_u, d_i)``.

    ``dims`` are those a model was built for (None before its first observation); other
    dims raise ``ValueError``.
    """
    user, items = np.asarray(obs["user"]), np.asarray(obs["items"])
    if user.ndim != 2 or items.ndim != 3 or user.shape[0] != items.shape[0]:
        raise ValueError(
            "obs['user'] must be (B, d_u) and obs['items'] (B, K, d_i) with the same B, "
            f"got {user.shape} and {items.shape}"
        )
    seen = (user.shape[1], items.shape[2])
    if dims is not None and seen != dims:
        raise ValueError(
            f"context dimensions (d_u, d_i) = {seen} do not match the {dims} this agent's model "
            "was built for (from its first observation)"
        )
    return user, items, seen
