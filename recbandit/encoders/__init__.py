"""Text encoders that turn item and user text into context vectors.

``TextEncoder`` (transformers) is imported on first use, so ``import recbandit.encoders``
stays free of the transformers import cost for code that only needs the bag-of-words
encoder. ``make_encoder(spec)`` builds an encoder from its name ("bow:512", "minilm", a
Hugging Face id or a model folder; see ``recbandit.encoders.registry``).
``fine_tune`` / ``TunedTextEncoder`` (frozen, top-k or LoRA fine-tuning on a log's training
period; see ``recbandit.encoders.finetune``) are imported on first use as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recbandit.encoders.accounting import ComputeMeter, ComputeRecord, CostAccumulator
from recbandit.encoders.base import Encoder
from recbandit.encoders.bow import HashingBowEncoder
from recbandit.encoders.cache import EmbeddingCache, default_cache_dir
from recbandit.encoders.registry import (
    ENCODERS,
    EncoderSpec,
    canonical_spec,
    make_encoder,
    parse_spec,
    register_encoder,
)

if TYPE_CHECKING:
    from recbandit.encoders.finetune import FineTuneConfig, FitReport, TunedTextEncoder, fine_tune
    from recbandit.encoders.text import TextEncoder

_FINETUNE = ("FineTuneConfig", "FitReport", "TunedTextEncoder", "fine_tune")

__all__ = [
    "ENCODERS",
    "ComputeMeter",
    "ComputeRecord",
    "CostAccumulator",
    "EmbeddingCache",
    "Encoder",
    "EncoderSpec",
    "FineTuneConfig",
    "FitReport",
    "HashingBowEncoder",
    "TextEncoder",
    "TunedTextEncoder",
    "canonical_spec",
    "default_cache_dir",
    "fine_tune",
    "make_encoder",
    "parse_spec",
    "register_encoder",
]


def __getattr__(name: str) -> Any:
    if name == "TextEncoder":
        from recbandit.encoders.text import TextEncoder

        return TextEncoder
    if name in _FINETUNE:
        from recbandit.encoders import finetune

        return getattr(finetune, name)
    raise AttributeError(f"module 'recbandit.encoders' has no attribute {name!r}")
