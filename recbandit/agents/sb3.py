"""Deep RL from stable-baselines3 (DQN, PPO, A2C) behind the Agent protocol, trained online.

Design. SB3 algorithms own their training loop (``learn(total_timesteps)`` pulls steps
from a ``VecEnv``), while recbandit's runner pushes: it calls ``act(obs)``, steps the env,
reads regret from ``info`` and calls ``update(obs, actions, rewards)``. The adapter keeps
the runner in charge and replays, step by step, what SB3's ``collect_rollouts`` does,
into the SB3 model's own buffers, and calls the algorithm's own ``train()`` on its
schedule:

* ``act(obs)`` first completes the previous transition (its next observation is ``obs``,
  or the final observation given to ``end_episodes`` for a user whose episode ended) and
  stores it: DQN adds it to its replay buffer, counts the step (``_on_step``: target
  network update, exploration schedule) and runs ``train(gradient_steps)`` every
  ``train_freq`` steps after ``learning_starts``; PPO / A2C add it to the rollout buffer
  and, when the buffer holds ``n_steps`` steps per user, compute GAE with the value of
  ``obs`` and run ``train()``. Then it chooses the actions for ``obs``.
* ``update`` records the rewards of the actions ``act`` chose (it refuses others: the
  algorithms learn from their own decisions).
* ``end_episodes`` (called by the runner when an episodic env such as Session-v0 ends
  some users' sessions) marks those transitions done: terminated ones are not
  bootstrapped; truncated ones are bootstrapped from the final observation, as SB3 does
  with ``TimeLimit.truncated``.

So SB3's update rules, buffers and schedules are used as they are; only the action
choice is re-implemented, to draw from the agent's generator and report exact
propensities: PPO / A2C sample the policy's categorical distribution and return the
probability of the chosen action; DQN returns ``eps / K + (1 - eps) [a = greedy]`` (1/K
during the warm-up before ``learning_starts``), drawing exploration per user (SB3's
``predict`` draws it once per batch).

One difference from ``learn``: with B users per step (``--batch-size B``) the model is
built with ``n_envs = B``, the B users being B parallel envs, as SB3 does with a VecEnv.

Candidate order. The policies (``_sb3_policies``) score every candidate with one shared
network on ``[user, item_k]``, so Q-values / logits are permutation-equivariant over the
K candidates and the state value is invariant.

Determinism. SB3 draws from the global Python, numpy and torch generators (network
initialisation, replay sampling, minibatch shuffling). The adapter runs that code inside
``isolated_global_rng``: the global generators are seeded from the agent's seed (SB3's
``set_random_seed`` semantics) and restored afterwards, so the same seed gives the same
actions on the same machine and thread settings, and callers' global generators are left
untouched. Torch is imported on the first observation, not with ``recbandit.agents``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recbandit._torch import isolated_global_rng, torch_threads
from recbandit._validation import check_choice, check_float, check_int
from recbandit.agents.base import Agent, AgentConfig, Decision, Obs, check_rewards

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


@dataclass
class _Pending:
    """The transition of the last ``act``, completed by ``update``, ``end_episodes`` and the next ``act``."""

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
        self._pending: _Pending | None = None
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
        self._pending = _Pending(sb3_obs, actions, *extra)
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
        """Create the SB3 model for the first observation's shapes (no env: spaces are set directly)."""
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

    def _train(self, call: Any) -> None:
        """Run SB3 training code with the global generators seeded from the agent's stream."""
        with isolated_global_rng(int(self._train_rng.integers(2**32))):
            call()

    def _complete(self, next_obs: dict[str, np.ndarray]) -> None:
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

    def _make_model(self) -> Any:
        raise NotImplementedError

    def _after_build(self) -> None:
        """Hook for per-algorithm state after the model exists."""

    def _decide(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, tuple]:
        raise NotImplementedError

    def _store(self, p: _Pending, next_obs: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


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

        from recbandit.agents._sb3_policies import CandidateDQNPolicy

        c = self.config
        return DQN(
            CandidateDQNPolicy,
            env=None,
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
        b, k = obs["items"].shape[:2]
        if self.model.num_timesteps < self.config.learning_starts:
            return self.rng.integers(k, size=b), np.full(b, 1.0 / k), ()
        greedy = self.q_values(obs).argmax(axis=1)
        eps = float(self.model.exploration_rate)
        explore = self.rng.random(b) < eps
        actions = np.where(explore, self.rng.integers(k, size=b), greedy)
        return actions, eps / k + (1.0 - eps) * (actions == greedy), ()

    def _store(self, p: _Pending, next_obs: dict[str, np.ndarray]) -> None:
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


class _OnPolicyAgent(SB3Agent):
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

    def _store(self, p: _Pending, next_obs: dict[str, np.ndarray]) -> None:
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


class PPOAgent(_OnPolicyAgent):
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

        from recbandit.agents._sb3_policies import CandidateActorCriticPolicy

        c = self.config
        return PPO(
            CandidateActorCriticPolicy,
            env=None,
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


class A2CAgent(_OnPolicyAgent):
    """A2C (SB3) with a candidate-shared actor (logits) and a mean-pooled critic.

    Paper: V. Mnih et al., "Asynchronous Methods for Deep Reinforcement Learning",
    ICML 2016 (the synchronous variant).
    """

    name = "a2c"
    Config = A2CConfig
    config: A2CConfig

    def _make_model(self) -> Any:
        from stable_baselines3 import A2C

        from recbandit.agents._sb3_policies import CandidateActorCriticPolicy

        c = self.config
        return A2C(
            CandidateActorCriticPolicy,
            env=None,
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


def _rows(mask: np.ndarray, ndim: int) -> np.ndarray:
    """bool[B] reshaped to broadcast over an array of ``ndim`` dimensions with leading B."""
    return mask.reshape(mask.shape + (1,) * (ndim - 1))


__all__ = [
    "A2CAgent",
    "A2CConfig",
    "DQNAgent",
    "DQNConfig",
    "PPOAgent",
    "PPOConfig",
    "SB3Agent",
]
