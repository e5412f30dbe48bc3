"""SB3 policies that score every candidate with one shared network (permutation-equivariant).

A recommendation observation offers K candidates in an arbitrary order. A flat MLP over
all K contexts would learn that order; here one small network ``phi`` reads the pair
``[user, item_k]`` of each candidate, with the same weights for every k, so permuting
the candidates permutes the Q-values (DQN) or logits (PPO, A2C) the same way, and the
state value (PPO, A2C) is a mean over candidates, invariant to their order.

Imported by the agents of ``recbandit.agents.sb3`` when they build their model (this module
needs torch and stable-baselines3; the package's other modules do not import it at load).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn


def candidate_dims(observation_space: spaces.Space) -> tuple[int, int, int]:
    """(K, d_u, d_i) of a Dict space with ``user`` (d_u,) and ``items`` (K, d_i)."""
    if not isinstance(observation_space, spaces.Dict) or not {"user", "items"} <= set(observation_space.spaces):
        raise ValueError(
            f"candidate policies need a Dict observation space with 'user' and 'items', got {observation_space}"
        )
    user, items = observation_space["user"], observation_space["items"]
    if len(user.shape) != 1 or len(items.shape) != 2:  # type: ignore[arg-type]
        raise ValueError(f"'user' must be (d_u,) and 'items' (K, d_i), got {user.shape} and {items.shape}")
    k, d_i = items.shape  # type: ignore[misc]
    return int(k), int(user.shape[0]), int(d_i)  # type: ignore[index]


class CandidatePairs(BaseFeaturesExtractor):
    """Features float32[N, K * (d_u + d_i)]: block k is ``[user, item_k]`` (no parameters).

    Args:
        observation_space: Dict with ``user`` (d_u,) and ``items`` (K, d_i); other keys
            (``item_ids``) are ignored.
    """

    def __init__(self, observation_space: spaces.Dict) -> None:
        k, d_u, d_i = candidate_dims(observation_space)
        super().__init__(observation_space, features_dim=k * (d_u + d_i))
        self.k, self.pair_dim = k, d_u + d_i

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """``user`` [N, d_u] and ``items`` [N, K, d_i] -> pairs flattened to [N, K * (d_u + d_i)]."""
        user, items = observations["user"], observations["items"]
        n, k, _ = items.shape
        pairs = th.cat([user.unsqueeze(1).expand(n, k, user.shape[1]), items], dim=2)
        return pairs.reshape(n, -1)


def _mlp(in_dim: int, hidden: list[int], activation_fn: type[nn.Module]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), activation_fn()]
        in_dim = width
    return nn.Sequential(*layers), in_dim


class CandidateScorer(nn.Module):
    """One network applied to every candidate: ``score_k = head(phi([user, item_k]))``.

    Args:
        k: number of candidates K.
        pair_dim: d_u + d_i.
        hidden: widths of phi's hidden layers.
        activation_fn: activation after each hidden layer.
    """

    def __init__(self, k: int, pair_dim: int, hidden: list[int], activation_fn: type[nn.Module]) -> None:
        super().__init__()
        self.k, self.pair_dim = k, pair_dim
        self.phi, self.hidden_dim = _mlp(pair_dim, hidden, activation_fn)
        self.head = nn.Linear(self.hidden_dim, 1)

    def embed(self, features: th.Tensor) -> th.Tensor:
        """[N, K * pair_dim] -> per-candidate hidden float[N, K, hidden_dim]."""
        return self.phi(features.reshape(features.shape[0], self.k, self.pair_dim))

    def forward(self, features: th.Tensor) -> th.Tensor:
        """[N, K * pair_dim] -> scores float[N, K]."""
        return self.head(self.embed(features)).squeeze(-1)


class CandidateActorCritic(nn.Module):
    """SB3 ``mlp_extractor`` replacement: latent_pi = per-candidate logits, latent_vf = mean-pooled phi.

    Actor and critic have separate weights (SB3's default ``net_arch`` for PPO/A2C).
    """

    def __init__(self, k: int, pair_dim: int, hidden: list[int], activation_fn: type[nn.Module]) -> None:
        super().__init__()
        self.policy_net = CandidateScorer(k, pair_dim, hidden, activation_fn)
        self.value_phi, self.latent_dim_vf = _mlp(pair_dim, hidden, activation_fn)
        self.k, self.pair_dim = k, pair_dim
        self.latent_dim_pi = k

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Logits [N, K] and value latent [N, hidden]."""
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        """Logits float[N, K]."""
        return self.policy_net(features)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        """Mean over candidates of the critic's phi: float[N, hidden]."""
        pairs = features.reshape(features.shape[0], self.k, self.pair_dim)
        return self.value_phi(pairs).mean(dim=1)


class CandidateActorCriticPolicy(ActorCriticPolicy):
    """``ActorCriticPolicy`` whose logits are the shared scorer's per-candidate scores.

    ``net_arch`` is a list of phi's hidden widths (default [64, 64]); the action head is
    the identity, so no layer sees the K candidates together.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("features_extractor_class", CandidatePairs)
        self.k, d_u, d_i = candidate_dims(observation_space)
        if int(action_space.n) != self.k:
            raise ValueError(f"action space has {action_space.n} actions for {self.k} candidates")
        self.pair_dim = d_u + d_i
        # phi's widths, kept as a list: SB3 types ``self.net_arch`` as a list or a pi/vf dict.
        self.hidden = list(net_arch or [64, 64])
        super().__init__(observation_space, action_space, lr_schedule, net_arch=list(self.hidden), **kwargs)

    def _build_mlp_extractor(self) -> None:
        # SB3 infers ``mlp_extractor: MlpExtractor`` from its own ``_build_mlp_extractor``, yet its
        # docs (custom_policy.rst, "Advanced Example") override this method with any nn.Module that
        # has ``latent_dim_pi``, ``latent_dim_vf``, ``forward_actor`` and ``forward_critic``.
        self.mlp_extractor = CandidateActorCritic(  # type: ignore[assignment]
            self.k, self.pair_dim, self.hidden, self.activation_fn
        )

    def _actor_critic(self) -> CandidateActorCritic:
        """The ``mlp_extractor``, typed as what ``_build_mlp_extractor`` made it."""
        extractor = self.mlp_extractor
        if not isinstance(extractor, CandidateActorCritic):
            raise TypeError(f"mlp_extractor is a {type(extractor).__name__}, not a CandidateActorCritic")
        return extractor

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        # The scorer's scores are the logits: replace SB3's Linear(K, K) action head, which
        # would mix candidates, and give the score head SB3's small policy-output gain.
        self.action_net = nn.Identity()
        if self.ortho_init:
            self._actor_critic().policy_net.head.apply(partial(self.init_weights, gain=0.01))
        # As SB3's own ActorCriticPolicy._build (same ignore there): optimizer_class is typed as
        # torch's Optimizer base class, whose __init__ takes no ``lr``.
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]


class CandidateQNetwork(QNetwork):
    """``QNetwork`` whose Q-values are the shared scorer's per-candidate scores."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Discrete, **kwargs: Any) -> None:
        super().__init__(observation_space, action_space, **kwargs)
        k, d_u, d_i = candidate_dims(observation_space)
        # SB3 types ``q_net`` as the nn.Sequential it builds; QNetwork only calls it on the features.
        self.q_net = CandidateScorer(k, d_u + d_i, list(self.net_arch), self.activation_fn)  # type: ignore[assignment]


class CandidateDQNPolicy(DQNPolicy):
    """``DQNPolicy`` with ``CandidateQNetwork`` (online and target) and ``CandidatePairs`` features."""

    def __init__(
        self, observation_space: spaces.Dict, action_space: spaces.Discrete, lr_schedule: Schedule, **kwargs: Any
    ) -> None:
        kwargs.setdefault("features_extractor_class", CandidatePairs)
        k, _, _ = candidate_dims(observation_space)
        if int(action_space.n) != k:
            raise ValueError(f"action space has {action_space.n} actions for {k} candidates")
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def make_q_net(self) -> QNetwork:
        """A fresh ``CandidateQNetwork`` with its own features extractor."""
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return CandidateQNetwork(**net_args).to(self.device)
