"""Hashed bag of words with a fixed random projection: the "no language model" baseline."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from recbandit._validation import check_int, check_seed

_TOKEN = re.compile(r"[a-z0-9]+")


class HashingBowEncoder:
    """Bag-of-words encoder: hashed tokens, each mapped to a fixed random Gaussian vector.

    A text's vector is the sum of its tokens' vectors weighted by ``1 + log(count)``,
    L2-normalised. This equals a random projection of a hashed bag of words with an
    unbounded hash space (no collisions between tokens), computed without the matrix.
    Token vectors are seeded by a stable hash (BLAKE2b) of the token and ``seed``, so the
    same text gives the same vector on every machine and in every process.

    Args:
        dim: output dimension ``d``.
        seed: seed mixed into every token's hash.
        lowercase: fold case before tokenising.
    """

    def __init__(self, dim: int = 256, seed: int = 0, lowercase: bool = True) -> None:
        self.dim = check_int("dim", dim, min_value=1)
        self.seed = check_seed("seed", seed)
        self.lowercase = lowercase
        self.name = f"bow-hash(d={self.dim},seed={self.seed})"
        self._vectors: dict[str, np.ndarray] = {}

    def _token_vector(self, token: str) -> np.ndarray:
        vec = self._vectors.get(token)
        if vec is None:
            digest = hashlib.blake2b(f"{self.seed}\x00{token}".encode(), digest_size=8).digest()
            rng = np.random.default_rng(int.from_bytes(digest, "little"))
            vec = rng.standard_normal(self.dim)
            self._vectors[token] = vec
        return vec

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into lowercase alphanumeric tokens."""
        if not isinstance(text, str):
            raise ValueError(f"texts must be strings, got {type(text).__name__}: {text!r}")
        return _TOKEN.findall(text.lower() if self.lowercase else text)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``N`` texts into float32[N, dim]; an empty text gives a zero row."""
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            tokens, counts = np.unique(self.tokenize(text), return_counts=True)
            if len(tokens) == 0:
                continue
            weights = 1.0 + np.log(counts)
            vec = weights @ np.stack([self._token_vector(str(t)) for t in tokens])
            out[row] = vec / np.linalg.norm(vec)
        return out.astype(np.float32)
