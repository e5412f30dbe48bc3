"""Text encoders that turn item and user text into context vectors.

``TextEncoder`` (transformers) is imported on first use, so ``import recbandit.encoders``
stays free of the transformers import cost for code that only needs the bag-of-words
encoder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recbandit.encoders.accounting import ComputeMeter, ComputeRecord, CostAccumulator
from recbandit.encoders.base import Encoder
from recbandit.encoders.bow import HashingBowEncoder
from recbandit.encoders.cache import EmbeddingCache, default_cache_dir

if TYPE_CHECKING:
    from recbandit.encoders.text import TextEncoder

__all__ = [
    "ComputeMeter",
    "ComputeRecord",
    "CostAccumulator",
    "EmbeddingCache",
    "Encoder",
    "HashingBowEncoder",
    "TextEncoder",
    "default_cache_dir",
]


def __getattr__(name: str) -> Any:
    if name == "TextEncoder":
        from recbandit.encoders.text import TextEncoder

        return TextEncoder
    raise AttributeError(f"module 'recbandit.encoders' has no attribute {name!r}")
