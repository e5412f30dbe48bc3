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

Candidate order. The policies (``policies``) score every candidate with one shared
network on ``[user, item_k]``, so Q-values / logits are permutation-equivariant over the
K candidates and the state value is invariant.

Determinism. SB3 draws from the global Python, numpy and torch generators (network
initialisation, replay sampling, minibatch shuffling). The adapter runs that code inside
``isolated_global_rng``: the global generators are seeded from the agent's seed (SB3's
``set_random_seed`` semantics) and restored afterwards, so the same seed gives the same
actions on the same machine and thread settings, and callers' global generators are left
untouched.

Layout. ``adapter`` holds the shared base (``SB3Agent``: buffer feeding, checks,
seeding), ``dqn`` and ``on_policy`` (PPO, A2C) the algorithms and their configs,
``policies`` the candidate-equivariant networks. Only ``policies`` imports torch and
stable-baselines3 at module level; the others import them on the first observation, so
importing this package (and ``recbandit.agents``) does not load torch.
"""

from recbandit.agents.sb3.adapter import DEVICES, SB3Agent, SB3Config
from recbandit.agents.sb3.dqn import DQNAgent, DQNConfig
from recbandit.agents.sb3.on_policy import A2CAgent, A2CConfig, PPOAgent, PPOConfig

__all__ = [
    "DEVICES",
    "A2CAgent",
    "A2CConfig",
    "DQNAgent",
    "DQNConfig",
    "PPOAgent",
    "PPOConfig",
    "SB3Agent",
    "SB3Config",
]
