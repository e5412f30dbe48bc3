"""Synthetic-v0: the embedded default, a seeded text catalogue with a latent-factor ground truth."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any

from recbandit._validation import check_float, check_int, split_kwargs
from recbandit.data.synthetic import SyntheticCatalogue, SyntheticConfig, make_catalogue
from recbandit.encoders.base import Encoder
from recbandit.envs.bandit import BanditEnv
from recbandit.envs.batched import BatchedBanditEnv
from recbandit.envs.contexts import ContextEncoding, PCAContexts, resolve_encoder
from recbandit.envs.problem import BanditProblem
from recbandit.envs.user_models import LatentFactorUserModel, SatiationUserModel


@dataclass(frozen=True)
class SyntheticEnvConfig:
    """Knobs of Synthetic-v0 (the catalogue's knobs plus the reward model and contexts).

    Attributes:
        k: candidates per user.
        context_dim: dimension of user and item contexts (PCA of the text embeddings).
        reward_scale: multiplier of the user-item topic affinity in the logit.
        base_logit: global logit offset (sets the base click rate).
        cold_window: decisions during which a newly arrived item is flagged cold.
        nonlinearity: satiation strength eta >= 0 of the ground truth; 0 (default) is the
            logistic-bilinear model, eta > 0 the ``SatiationUserModel`` (clicks peak at
            affinity ``1 / (2 eta)`` when eta > 1/2), non-linear in the agent's contexts.
        catalogue: the ``SyntheticConfig`` fields (n_items, n_users, n_topics, noise, ...).
    """

    k: int = 10
    context_dim: int = 12
    reward_scale: float = 4.0
    base_logit: float = -2.5
    cold_window: int = 1000
    nonlinearity: float = 0.0
    catalogue: SyntheticConfig = SyntheticConfig()

    def __post_init__(self) -> None:
        check_int("k", self.k, min_value=2)
        check_int("context_dim", self.context_dim, min_value=1)
        check_float("reward_scale", self.reward_scale)
        check_float("base_logit", self.base_logit)
        check_int("cold_window", self.cold_window, min_value=0)
        check_float("nonlinearity", self.nonlinearity, min_value=0.0)


def make_config(**kwargs: Any) -> SyntheticEnvConfig:
    """Split flat keyword arguments between the env and the catalogue configs."""
    env_fields = {f.name for f in fields(SyntheticEnvConfig)} - {"catalogue"}
    parts = split_kwargs("Synthetic-v0", kwargs, {"env": env_fields, "catalogue": SyntheticConfig.__dataclass_fields__})
    return SyntheticEnvConfig(catalogue=SyntheticConfig(**parts["catalogue"]), **parts["env"])


#: Encoder of Synthetic-v0 when none is given: the hashed bag of words, 256-d.
DEFAULT_ENCODER = "bow:256"


def synthetic_problem(config: SyntheticEnvConfig, encoder: Encoder | str | None = None) -> BanditProblem:
    """Build (or fetch from the per-process cache) the ``BanditProblem`` of a configuration.

    Args:
        config: the env's knobs.
        encoder: an encoder spec (``"minilm"``, ``"bow:512"``, a model folder; cached per
            process by (config, canonical spec)), an ``Encoder`` object (built every time),
            or ``None`` for ``DEFAULT_ENCODER``.
    """
    if encoder is None or isinstance(encoder, str):
        from recbandit.encoders.registry import canonical_spec

        return _cached_problem(config, canonical_spec(encoder or DEFAULT_ENCODER))
    return _build_problem(config, encoder)


@lru_cache(maxsize=8)
def _cached_problem(config: SyntheticEnvConfig, spec: str) -> BanditProblem:
    return _build_problem(config, spec)


def _build_problem(config: SyntheticEnvConfig, encoder_arg: Encoder | str) -> BanditProblem:
    encoder, spec = resolve_encoder(encoder_arg, DEFAULT_ENCODER)
    cat = make_catalogue(config.catalogue)
    texts = ContextEncoding(encoder, spec)
    item_emb = texts.encode(cat.item_text)
    user_emb = texts.encode(cat.user_text)
    pca = PCAContexts(config.context_dim).fit(item_emb)
    return BanditProblem(
        user_model=synthetic_user_model(config, cat),
        user_contexts=pca.transform(user_emb),
        item_contexts=pca.transform(item_emb),
        k=config.k,
        item_arrival=cat.item_arrival,
        cold_window=config.cold_window,
        user_arrival=cat.user_arrival,
        name=f"synthetic({encoder.name})",
        contexts_info={"encoder": encoder.name, "spec": spec, "encode": texts.to_dict()},
    )


def synthetic_user_model(config: SyntheticEnvConfig, cat: SyntheticCatalogue) -> LatentFactorUserModel:
    """The ground truth of a catalogue: logistic-bilinear, or satiation when ``nonlinearity`` > 0."""
    factors = (cat.user_prefs, cat.item_topics, cat.item_quality)
    if config.nonlinearity > 0:
        return SatiationUserModel(
            *factors, global_bias=config.base_logit, scale=config.reward_scale, eta=config.nonlinearity
        )
    return LatentFactorUserModel(*factors, global_bias=config.base_logit, scale=config.reward_scale)


class SyntheticBanditEnv(BanditEnv):
    """Synthetic-v0: users and items of a seeded text catalogue, one user per step.

    ## Description
    The embedded default (no download). A catalogue from ``recbandit.data.synthetic``:
    items with a latent topic mixture and a quality offset, users with a latent topic
    preference (Dirichlet, skewed towards popular topics), and English text for both whose
    words come from per-topic vocabularies with a share ``noise`` of filler words. Each step
    a user arrives and K distinct candidates are drawn from the items available by then.

    ## User model (ground truth)
    ``p(click | u, i) = sigmoid(reward_scale * <prefs_u, topics_i> + quality_i + base_logit)``
    (``LatentFactorUserModel``). The text shows the topics through noisy words and never
    shows ``quality_i``: text-based agents cannot reach zero regret, ID-based agents must
    learn every item separately. With ``nonlinearity`` eta > 0 the affinity term becomes
    ``reward_scale * s(<prefs_u, topics_i>)``, ``s(a) = (a - eta a^2) / max_[0,1](a - eta a^2)``
    (``SatiationUserModel``): a satiation curve, non-linear in the contexts.

    ## Action Space
    ``Discrete(k)``.

    ## Observation Space
    ``Dict``: ``user`` float32[context_dim], ``items`` float32[k, context_dim], ``item_ids``
    int64[k]. Contexts are the texts encoded by the hashed bag-of-words encoder (or the
    ``encoder`` given) and reduced to ``context_dim`` by PCA fitted on the item texts.
    The encoder changes what agents see, never the ground truth.

    ## Rewards
    Bernoulli(p(click)) of the chosen candidate.

    ## Starting State
    Decision 0: the initial catalogue (``1 - cold_fraction`` of the items) is available.

    ## Episode End
    Never (a continuing stream of users); use the runner's horizon or ``TimeLimit``.

    ## Arguments
    ``k`` (10), ``context_dim`` (12), ``reward_scale`` (4.0), ``base_logit`` (-2.5),
    ``cold_window`` (1000), ``nonlinearity`` (0.0), ``encoder`` (a spec: ``"minilm"``,
    ``"bow:512"``, a Hugging Face id or a model folder, see ``recbandit.encoders.registry``;
    or an ``Encoder``; None = ``"bow:256"``, the hashed bag of words), and the
    catalogue's ``n_items`` (1000), ``n_users`` (2000), ``n_topics`` (8), ``noise`` (0.1),
    ``topic_concentration``, ``quality_scale``, ``cold_fraction`` (0.2), ``arrival_span``
    (20,000), ``profile_words``, ``preference_concentration``, ``topic_popularity_decay``,
    ``vocab_shift`` (0.0: share of a cold item's topic words replaced by synonyms no warm
    item uses), ``new_user_fraction`` (0.0: share of users arriving after decision 0,
    never drawn before their arrival), ``user_arrival_span`` (20,000), ``seed``
    (catalogue seed, 0). ``info`` as ``BanditEnv``.

    ## Version History
    * v0: initial version.
    """

    def __init__(self, encoder: Encoder | str | None = None, **kwargs: Any) -> None:
        self.config = make_config(**kwargs)
        super().__init__(synthetic_problem(self.config, encoder))


class SyntheticBatchedEnv(BatchedBanditEnv):
    """Synthetic-v0 with ``batch_size`` users per step (see ``SyntheticBanditEnv``, ``BatchedBanditEnv``)."""

    def __init__(self, batch_size: int = 256, encoder: Encoder | str | None = None, **kwargs: Any) -> None:
        self.config = make_config(**kwargs)
        super().__init__(synthetic_problem(self.config, encoder), batch_size=batch_size)


def config_dict(config: SyntheticEnvConfig) -> dict[str, Any]:
    """Flat JSON-ready view of a configuration."""
    flat = asdict(config)
    flat.update(flat.pop("catalogue"))
    return flat


__all__ = ["SyntheticBanditEnv", "SyntheticBatchedEnv", "SyntheticEnvConfig", "synthetic_problem"]
