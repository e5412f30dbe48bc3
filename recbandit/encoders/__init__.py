"""Text encoders that turn item and user text into context vectors."""

from recbandit.encoders.base import Encoder
from recbandit.encoders.bow import HashingBowEncoder

__all__ = ["Encoder", "HashingBowEncoder"]
