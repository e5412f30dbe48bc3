"""Fine-tuning modes and hyper-parameters (:data:`MODES`, :class:`FineTuneConfig`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from recbandit._validation import check_float, check_int

#: Fine-tuning modes and what each trains.
MODES: dict[str, str] = {
    "frozen": "no encoder weight; only the two-tower heads",
    "top-k": "the last top_k transformer layers (embeddings, lower layers and pooler frozen)",
    "lora": "LoRA adapters (peft) on lora_target_modules; every base weight frozen",
}


@dataclass(frozen=True)
class FineTuneConfig:
    """Hyper-parameters of :func:`fine_tune`, validated on construction.

    Attributes:
        top_k: layers trained in ``"top-k"`` mode (1 to the model's layer count).
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling numerator (the update is scaled by ``lora_alpha / lora_r``).
        lora_dropout: dropout on the LoRA branch's input, in [0, 1).
        lora_target_modules: names of the linear modules that get adapters (``("q_lin",
            "v_lin")`` for DistilBERT).
        projection_dim: size ``p`` of the two towers' output vectors.
        user_text: use the users' profile text when the log has it.
        user_history: use the mean of the user's liked fit-period items.
        user_id: learn an id embedding for every user with fit rows.
        user_bias: learn a bias for every user with fit rows.
        item_bias: learn a bias for every item with fit rows.
        negatives: sampled negatives per fit row (0: only the logged rows): items drawn
            uniformly from the fit rows' items, minus those the user liked in the fit period.
        probe_epochs: passes of a first, heads-only phase over every fit-period row (the
            encoder frozen, its vectors computed once), before the mode's own training
            ("linear probing, then fine-tuning"); 0 skips it.
        probe_batch_size: rows per step of the heads-only phase.
        probe_lr: the heads' learning rate in the heads-only phase (``None``: ``head_lr``).
        epochs: passes over the fit rows in the mode's own training.
        batch_size: fit rows per step (plus their negatives).
        lr: AdamW learning rate of the encoder's trained weights.
        head_lr: AdamW learning rate of the heads.
        weight_decay: AdamW decoupled weight decay (both groups).
        max_grad_norm: gradient-norm clipping, ``None`` for none.
        validation_fraction: share of the training period (its latest rows) held out for
            early stopping, in [0, 0.5]; 0 trains on everything without early stopping.
        max_validation_rows: cap on the validation rows (the latest ones are kept).
        max_train_rows: use only this many fit rows (a seeded uniform sample of the fit
            period) for the mode's own training, ``None`` for all of them (the heads-only
            phase uses every fit-period row).
        patience: validations without improvement of the log loss before stopping.
        eval_every: steps between validations; ``None`` validates at the end of each epoch.
        rating_threshold: rating counted as a like (rating logs); ``None`` uses the log's.
        max_length: tokens per text for the fit and the tuned encoder; ``None`` keeps the
            encoder's.
    """

    top_k: int = 1
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_target_modules: tuple[str, ...] = ("query", "value")
    projection_dim: int = 64
    user_text: bool = True
    user_history: bool = True
    user_id: bool = True
    user_bias: bool = True
    item_bias: bool = True
    negatives: int = 0
    probe_epochs: int = 0
    probe_batch_size: int = 256
    probe_lr: float | None = None
    epochs: int = 2
    batch_size: int = 64
    lr: float = 2e-4
    head_lr: float = 5e-3
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    validation_fraction: float = 0.1
    max_validation_rows: int | None = None
    max_train_rows: int | None = None
    patience: int = 2
    eval_every: int | None = None
    rating_threshold: float | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        check_int("top_k", self.top_k, min_value=1)
        check_int("lora_r", self.lora_r, min_value=1)
        check_float("lora_alpha", self.lora_alpha, min_value=0.0, min_inclusive=False)
        check_float("lora_dropout", self.lora_dropout, min_value=0.0, max_value=1.0, max_inclusive=False)
        targets = self.lora_target_modules
        if isinstance(targets, str) or not targets or not all(isinstance(t, str) and t for t in targets):
            raise ValueError(f"lora_target_modules must be a non-empty tuple of module names, got {targets!r}")
        object.__setattr__(self, "lora_target_modules", tuple(targets))
        check_int("projection_dim", self.projection_dim, min_value=1)
        for name in ("user_text", "user_history", "user_id", "user_bias", "item_bias"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not (self.user_text or self.user_history or self.user_id):
            raise ValueError("the user tower is empty: enable at least one of user_text, user_history, user_id")
        check_int("negatives", self.negatives, min_value=0)
        check_int("probe_epochs", self.probe_epochs, min_value=0)
        check_int("probe_batch_size", self.probe_batch_size, min_value=1)
        if self.probe_lr is not None:
            check_float("probe_lr", self.probe_lr, min_value=0.0, min_inclusive=False)
        check_int("epochs", self.epochs, min_value=1)
        check_int("batch_size", self.batch_size, min_value=1)
        check_float("lr", self.lr, min_value=0.0, min_inclusive=False)
        check_float("head_lr", self.head_lr, min_value=0.0, min_inclusive=False)
        check_float("weight_decay", self.weight_decay, min_value=0.0)
        if self.max_grad_norm is not None:
            check_float("max_grad_norm", self.max_grad_norm, min_value=0.0, min_inclusive=False)
        check_float("validation_fraction", self.validation_fraction, min_value=0.0, max_value=0.5)
        if self.max_validation_rows is not None:
            check_int("max_validation_rows", self.max_validation_rows, min_value=1)
        if self.max_train_rows is not None:
            check_int("max_train_rows", self.max_train_rows, min_value=1)
        check_int("patience", self.patience, min_value=1)
        if self.eval_every is not None:
            check_int("eval_every", self.eval_every, min_value=1)
        if self.rating_threshold is not None:
            check_float("rating_threshold", self.rating_threshold)
        if self.max_length is not None:
            check_int("max_length", self.max_length, min_value=2)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        out = asdict(self)
        out["lora_target_modules"] = list(self.lora_target_modules)
        return out
