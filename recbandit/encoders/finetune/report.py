"""What a fine-tuning run read, did and cost (:class:`FitReport`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from recbandit.encoders.accounting import ComputeRecord

#: The report's index arrays: saved in ``rows.safetensors``, summarised as count and SHA-256 in JSON.
ROW_ARRAYS = ("train_rows", "validation_rows", "history_rows", "items_encoded", "items_trained", "users_encoded")


@dataclass
class FitReport:
    """What a fine-tuning run read, did and cost.

    Row arrays index ``data.interactions``; item and user arrays index ``data.items`` /
    ``data.users``. Every row listed has ``timestamp < split_time``.

    Attributes:
        mode: the mode (a key of :data:`MODES`).
        seed: the seed.
        config: the :class:`FineTuneConfig` as a dict.
        split_time: rows at or after it were not read.
        data: name, row/user/item counts and reward meaning of the log.
        train_rows: int64[n_fit] rows the gradient steps used (both phases).
        validation_rows: int64[n_val] the validation slice (the end of the training period).
        history_rows: int64[n_hist] liked fit-period rows whose items form the users' histories.
        max_timestamp_seen: the largest timestamp among all rows read.
        items_encoded: int64 items whose text went through the encoder during the fit.
        items_trained: int64 items whose text got a gradient (fit rows' items and negatives;
            empty in frozen mode).
        users_encoded: int64 users whose profile text went through the encoder.
        steps: optimizer steps taken.
        epochs: epochs started.
        best_step: step of the restored (best) state; 0 means the untrained state.
        stopped_early: whether patience ran out before the last epoch ended.
        curve: one dict per validation: ``step``, ``epoch``, ``train_loss`` (mean since the
            previous validation, ``None`` at step 0), ``val_loss``, ``val_auc``.
        initial: validation log loss and AUC before training.
        best: validation log loss and AUC of the restored state.
        parameters: encoder total and trained parameter counts, head parameter count.
        adapter_fingerprint: the tuned encoder's adapter hash ("" in frozen mode).
        flops: FLOPs split into ``train_forward``, ``train_backward`` and ``no_grad``
            (feature refreshes and validation), with the counting ``method`` and the number
            of ``distinct_shapes`` counted.
        cost: the whole fit's :class:`ComputeRecord` (``what="fine-tune"``).
    """

    mode: str
    seed: int
    config: dict[str, Any]
    split_time: float
    data: dict[str, Any]
    train_rows: np.ndarray
    validation_rows: np.ndarray
    history_rows: np.ndarray
    max_timestamp_seen: float
    items_encoded: np.ndarray
    items_trained: np.ndarray
    users_encoded: np.ndarray
    steps: int = 0
    epochs: int = 0
    best_step: int = 0
    stopped_early: bool = False
    curve: list[dict[str, Any]] = field(default_factory=list)
    initial: dict[str, float | None] = field(default_factory=dict)
    best: dict[str, float | None] = field(default_factory=dict)
    parameters: dict[str, int] = field(default_factory=dict)
    adapter_fingerprint: str = ""
    flops: dict[str, Any] = field(default_factory=dict)
    cost: ComputeRecord = field(default_factory=lambda: ComputeRecord(what="fine-tune", calls=0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: the row arrays become counts and SHA-256 digests."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ROW_ARRAYS:
                arr = np.ascontiguousarray(value, dtype=np.int64)
                out[f.name] = {"count": int(arr.size), "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
            elif isinstance(value, ComputeRecord):
                out[f.name] = value.to_dict()
            else:
                out[f.name] = value
        return out
