"""Synthetic-v0: the embedded default, a seeded text catalogue with a latent-factor ground truth."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any


from recbandit._validation import check_float, check_int
from recbandit.data.synthetic import SyntheticConfig, make_catalogue
from recbandit.encoders.base import Encoder
from recbandit.encoders.bow import HashingBowEncoder
from recbandit.envs.bandit import BanditEnv
from recbandit.envs.batched import BatchedBanditEnv
from recbandit.envs.contexts import PCAContexts
from recbandit.envs.problem import BanditProblem
from recbandit.envs.user_models import LatentFactorUserModel


@dataclass(frozen=True)
class SyntheticEnvConfig:
    """Knobs of Synthetic-v0 (the catalogue's knobs plus the reward model and contexts).

    Attributes:
        k: candidates per user.
        context_dim: dimension of user and item contexts (PCA of the text embeddings).
        reward_scale: multiplier of the user-item topic affinity in the logit.
        base_logit: global logit offset (sets the base click rate).
        cold_window: decisions during which a newly arrived item is flagged cold.
        catalogue: the ``SyntheticConfig`` fields (n_items, n_users, n_topics, noise, ...).
    """

    k: int = 10
    context_dim: int = 12
    reward_scale: float = 4.0
    base_logit: float = -2.5
    cold_window: int = 1000
    catalogue: SyntheticConfig = SyntheticConfig()

    def __post_init__(self) -> None:
        check_int("k", self.k, min_value=2)
        check_int("context_dim", self.context_dim, min_value=1)
        check_float("reward_scale", self.reward_scale)
        check_float("base_logit", self.base_logit)
        check_int("cold_window", self.cold_window, min_value=0)


def make_config(**kwargs: Any) -> SyntheticEnvConfig:
    """Split flat keyword arguments between the env and the catalogue configs."""
    env_fields = {"k", "context_dim", "reward_scale", "base_logit", "cold_window"}
    cat_fields = set(SyntheticConfig.__dataclass_fields__)
    unknown = set(kwargs) - env_fields - cat_fields
    if unknown:
        allowed = ", ".join(sorted(env_fields | cat_fields))
        raise ValueError(f"unknown Synthetic-v0 argument(s) {sorted(unknown)}; allowed: {allowed}")
    catalogue = SyntheticConfig(**{k: v for k, v in kwargs.items() if k in cat_fields})
    return SyntheticEnvConfig(catalogue=catalogue, **{k: v for k, v in kwargs.items() if k in env_fields})


def synthetic_problem(config: SyntheticEnvConfig, encoder: Encoder | None = None) -> BanditProblem:
    """Build (or fetch from the per-process cache) the ``BanditProblem`` of a configuration."""
    if encoder is None:
        return _cached_problem(config)
    return _build_problem(config, encoder)


@lru_cache(maxsize=8)
def _cached_problem(config: SyntheticEnvConfig) -> BanditProblem:
    return _build_problem(config, HashingBowEncoder(dim=256))


def _build_problem(config: SyntheticEnvConfig, encoder: Encoder) -> BanditProblem:
    cat = make_catalogue(config.catalogue)
    item_emb = encoder.encode(cat.item_text)
    user_emb = encoder.encode(cat.user_text)
    pca = PCAContexts(config.context_dim).fit(item_emb)
    model = LatentFactorUserModel(
        cat.user_prefs, cat.item_topics, cat.item_quality, global_bias=config.base_logit, scale=config.reward_scale
    )
    return BanditProblem(
        user_model=model,
        user_contexts=pca.transform(user_emb),
        item_contexts=pca.transform(item_emb),
        k=config.k,
        item_arrival=cat.item_arrival,
        cold_window=config.cold_window,
        name=f"synthetic({encoder.name})",
    )


_DOC = """

    ## Synthetic-v0
    Users and items from ``recbandit.data.synthetic`` (seeded; ``n_items``, ``n_users``,
    ``n_topics``, ``noise`` ... are keyword arguments). Ground truth:
    ``p(u, i) = sigmoid(reward_scale * <prefs_u, topics_i> + quality_i + base_logit)``.
    Contexts: the item and user texts encoded by the hashed bag-of-words encoder (or the
    ``encoder`` given), reduced to ``context_dim`` by PCA fitted on the items. The text
    shows the topics through noisy words and never shows ``quality_i``, so text-based
    agents cannot reach zero regret and ID-based ones must learn each item separately.
    20% of items arrive during the first 20,000 decisions (``cold_fraction``, ``arrival_span``).
"""


class SyntheticBanditEnv(BanditEnv):
    __doc__ = (BanditEnv.__doc__ or "") + _DOC

    def __init__(self, encoder: Encoder | None = None, **kwargs: Any) -> None:
        self.config = make_config(**kwargs)
        super().__init__(synthetic_problem(self.config, encoder))


class SyntheticBatchedEnv(BatchedBanditEnv):
    __doc__ = (BatchedBanditEnv.__doc__ or "") + _DOC

    def __init__(self, batch_size: int = 256, encoder: Encoder | None = None, **kwargs: Any) -> None:
        self.config = make_config(**kwargs)
        super().__init__(synthetic_problem(self.config, encoder), batch_size=batch_size)


def config_dict(config: SyntheticEnvConfig) -> dict[str, Any]:
    """Flat JSON-ready view of a configuration."""
    flat = asdict(config)
    flat.update(flat.pop("catalogue"))
    return flat


__all__ = ["SyntheticBanditEnv", "SyntheticBatchedEnv", "SyntheticEnvConfig", "synthetic_problem"]
