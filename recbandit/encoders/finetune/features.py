"""What the two-tower model reads from a log: binary labels and the users' features.

A user's features are the mean vector of the items they liked in the training period (the
history; a row's own item is left out of its history) and the vector of their profile text
(when the log has one). They are "stale": computed with the encoder in eval mode, without
gradient, at the start of every epoch of a fit, and from ``encode`` at prediction time.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from recbandit.data.logged import LoggedData
from recbandit.encoders.finetune.heads import TwoTowerHeads
from recbandit.encoders.text import TextEncoder


def data_summary(data: LoggedData) -> dict[str, Any]:
    """Name, sizes, reward meaning and item-text digest of a log (what a tuned encoder checks data against)."""
    texts = hashlib.sha256("\x1f".join(data.items.text).encode("utf-8")).hexdigest()
    return {
        "name": data.name,
        "n_users": len(data.users),
        "n_items": len(data.items),
        "reward_kind": data.reward_kind,
        "rating_threshold": data.rating_threshold,
        "item_text_sha256": texts,
    }


def binary_labels(data: LoggedData, threshold: float | None, rows: np.ndarray | None = None) -> np.ndarray:
    """float64 0/1 labels of ``rows`` (all rows when ``None``); rating logs: ``rating >= threshold``.

    Only the rewards of ``rows`` are read.
    """
    reward = data.interactions.reward if rows is None else data.interactions.reward[rows]
    if data.reward_kind == "binary":
        return np.asarray(reward, dtype=np.float64)
    thr = data.rating_threshold if threshold is None else threshold
    if thr is None:
        raise ValueError(f"data {data.name!r} holds ratings without a rating_threshold; pass rating_threshold=")
    return (reward >= thr).astype(np.float64)


class UserFeatures:
    """Stale encoder features of a fit: item vectors, users' liked-history sums, profile vectors.

    Args:
        encoder: the encoder being tuned or scored with (its ``dim`` and ``device`` are used).
        heads: the heads (which user towers exist).
        data: the log.
        history_rows: int64[n] liked training-period rows whose items form the histories.
        users: int64 users whose profile texts may be needed.

    ``hist_items`` / ``users`` are the indices whose texts are encoded; ``item_pos[i]`` is
    item ``i``'s row in ``E`` (-1 when not encoded).
    """

    def __init__(
        self,
        encoder: TextEncoder,
        heads: TwoTowerHeads,
        data: LoggedData,
        history_rows: np.ndarray,
        users: np.ndarray,
    ) -> None:
        inter = data.interactions
        self.history_users = inter.user[history_rows]
        self.history_items = inter.item[history_rows]
        self.use_history = heads.history_proj is not None
        self.use_text = heads.text_proj is not None
        if self.use_text and data.users.text is None:
            raise ValueError(f"the encoder was tuned with user profile texts, but data {data.name!r} has none")
        self.data = data
        self.users = np.unique(users) if self.use_text else np.zeros(0, dtype=np.int64)
        self.hist_items = np.unique(self.history_items) if self.use_history else np.zeros(0, dtype=np.int64)
        self.device = encoder.device
        n_users = len(data.users)
        self.S = torch.zeros((n_users, encoder.dim), dtype=torch.float32, device=self.device)
        self.count = torch.zeros(n_users, dtype=torch.float32, device=self.device)
        self.P = torch.zeros((n_users, encoder.dim), dtype=torch.float32, device=self.device)
        self.item_pos = np.full(len(data.items), -1, dtype=np.int64)
        self.E = torch.zeros((0, encoder.dim), dtype=torch.float32, device=self.device)

    def set_tables(self, item_ids: np.ndarray, item_vectors: torch.Tensor, profile: torch.Tensor | None) -> None:
        """Install item vectors float32[len(item_ids), d] and profile vectors float32[len(users), d]."""
        self.item_pos[:] = -1
        self.item_pos[item_ids] = np.arange(len(item_ids))
        self.E = item_vectors
        self.S.zero_()
        self.count.zero_()
        if self.use_history and len(self.history_items):
            hu = torch.from_numpy(self.history_users).to(self.device)
            self.S.index_add_(0, hu, self.E[torch.from_numpy(self.item_pos[self.history_items]).to(self.device)])
            self.count.index_add_(0, hu, torch.ones(len(hu), device=self.device))
        self.P.zero_()
        if profile is not None and len(self.users):
            self.P[torch.from_numpy(self.users).to(self.device)] = profile

    def refresh_from_encode(self, enc: TextEncoder) -> None:
        """Fill the tables with ``enc.encode`` (cached, inference mode) - used at prediction time."""
        vec = torch.from_numpy(enc.encode([self.data.items.text[i] for i in self.hist_items])).to(self.device)
        prof = None
        if self.use_text:
            assert self.data.users.text is not None
            prof = torch.from_numpy(enc.encode([self.data.users.text[u] for u in self.users])).to(self.device)
        self.set_tables(self.hist_items, vec, prof)

    def logits(
        self,
        heads: TwoTowerHeads,
        item_vectors: torch.Tensor,
        users: np.ndarray,
        items: np.ndarray,
        in_history: np.ndarray,
    ) -> torch.Tensor:
        """Logits float32[B] of rows (users, items); ``in_history`` marks rows whose item is in the user's history."""
        u = torch.from_numpy(users).to(self.device)
        it = torch.from_numpy(items).to(self.device)
        history = None
        if self.use_history:
            own = torch.zeros((len(users), item_vectors.shape[1]), dtype=torch.float32, device=self.device)
            if in_history.any():
                pos = self.item_pos[items[in_history]]
                if (pos < 0).any():  # pragma: no cover - history items are always in the table
                    raise RuntimeError("a history item has no vector")
                own[torch.from_numpy(np.flatnonzero(in_history)).to(self.device)] = self.E[
                    torch.from_numpy(pos).to(self.device)
                ]
            flag = torch.from_numpy(in_history.astype(np.float32)).to(self.device)
            n = self.count[u] - flag
            has = (n > 0).to(torch.float32).unsqueeze(1)
            history = ((self.S[u] - own) / n.clamp(min=1.0).unsqueeze(1) - heads.item_center) * has
        return heads(item_vectors, u, it, history, self.P[u] if self.use_text else None)
