"""The Encoder protocol: texts in, float32 context vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into fixed-size context vectors.

    Attributes:
        dim: length ``d`` of every vector.
        name: short identifier recorded in results (model and settings).
    """

    dim: int

    @property
    def name(self) -> str:
        """Short identifier recorded in results (a plain attribute satisfies it too)."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``N`` texts.

        Args:
            texts: ``N`` strings.

        Returns:
            float32[N, d], one row per text, in input order.
        """
        ...
