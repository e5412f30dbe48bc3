"""The shared base of the SB3 adapters: model construction, buffer feeding, checks, seeding.

``SB3Agent`` keeps the runner in charge of the loop (see the package docstring): ``act``
completes the previous transition and hands it to the algorithm's ``_store`` (which feeds
the SB3 model's own replay or rollout buffer and runs its ``train()`` on schedule), then
asks the algorithm's ``_decide`` for actions and their exact propensities; ``update``
and ``end_episodes`` fill in the rewards and the episode ends of that transition. The
SB3 model is built on the first observation (its shapes fix the spaces and ``n_envs``),
and every piece of SB3 code that draws from the global generators runs inside
``isolated_global_rng``, seeded from the agent's own stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recbandit._torch import isolated_global_rng, torch_threads
from recbandit._validation import check_choice, check_float, check_int
from recbandit.agents.base import Agent, AgentConfig, Decision, Obs, check_rewards

#: Torch devices an SB3 agent accepts.
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class SB3Config(AgentConfig):
    """Settings shared by the SB3 agents.

    Attributes:
        gamma: discount factor.
        hidden: width of each hidden layer of the shared candidate network phi.
        layers: number of hidden layers of phi.
        device: torch device ("cpu", "cuda" or "auto"); reproducibility is checked on CPU.
        threads: torch intra-op threads while the agent computes (the caller's setting is
            restored after each call).
    """

    gamma: float = 0.99
    hidden: int = 64
    layers: int = 2
    device: str = "cpu"
    threads: int = 1

    def __post_init__(self) -> None:
        check_float("gamma", self.gamma, min_value=0.0, max_value=1.0)
        check_int("hidden", self.hidden, min_value=1)
        check_int("layers", self.layers, min_value=1)
        check_choice("device", self.device, DEVICES)
        check_int("threads", self.threads, min_value=1)


@dataclass
class Pending:
    """The transition of the last ``act``, completed by ``update``, ``end_episodes`` and the next ``act``.

    Arrays have leading dimension B; ``obs`` and ``final_obs`` are ``_contexts`` dicts.
    """

    obs: dict[str, np.ndarray]
    actions: np.ndarray
    values: Any = None  # torch [B, 1] (on-policy)
    log_probs: Any = None  # torch [B] (on-policy)
    rewards: np.ndarray | None = None
    terminated: np.ndarray | None = None
    truncated: np.ndarray | None = None
    final_obs: dict[str, np.ndarray] | None = field(default=None, repr=False)


class SB3Agent(Agent):
    """Base of the SB3 adapters: lazy model construction, transition bookkeeping, checks."""

    config: Any
    deterministic = False  # every adapter draws its choice from self.rng (ε-greedy or the policy's softmax)
    family = "deep-rl"

    def _reset(self) -> None:
        self.model: Any = None
        self._shape: tuple[int, int, int, int] | None = None  # (B, K, d_u, d_i)
        self._pending: Pending | None = None
        self._steps = 0
        seeds = self.rng.integers(2**32, size=2)
        self._model_seed = int(seeds[0])
        self._train_rng = np.random.default_rng(int(seeds[1]))

    # ------------------------------------------------------------------ protocol

    def act(self, obs: Obs) -> Decision:
        """Complete and store the previous transition (training on schedule), then choose."""
        sb3_obs = self._contexts(obs)
        with torch_threads(self.config.threads):
            if self.model is None:
                self._build()
            else:
                self._complete(sb3_obs)
            actions, propensities, extra = self._decide(sb3_obs)
        self._pending = Pending(sb3_obs, actions, *extra)
        return Decision(actions, propensities)

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Record the rewards float64[B] of the ``actions`` int64[B] that ``act`` chose on ``obs``."""
        sb3_obs = self._contexts(obs)
        assert self._shape is not None
        actions, rewards = check_rewards(actions, rewards, self._shape[0], self._shape[1])
        p = self._pending
        if p is None or p.rewards is not None or not np.array_equal(p.obs["user"], sb3_obs["user"]):
            raise ValueError(
                f"{self.name}: update() must follow act() on the same observation "
                "(SB3 agents learn on-policy, from the transitions they take)"
            )
        if not np.array_equal(actions, p.actions):
            raise ValueError(f"{self.name}: update() got actions that differ from those act() chose")
        p.rewards = rewards

    def end_episodes(self, final_obs: Obs, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Mark the last transition of the users whose episodes ended (see ``Agent.end_episodes``)."""
        p = self._pending
        if p is None or p.rewards is None:
            raise ValueError(f"{self.name}: end_episodes() must follow update()")
        b = len(p.actions)
        term, trunc = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        if term.shape != (b,) or trunc.shape != (b,):
            raise ValueError(f"terminated and truncated must have shape ({b},), got {term.shape} and {trunc.shape}")
        p.terminated, p.truncated = term, trunc & ~term
        p.final_obs = self._contexts(final_obs)

    # ------------------------------------------------------------------ shared machinery

    def _contexts(self, obs: Obs) -> dict[str, np.ndarray]:
        """``{"user": float32[B, d_u], "items": float32[B, K, d_i]}``, checked against the built shapes."""
        user, items = np.asarray(obs["user"]), np.asarray(obs["items"])
        if user.ndim != 2 or items.ndim != 3 or user.shape[0] != items.shape[0]:
            raise ValueError(
                "obs['user'] must be (B, d_u) and obs['items'] (B, K, d_i) with the same B, "
                f"got {user.shape} and {items.shape}"
            )
        shape = (user.shape[0], items.shape[1], user.shape[1], items.shape[2])
        if shape != self._shape:
            if self._shape is not None:
                raise ValueError(
                    f"observation shape (B, K, d_u, d_i) = {shape} does not match the {self._shape} this "
                    f"agent's network and buffers were built for (from its first observation)"
                )
            if shape[1] < 2:
                raise ValueError(f"{self.name} needs at least 2 candidates, got K = {shape[1]}")
            self._shape = shape
        return {"user": user.astype(np.float32, copy=False), "items": items.astype(np.float32, copy=False)}

    def _tensors(self, obs: dict[str, np.ndarray]) -> dict[str, Any]:
        import torch

        return {key: torch.as_tensor(value, device=self.model.device) for key, value in obs.items()}

    def _build(self) -> None:
        """Create the SB3 model for the first observation's shapes (no env: spaces are set directly).

        ``_make_model`` passes ``env=None``, which SB3's ``BaseAlgorithm`` accepts (its
        ``load`` builds models that way) although DQN, PPO and A2C annotate ``env`` as
        required: hence the ``type: ignore[arg-type]`` there.
        """
        from gymnasium import spaces
        from stable_baselines3.common.logger import Logger

        assert self._shape is not None
        b, k, d_u, d_i = self._shape
        obs_space = spaces.Dict(
            {
                "user": spaces.Box(-np.inf, np.inf, shape=(d_u,), dtype=np.float32),
                "items": spaces.Box(-np.inf, np.inf, shape=(k, d_i), dtype=np.float32),
            }
        )
        with isolated_global_rng(self._model_seed):
            model = self._make_model()
            model.observation_space, model.action_space, model.n_envs = obs_space, spaces.Discrete(k), b
            model._setup_model()
        model.set_logger(Logger(folder=None, output_formats=[]))
        self.model = model
        self._steps = 0
        self._after_build()

    def _train(self, call: Callable[[], Any]) -> None:
        """Run SB3 training code with the global generators seeded from the agent's stream."""
        with isolated_global_rng(int(self._train_rng.integers(2**32))):
            call()

    def _complete(self, next_obs: dict[str, np.ndarray]) -> None:
        """Close the pending transition with ``next_obs`` (not done unless ``end_episodes`` said so) and store it."""
        p = self._pending
        if p is None:
            return
        if p.rewards is None:
            raise ValueError(f"{self.name}: act() was called again before update() gave the last actions' rewards")
        b = len(p.actions)
        if p.terminated is None:
            p.terminated = p.truncated = np.zeros(b, bool)
        self._pending = None
        self._store(p, next_obs)

    # ------------------------------------------------------------------ per algorithm

    def _make_model(self) -> Any:
        """The SB3 algorithm, built without an env and without ``_setup_model`` (``_build`` does it)."""
        raise NotImplementedError

    def _after_build(self) -> None:
        """Hook for per-algorithm state after the model exists."""

    def _decide(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, tuple]:
        """Actions int64[B], their propensities float64[B], and extra fields of ``Pending`` (values, log-probs)."""
        raise NotImplementedError

    def _store(self, p: Pending, next_obs: dict[str, np.ndarray]) -> None:
        """Add the completed transition to the model's buffer and train on the algorithm's schedule."""
        raise NotImplementedError


__all__ = ["DEVICES", "Pending", "SB3Agent", "SB3Config"]
