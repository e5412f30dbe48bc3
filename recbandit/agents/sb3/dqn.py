"""DQN (SB3) behind the Agent protocol: replay buffer, target network and epsilon schedule of SB3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recbandit._torch import torch_threads
from recbandit._validation import check_float, check_int
from recbandit.agents.base import Obs
from recbandit.agents.sb3.adapter import Pending, SB3Agent, SB3Config


@dataclass(frozen=True)
class DQNConfig(SB3Config):
    """DQN's hyper-parameters (SB3's names and meaning; SB3 defaults except where noted).

    Attributes:
        learning_rate: Adam step size.
        buffer_size: replay buffer size in transitions per user slot (SB3: 1e6; smaller here
            because each transition stores K candidate contexts twice).
        learning_starts: decisions of uniform random play before learning.
        batch_size: replay minibatch size.
        tau: soft target update coefficient (1 = hard copy).
        train_freq: train every this many steps (of B decisions each).
        gradient_steps: gradient steps per training call.
        target_update_interval: decisions between target network updates (SB3: 10,000).
        exploration_fraction: share of ``total_timesteps`` over which epsilon decays.
        exploration_initial_eps: epsilon at the start.
        exploration_final_eps: epsilon after the decay.
        max_grad_norm: gradient clipping norm.
        total_timesteps: decisions the schedules are laid out over (``learn``'s argument);
            set it to the run's horizon.
    """

    learning_rate: float = 1e-4
    buffer_size: int = 50_000
    learning_starts: int = 100
    batch_size: int = 32
    tau: float = 1.0
    train_freq: int = 4
    gradient_steps: int = 1
    target_update_interval: int = 1000
    exploration_fraction: float = 0.1
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05
    max_grad_norm: float = 10.0
    total_timesteps: int = 20_000

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float("learning_rate", self.learning_rate, min_value=0.0, min_inclusive=False)
        check_int("buffer_size", self.buffer_size, min_value=1)
        check_int("learning_starts", self.learning_starts, min_value=0)
        check_int("batch_size", self.batch_size, min_value=1)
        check_float("tau", self.tau, min_value=0.0, max_value=1.0)
        check_int("train_freq", self.train_freq, min_value=1)
        check_int("gradient_steps", self.gradient_steps, min_value=1)
        check_int("target_update_interval", self.target_update_interval, min_value=1)
        check_float("exploration_fraction", self.exploration_fraction, min_value=0.0, max_value=1.0)
        check_float("exploration_initial_eps", self.exploration_initial_eps, min_value=0.0, max_value=1.0)
        check_float("exploration_final_eps", self.exploration_final_eps, min_value=0.0, max_value=1.0)
        check_float("max_grad_norm", self.max_grad_norm, min_value=0.0, min_inclusive=False)
        check_int("total_timesteps", self.total_timesteps, min_value=1)


class DQNAgent(SB3Agent):
    """DQN (SB3) with a candidate-shared Q-network and per-user epsilon-greedy exploration.

    Q-values of the K candidates come from one network on ``[user, item_k]``; actions are
    uniform for the first ``learning_starts`` decisions, then epsilon-greedy with SB3's
    linear epsilon schedule; propensities are the exact epsilon-greedy probabilities.

    Paper: V. Mnih et al., "Human-level control through deep reinforcement learning",
    Nature 518, 2015.
    """

    name = "dqn"
    Config = DQNConfig
    config: DQNConfig

    def _make_model(self) -> Any:
        from stable_baselines3 import DQN

        from recbandit.agents.sb3.policies import CandidateDQNPolicy

        c = self.config
        return DQN(
            CandidateDQNPolicy,
            env=None,  # type: ignore[arg-type]  # SB3 types env as required; see SB3Agent._build
            learning_rate=c.learning_rate,
            buffer_size=c.buffer_size,
            learning_starts=c.learning_starts,
            batch_size=c.batch_size,
            tau=c.tau,
            gamma=c.gamma,
            train_freq=c.train_freq,
            gradient_steps=c.gradient_steps,
            target_update_interval=c.target_update_interval,
            exploration_fraction=c.exploration_fraction,
            exploration_initial_eps=c.exploration_initial_eps,
            exploration_final_eps=c.exploration_final_eps,
            max_grad_norm=c.max_grad_norm,
            policy_kwargs={"net_arch": [c.hidden] * c.layers},
            seed=self._model_seed,
            device=c.device,
            _init_setup_model=False,
        )

    def _after_build(self) -> None:
        self.model.exploration_rate = self.model.exploration_schedule(1.0)

    def q_values(self, obs: Obs) -> np.ndarray:
        """float32[B, K] Q-values of the candidates of ``obs`` (builds the network if needed)."""
        import torch

        sb3_obs = self._contexts(obs)
        with torch_threads(self.config.threads):
            if self.model is None:
                self._build()
            self.model.policy.set_training_mode(False)
            with torch.no_grad():
                return self.model.q_net(self._tensors(sb3_obs)).cpu().numpy()

    def _decide(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, tuple]:
        b, k = int(obs["items"].shape[0]), int(obs["items"].shape[1])
        if self.model.num_timesteps < self.config.learning_starts:
            return self.rng.integers(k, size=b), np.full(b, 1.0 / k), ()
        greedy = self.q_values(obs).argmax(axis=1)
        eps = float(self.model.exploration_rate)
        explore = self.rng.random(b) < eps
        actions = np.where(explore, self.rng.integers(k, size=b), greedy)
        return actions, eps / k + (1.0 - eps) * (actions == greedy), ()

    def _store(self, p: Pending, next_obs: dict[str, np.ndarray]) -> None:
        m, c = self.model, self.config
        assert p.terminated is not None and p.truncated is not None and p.rewards is not None
        ended = p.terminated | p.truncated
        nxt = next_obs
        if ended.any():
            assert p.final_obs is not None
            nxt = {key: np.where(_rows(ended, value.ndim), p.final_obs[key], value) for key, value in next_obs.items()}
        infos = [{"TimeLimit.truncated": bool(t)} for t in p.truncated]
        m.replay_buffer.add(p.obs, nxt, p.actions, p.rewards, ended.astype(np.float32), infos)
        # What DQN's collect_rollouts does after each env step, then its training schedule.
        m.num_timesteps += len(p.actions)
        m._update_current_progress_remaining(m.num_timesteps, c.total_timesteps)
        m._on_step()
        self._steps += 1
        if self._steps % c.train_freq == 0 and m.num_timesteps > c.learning_starts:
            self._train(lambda: m.train(gradient_steps=c.gradient_steps, batch_size=c.batch_size))


def _rows(mask: np.ndarray, ndim: int) -> np.ndarray:
    """bool[B] reshaped to broadcast over an array of ``ndim`` dimensions with leading B."""
    return mask.reshape(mask.shape + (1,) * (ndim - 1))


__all__ = ["DQNAgent", "DQNConfig"]
