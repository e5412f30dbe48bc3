"""PPO and A2C (SB3) behind the Agent protocol: rollout buffer, GAE and ``train()`` of SB3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recbandit._torch import torch_threads
from recbandit._validation import check_float, check_int
from recbandit.agents.base import Obs
from recbandit.agents.sb3.adapter import Pending, SB3Agent, SB3Config


@dataclass(frozen=True)
class PPOConfig(SB3Config):
    """PPO's hyper-parameters (SB3's names and meaning).

    Attributes:
        learning_rate: Adam step size.
        n_steps: steps per user slot in each rollout (SB3: 2048; a rollout is n_steps * B decisions).
        batch_size: minibatch size.
        n_epochs: passes over each rollout.
        gae_lambda: GAE lambda.
        clip_range: PPO clipping parameter.
        ent_coef: entropy bonus coefficient.
        vf_coef: value loss coefficient.
        max_grad_norm: gradient clipping norm.
        normalize_advantage: standardise advantages per minibatch.
    """

    learning_rate: float = 3e-4
    n_steps: int = 256
    batch_size: int = 64
    n_epochs: int = 10
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float("learning_rate", self.learning_rate, min_value=0.0, min_inclusive=False)
        check_int("n_steps", self.n_steps, min_value=1)
        check_int("batch_size", self.batch_size, min_value=2 if self.normalize_advantage else 1)
        check_int("n_epochs", self.n_epochs, min_value=1)
        check_float("gae_lambda", self.gae_lambda, min_value=0.0, max_value=1.0)
        check_float("clip_range", self.clip_range, min_value=0.0, min_inclusive=False)
        check_float("ent_coef", self.ent_coef, min_value=0.0)
        check_float("vf_coef", self.vf_coef, min_value=0.0)
        check_float("max_grad_norm", self.max_grad_norm, min_value=0.0, min_inclusive=False)


@dataclass(frozen=True)
class A2CConfig(SB3Config):
    """A2C's hyper-parameters (SB3's names, meaning and defaults).

    Attributes:
        learning_rate: RMSprop (or Adam) step size.
        n_steps: steps per user slot between updates.
        gae_lambda: GAE lambda (1 = plain n-step advantage).
        ent_coef: entropy bonus coefficient.
        vf_coef: value loss coefficient.
        max_grad_norm: gradient clipping norm.
        normalize_advantage: standardise advantages.
        use_rms_prop: RMSprop as in the paper (else Adam).
    """

    learning_rate: float = 7e-4
    n_steps: int = 5
    gae_lambda: float = 1.0
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = False
    use_rms_prop: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float("learning_rate", self.learning_rate, min_value=0.0, min_inclusive=False)
        check_int("n_steps", self.n_steps, min_value=1)
        check_float("gae_lambda", self.gae_lambda, min_value=0.0, max_value=1.0)
        check_float("ent_coef", self.ent_coef, min_value=0.0)
        check_float("vf_coef", self.vf_coef, min_value=0.0)
        check_float("max_grad_norm", self.max_grad_norm, min_value=0.0, min_inclusive=False)


class OnPolicyAgent(SB3Agent):
    """PPO / A2C: sample the candidate-shared categorical policy, fill the rollout buffer, train."""

    def _after_build(self) -> None:
        self._episode_starts = np.ones(self.model.n_envs, np.float32)

    def logits(self, obs: Obs) -> np.ndarray:
        """float32[B, K] log-probabilities of the policy over the candidates of ``obs``."""
        import torch

        sb3_obs = self._contexts(obs)
        with torch_threads(self.config.threads):
            if self.model is None:
                self._build()
            self.model.policy.set_training_mode(False)
            with torch.no_grad():
                dist = self.model.policy.get_distribution(self._tensors(sb3_obs))
                return dist.distribution.logits.cpu().numpy()

    def _decide(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, tuple]:
        import torch

        policy = self.model.policy
        policy.set_training_mode(False)
        tensors = self._tensors(obs)
        with torch.no_grad():
            dist = policy.get_distribution(tensors)
            values = policy.predict_values(tensors)
            probs = torch.softmax(dist.distribution.logits.double(), dim=1).cpu().numpy()
        b, k = probs.shape
        cdf = np.cumsum(probs, axis=1)
        u = self.rng.random(b) * cdf[:, -1]
        actions = np.minimum((cdf <= u[:, None]).sum(axis=1), k - 1)
        with torch.no_grad():
            log_probs = dist.log_prob(torch.as_tensor(actions, device=self.model.device))
        return actions, probs[np.arange(b), actions], (values, log_probs)

    def _store(self, p: Pending, next_obs: dict[str, np.ndarray]) -> None:
        import torch

        m = self.model
        assert p.terminated is not None and p.truncated is not None and p.rewards is not None
        rewards = p.rewards.astype(np.float32)
        if p.truncated.any():  # bootstrap a length-capped session from its final observation (SB3 #633)
            assert p.final_obs is not None
            with torch.no_grad():
                final_values = m.policy.predict_values(self._tensors(p.final_obs)).cpu().numpy()[:, 0]
            rewards = rewards + np.where(p.truncated, m.gamma * final_values, 0.0).astype(np.float32)
        m.rollout_buffer.add(p.obs, p.actions.reshape(-1, 1), rewards, self._episode_starts, p.values, p.log_probs)
        dones = (p.terminated | p.truncated).astype(np.float32)
        self._episode_starts = dones
        m.num_timesteps += len(p.actions)
        if m.rollout_buffer.full:
            with torch.no_grad():
                last_values = m.policy.predict_values(self._tensors(next_obs))
            m.rollout_buffer.compute_returns_and_advantage(last_values=last_values, dones=dones)
            self._train(m.train)
            m.rollout_buffer.reset()


class PPOAgent(OnPolicyAgent):
    """PPO (SB3) with a candidate-shared actor (logits) and a mean-pooled critic.

    Actions are sampled from the policy's categorical distribution over the K candidates;
    the propensity is its probability of the chosen candidate.

    Paper: J. Schulman, F. Wolski, P. Dhariwal, A. Radford, O. Klimov, "Proximal Policy
    Optimization Algorithms", arXiv:1707.06347, 2017.
    """

    name = "ppo"
    Config = PPOConfig
    config: PPOConfig

    def _make_model(self) -> Any:
        from stable_baselines3 import PPO

        from recbandit.agents.sb3.policies import CandidateActorCriticPolicy

        c = self.config
        return PPO(
            CandidateActorCriticPolicy,
            env=None,  # type: ignore[arg-type]  # SB3 types env as required; see SB3Agent._build
            learning_rate=c.learning_rate,
            n_steps=c.n_steps,
            batch_size=c.batch_size,
            n_epochs=c.n_epochs,
            gamma=c.gamma,
            gae_lambda=c.gae_lambda,
            clip_range=c.clip_range,
            ent_coef=c.ent_coef,
            vf_coef=c.vf_coef,
            max_grad_norm=c.max_grad_norm,
            normalize_advantage=c.normalize_advantage,
            policy_kwargs={"net_arch": [c.hidden] * c.layers},
            seed=self._model_seed,
            device=c.device,
            _init_setup_model=False,
        )


class A2CAgent(OnPolicyAgent):
    """A2C (SB3) with a candidate-shared actor (logits) and a mean-pooled critic.

    Paper: V. Mnih et al., "Asynchronous Methods for Deep Reinforcement Learning",
    ICML 2016 (the synchronous variant).
    """

    name = "a2c"
    Config = A2CConfig
    config: A2CConfig

    def _make_model(self) -> Any:
        from stable_baselines3 import A2C

        from recbandit.agents.sb3.policies import CandidateActorCriticPolicy

        c = self.config
        return A2C(
            CandidateActorCriticPolicy,
            env=None,  # type: ignore[arg-type]  # SB3 types env as required; see SB3Agent._build
            learning_rate=c.learning_rate,
            n_steps=c.n_steps,
            gamma=c.gamma,
            gae_lambda=c.gae_lambda,
            ent_coef=c.ent_coef,
            vf_coef=c.vf_coef,
            max_grad_norm=c.max_grad_norm,
            normalize_advantage=c.normalize_advantage,
            use_rms_prop=c.use_rms_prop,
            policy_kwargs={"net_arch": [c.hidden] * c.layers},
            seed=self._model_seed,
            device=c.device,
            _init_setup_model=False,
        )


__all__ = ["A2CAgent", "A2CConfig", "OnPolicyAgent", "PPOAgent", "PPOConfig"]
