"""Fine-tuning a :class:`~recbandit.encoders.text.TextEncoder` on the training period of a log.

Three modes (:data:`MODES`):

- ``"frozen"``: the transformer is not changed; only the two-tower heads below are fitted
  (the baseline every tuned encoder is compared with). Its vectors and cache key are those
  of the plain encoder.
- ``"top-k"``: the last ``top_k`` transformer layers are trained; the embeddings, the lower
  layers and the pooler stay frozen.
- ``"lora"``: low-rank adapters (``peft.LoraConfig``: rank ``lora_r``, ``lora_alpha``,
  ``lora_dropout`` on ``lora_target_modules``, by default the attention ``query`` and
  ``value`` projections) are trained; every base weight stays frozen.

Objective: a two-tower like model trained with binary cross-entropy on the log's binary
reward (the click for binary logs, ``rating >= rating_threshold`` for rating logs)::

    item vector   z_i = W_item (e_i - c)         e_i = pooled (normalised) encoder output of item i's text
    user vector   u   = E_user[u]                learned id embedding (users with training rows)
                      + W_hist mean(e_j - c : j liked by u in the fit period, the row's own item left out)
                      + W_text (t_u - c_t)       t_u = encoded profile text (when the log has user text)
    P(like)           = sigmoid(<u, z_i> + w.(e_i - c) + b_i + b_u + b)
                                                 w: appeal read from the text (cold items, new users)
                                                 b_i, b_u: learned per item / user seen in training

(``c`` and ``c_t`` are the mean item and profile vectors of the training texts.)

The item tower runs the encoder with gradients (top-k, LoRA) on every mini-batch; the
history and profile features are computed with the encoder in eval mode at the start of
every epoch (no gradient through them). ``negatives`` adds sampled negatives per row:
items drawn uniformly from the trained rows' items, skipping those the user liked.

With ``probe_epochs`` the heads are first fitted alone on every fit-period row (cheap:
the frozen vectors are computed once), then the mode's own training starts from them
("linear probing, then fine-tuning", Kumar et al., ICLR 2022); a fine-tuned encoder then
has to beat a well-fitted frozen one on validation, or the best state stays the probed
one. Mini-batches of shuffled fit rows, AdamW (separate learning rates for the encoder and
the heads), gradient clipping, and early stopping with ``patience`` on the validation log
loss; the best state is restored at the end.

Which rows are used. ``split_time`` cuts the log: rows with ``timestamp < split_time`` are
the training period; nothing at or after it is read (rewards, items, users of later rows
are never looked at). The last ``validation_fraction`` of the training period (by time) is
the validation slice for early stopping; the fit rows are the rest, optionally a seeded
sample of ``max_train_rows`` of them. The :class:`FitReport` lists the rows (fit,
validation, history), the largest timestamp read, and every item and user text that went
through the encoder; items that appear only after the split are never encoded during the
fit (they may of course be encoded later, for the evaluation period).

Randomness: one ``np.random.Generator`` seeded by ``seed`` shuffles rows and samples
negatives, and seeds two ``torch.Generator`` s, for the heads' and for LoRA's initial
weights (so that every mode starts from the same heads and the same untrained model).
Dropout (the transformer's and LoRA's) takes no generator in torch, so the training steps
run under ``torch.random.fork_rng`` with the default generator seeded from the same
``np.random.Generator``; the caller's global torch RNG state is restored afterwards. The
same seed, data and settings give bit-identical weights on the same machine.

Compute accounting: the whole fit is one :class:`~recbandit.encoders.accounting.ComputeRecord`
(``what="fine-tune"``): wall seconds, peak RSS, device, CUDA-event seconds and peak GPU
memory on a GPU. FLOPs are counted with ``FlopCounterMode`` (``flops_method="per-shape"``):
the forward and the backward pass of the first training step of each distinct shape
(rows, distinct items, longest text) are counted, and every later step of the same shape
adds the same count; the same for the no-gradient passes (feature refreshes, validation).
For BERT-like models, whose FLOPs depend on the input shapes only, this equals counting
every step (which the counter would slow down several-fold on small models).
``FitReport.flops`` splits the total into training forward, training backward and
no-gradient passes. An encoder built with ``count_flops=False`` counts nothing.

Saving (:meth:`TunedTextEncoder.save`): a folder with safetensors files and a JSON
manifest, nothing pickled::

    manifest.json        base model (source, label, fingerprint), encoder settings, mode,
                         hyper-parameters, adapter fingerprint, SHA-256 of every file,
                         the training report (without the row lists)
    adapter/             LoRA: peft's ``save_pretrained`` (adapter_model.safetensors, adapter_config.json)
    layers.safetensors   top-k: the trained layers' tensors
    heads.safetensors    the two-tower heads
    rows.safetensors     int64 row and text indices the fit used (see FitReport)

:meth:`TunedTextEncoder.load` checks every file's hash and the base model's fingerprint
and gives an encoder whose vectors equal the saved one's bit for bit. The embedding cache
key of a tuned encoder holds its mode and :meth:`~TunedTextEncoder.adapter_fingerprint`
(a hash of the trained tensors and the settings that scale them), so tuned vectors never
mix with frozen ones or with another adapter's.

Usage::

    from recbandit.data.movielens import load_movielens
    from recbandit.encoders.finetune import TunedTextEncoder, fine_tune

    data = load_movielens("ml-100k")
    split = data.time_quantile(0.8)
    enc, report = fine_tune(None, data, mode="lora", split_time=split, seed=0, max_length=32)
    vectors = enc.encode(data.items.text)                        # float32[n_items, 384]
    test = np.flatnonzero(data.interactions.timestamp >= split)
    print(enc.evaluate(data, test))                              # held-out AUC of the two-tower model
    enc.save("tuned-minilm"); same = TunedTextEncoder.load("tuned-minilm")
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recbandit._io import atomic_write_bytes, file_sha256
from recbandit._stats import log_loss, roc_auc
from recbandit._torch import seeded_torch_rng, torch_generator, torch_threads
from recbandit._validation import check_choice, check_float, check_int, check_seed
from recbandit.data.logged import LoggedData
from recbandit.encoders.accounting import ComputeMeter, ComputeRecord, CostAccumulator, count_flops
from recbandit.encoders.text import POOLINGS, TextEncoder

#: Fine-tuning modes and what each trains.
MODES: dict[str, str] = {
    "frozen": "no encoder weight; only the two-tower heads",
    "top-k": "the last top_k transformer layers (embeddings, lower layers and pooler frozen)",
    "lora": "LoRA adapters (peft) on lora_target_modules; every base weight frozen",
}
MANIFEST_FORMAT = 1
MANIFEST_KIND = "recbandit-tuned-text-encoder"
# Where the list of transformer layers sits in the architectures transformers ships.
_LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers", "layer")
_ROW_ARRAYS = ("train_rows", "validation_rows", "history_rows", "items_encoded", "items_trained", "users_encoded")


# --------------------------------------------------------------------------- configuration


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


# --------------------------------------------------------------------------- the report


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
            if f.name in _ROW_ARRAYS:
                arr = np.ascontiguousarray(value, dtype=np.int64)
                out[f.name] = {"count": int(arr.size), "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
            elif isinstance(value, ComputeRecord):
                out[f.name] = value.to_dict()
            else:
                out[f.name] = value
        return out


# --------------------------------------------------------------------------- the heads


class TwoTowerHeads(torch.nn.Module):
    """The trainable parts of the two-tower model around the text encoder.

    Args:
        dim: encoder output size ``d``.
        projection_dim: tower output size ``p``.
        n_users: users of the log (ids index the id embedding).
        n_items: items of the log (ids index the item bias).
        user_text: whether a profile-text projection exists.
        user_history: whether a history projection exists.
        user_id: whether a user id embedding exists.
        item_bias: whether a per-item bias exists.
        user_bias: whether a per-user bias exists.
        generator: draws the initial projections (see :meth:`reset_parameters`); ``None``
            leaves every weight zero (for loading saved weights). Nothing is drawn from
            torch's global RNG.

    Buffers ``user_known`` / ``item_known`` (bool) mark the users and items that had fit
    rows; the id embedding and the biases of the others count as zero. Buffers
    ``item_center`` / ``profile_center`` (float32[d]) are the mean item and profile vectors
    of the training texts (set at every feature refresh): the towers see centred vectors, as
    sentence embeddings share a large common component that would otherwise swamp the
    differences between texts at the start of training.
    """

    def __init__(
        self,
        dim: int,
        projection_dim: int,
        n_users: int,
        n_items: int,
        *,
        user_text: bool,
        user_history: bool,
        user_id: bool,
        item_bias: bool,
        user_bias: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        p = projection_dim

        def linear() -> torch.nn.Linear:
            # skip_init: nn.Linear's own initialisation would draw from the global RNG.
            lin = torch.nn.utils.skip_init(torch.nn.Linear, dim, p, bias=False)
            torch.nn.init.zeros_(lin.weight)
            return lin

        self.item_proj = linear()
        # A user-independent appeal read from the text: carries popularity to cold items and new users.
        self.item_text_bias = torch.nn.utils.skip_init(torch.nn.Linear, dim, 1, bias=False)
        torch.nn.init.zeros_(self.item_text_bias.weight)
        self.history_proj = linear() if user_history else None
        self.text_proj = linear() if user_text else None
        self.user_embedding = torch.nn.Parameter(torch.zeros(n_users, p)) if user_id else None
        self.item_bias = torch.nn.Parameter(torch.zeros(n_items)) if item_bias else None
        self.user_bias = torch.nn.Parameter(torch.zeros(n_users)) if user_bias else None
        self.bias = torch.nn.Parameter(torch.zeros(()))
        self.register_buffer("user_known", torch.zeros(n_users, dtype=torch.bool))
        self.register_buffer("item_known", torch.zeros(n_items, dtype=torch.bool))
        self.register_buffer("item_center", torch.zeros(dim))
        self.register_buffer("profile_center", torch.zeros(dim))
        if generator is not None:
            self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Projections ~ N(0, 1/d) drawn from ``generator``; embeddings and biases zero."""
        with torch.no_grad():
            for lin in (self.item_proj, self.history_proj, self.text_proj):
                if lin is not None:
                    w = torch.randn(lin.weight.shape, generator=generator) / math.sqrt(lin.weight.shape[1])
                    lin.weight.copy_(w.to(lin.weight.device))
            for param in (self.user_embedding, self.item_bias, self.user_bias):
                if param is not None:
                    param.zero_()
            self.bias.zero_()

    def forward(
        self,
        item_vectors: torch.Tensor,
        users: torch.Tensor,
        items: torch.Tensor,
        history: torch.Tensor | None = None,
        profile: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Like logits.

        Args:
            item_vectors: float32[B, d] encoder vectors of the rows' items.
            users: int64[B] user indices.
            items: int64[B] item indices.
            history: float32[B, d] mean history vectors, already centred (zero rows for users
                without history); needed when the history tower exists.
            profile: float32[B, d] profile-text vectors (needed when the text tower exists).

        Returns:
            float32[B] logits.
        """
        centred = item_vectors - self.item_center
        z = self.item_proj(centred)
        u = torch.zeros_like(z)
        if self.user_embedding is not None:
            u = u + self.user_embedding[users] * self.user_known[users].unsqueeze(1)
        if self.history_proj is not None:
            if history is None:
                raise ValueError("history vectors are required: the heads have a history tower")
            u = u + self.history_proj(history)
        if self.text_proj is not None:
            if profile is None:
                raise ValueError("profile vectors are required: the heads have a profile-text tower")
            u = u + self.text_proj(profile - self.profile_center)
        logits = (u * z).sum(dim=1) + self.item_text_bias(centred).squeeze(1) + self.bias
        if self.item_bias is not None:
            logits = logits + self.item_bias[items] * self.item_known[items]
        if self.user_bias is not None:
            logits = logits + self.user_bias[users] * self.user_known[users]
        return logits


# --------------------------------------------------------------------------- helpers


def transformer_layers(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """The list of transformer blocks of a transformers model and its dotted path.

    Raises:
        ValueError: no layer list at any of the known paths (``encoder.layer`` for BERT and
            RoBERTa, ``transformer.layer`` for DistilBERT, ...).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for path in _LAYER_PATHS:
        obj: Any = base
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, torch.nn.ModuleList) and len(obj) > 0:
            return path, obj
    raise ValueError(
        f"cannot find the transformer layers of {type(base).__name__}: looked for {', '.join(_LAYER_PATHS)}"
    )


def _pad(ids: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> (long[B, L] ids padded with ``pad_id``, long[B, L] attention mask)."""
    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for j, row in enumerate(ids):
        input_ids[j, : len(row)] = row
        mask[j, : len(row)] = 1
    return torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device)


def _tensor_digest(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """Name -> ``dtype/shape/sha256`` of each tensor's bytes (on CPU, contiguous)."""
    out = {}
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        out[name] = f"{t.dtype}/{list(t.shape)}/{hashlib.sha256(raw).hexdigest()}"
    return out



@contextlib.contextmanager
def _quiet_peft() -> Iterator[None]:
    """Silence peft's notes about base-model names (a local folder is not a hub id)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*base_model_name_or_path.*")
        warnings.filterwarnings("ignore", message=".*model card.*")
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


# --------------------------------------------------------------------------- the tuned encoder


class TunedTextEncoder(TextEncoder):
    """A :class:`TextEncoder` whose transformer was fine-tuned, with its two-tower heads.

    Built by :func:`fine_tune` or :meth:`load`, never directly. ``encode`` works as for
    the base encoder (same pooling, normalisation, batching, cache and cost accounting)
    with the tuned weights; ``dim`` is the transformer's hidden size. :meth:`predict`
    scores (user, item) pairs with the two-tower model the encoder was tuned in.

    Attributes:
        mode: ``"frozen"``, ``"top-k"`` or ``"lora"``.
        tune_config: the :class:`FineTuneConfig` of the fit (``config`` is the model's
            transformers config, as for every TextEncoder).
        seed: the fit's seed.
        heads: the :class:`TwoTowerHeads`.
        split_time: end of the training period of the fit.
        data_info: name, sizes and item-text digest of the log it was fitted on.
        report: the :class:`FitReport` (after :func:`fine_tune` or :meth:`load`).
    """

    heads: TwoTowerHeads
    report: FitReport | None

    @classmethod
    def _wrap(cls, base: TextEncoder, mode: str, config: FineTuneConfig, seed: int, *, copy_model: bool) -> Any:
        """A tuned encoder sharing ``base``'s tokenizer and settings, with its own model copy."""
        if isinstance(base, TunedTextEncoder):
            raise ValueError("the encoder is already fine-tuned; start from a frozen TextEncoder or a model name")
        obj = cls.__new__(cls)
        obj.__dict__.update(base.__dict__)
        obj.model = copy.deepcopy(base.model) if copy_model else base.model
        obj.cost = CostAccumulator()
        obj.last_cost = None
        obj._shape_flops = {}
        obj.mode = mode
        obj.tune_config = config
        obj.seed = seed
        obj.report = None
        obj._adapter_fp = None
        if config.max_length is not None:
            obj.max_length = obj._resolve_max_length(config.max_length, base.model_folder)
        return obj

    # ------------------------------------------------------------------ identity

    def tuned_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors fine-tuning changed: LoRA adapter weights or the top-k layers' tensors."""
        if self.mode == "lora":
            from peft import get_peft_model_state_dict

            return dict(get_peft_model_state_dict(self.model))
        if self.mode == "top-k":
            path, layers = transformer_layers(self.model)
            n = len(layers)
            return {
                f"{path}.{i}.{name}": t
                for i in range(n - self.tune_config.top_k, n)
                for name, t in layers[i].state_dict().items()
            }
        return {}

    def adapter_fingerprint(self) -> str:
        """SHA-256 of the tuned tensors and the settings that shape them ("" in frozen mode)."""
        if self.mode == "frozen":
            return ""
        if self._adapter_fp is None:
            settings: dict[str, Any] = {"mode": self.mode}
            if self.mode == "lora":
                c = self.tune_config
                settings.update(r=c.lora_r, alpha=c.lora_alpha, targets=sorted(c.lora_target_modules))
            else:
                settings["top_k"] = self.tune_config.top_k
            blob = json.dumps({"settings": settings, "tensors": _tensor_digest(self.tuned_tensors())}, sort_keys=True)
            self._adapter_fp = hashlib.sha256(blob.encode()).hexdigest()
        return self._adapter_fp

    def __repr__(self) -> str:
        return f"TunedTextEncoder({self.name}, dim={self.dim}, device={self.device})"

    # ------------------------------------------------------------------ adaptation

    def _setup(self, generator: torch.Generator) -> None:
        """Make the intended weights trainable (and create the LoRA adapters)."""
        self.model.requires_grad_(False)
        if self.mode == "top-k":
            _, layers = transformer_layers(self.model)
            check_int("top_k", self.tune_config.top_k, min_value=1, max_value=len(layers))
            for layer in layers[len(layers) - self.tune_config.top_k :]:
                layer.requires_grad_(True)
        elif self.mode == "lora":
            from peft import LoraConfig, get_peft_model
            from peft.tuners.tuners_utils import BaseTunerLayer

            c = self.tune_config
            lora = LoraConfig(
                r=c.lora_r,
                lora_alpha=c.lora_alpha,
                lora_dropout=c.lora_dropout,
                target_modules=list(c.lora_target_modules),
                bias="none",
            )
            # peft draws the initial A matrices from the global RNG: fork it, then redraw below.
            try:
                with torch.random.fork_rng(devices=[]), _quiet_peft():
                    self.model = get_peft_model(self.model, lora)
            except ValueError as exc:
                names = sorted(
                    {n.rsplit(".", 1)[-1] for n, m in self.model.named_modules() if isinstance(m, torch.nn.Linear)}
                )
                raise ValueError(
                    f"lora_target_modules {list(c.lora_target_modules)} not found in the model ({exc}); "
                    f"its linear modules are named {names}"
                ) from None
            with torch.no_grad():
                for module in self.model.modules():
                    if not isinstance(module, BaseTunerLayer):
                        continue
                    for adapter in module.lora_A.values():
                        w = adapter.weight
                        bound = 1.0 / math.sqrt(w.shape[1])  # kaiming_uniform(a=sqrt(5)), as peft and nn.Linear
                        w.copy_((torch.rand(w.shape, generator=generator) * 2 - 1).mul_(bound).to(w.device))
                    for adapter in module.lora_B.values():
                        adapter.weight.zero_()
            self.model.to(self.device)
        self._shape_flops = {}
        self._adapter_fp = None

    def _finish(self) -> None:
        self.model.eval()
        self.model.requires_grad_(False)
        self._shape_flops = {}
        self._adapter_fp = None

    def trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        """The encoder's parameters that require a gradient (empty outside a fit)."""
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    # ------------------------------------------------------------------ pooled forward

    def _pooled(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """Pooled (normalised) encoder vectors of token-id lists: float32[len(ids), dim] on the device."""
        x, m = _pad(ids, self._pad_id, self.device)
        hidden = self.model(input_ids=x, attention_mask=m).last_hidden_state
        pooled = POOLINGS[self.pooling](hidden, m)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1) if self.normalize else pooled

    # ------------------------------------------------------------------ scoring

    def _check_data(self, data: LoggedData) -> None:
        info = _data_info(data)
        mine = self.data_info
        if (info["n_users"], info["n_items"], info["item_text_sha256"]) != (
            mine["n_users"],
            mine["n_items"],
            mine["item_text_sha256"],
        ):
            raise ValueError(
                f"data {data.name!r} ({info['n_users']} users, {info['n_items']} items) is not the log this "
                f"encoder was tuned on ({mine['name']!r}: {mine['n_users']} users, {mine['n_items']} items, "
                "same item texts required)"
            )

    def predict(
        self, data: LoggedData, users: np.ndarray, items: np.ndarray, *, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Like probabilities of the two-tower model for (user, item) pairs.

        User histories are the liked rows of ``data`` before ``split_time`` (the training
        period), encoded with this encoder; a pair that is itself such a row (given in
        ``rows``) leaves its own item out of its history.

        Args:
            data: the log the encoder was tuned on (same users, items and item texts).
            users: int[n] user indices.
            items: int[n] item indices.
            rows: int[n] interaction rows the pairs come from, or ``None`` (pairs outside the log).

        Returns:
            float64[n] probabilities.

        Raises:
            ValueError: another log, or indices out of range.
        """
        self._check_data(data)
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if users.shape != items.shape or users.ndim != 1:
            raise ValueError(f"users and items must be int[n] of one length, got {users.shape} and {items.shape}")
        if len(users) and (users.min() < 0 or users.max() >= len(data.users)):
            raise ValueError(f"user indices must be in [0, {len(data.users)})")
        if len(items) and (items.min() < 0 or items.max() >= len(data.items)):
            raise ValueError(f"item indices must be in [0, {len(data.items)})")
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if rows.shape != users.shape:
                raise ValueError(f"rows must be int[{len(users)}], got shape {rows.shape}")
        period = np.flatnonzero(data.interactions.timestamp < self.split_time)
        history_rows = period[_binary_labels(data, self.tune_config.rating_threshold, period) == 1]
        hist_mask = np.zeros(len(data.interactions), dtype=bool)
        hist_mask[history_rows] = True
        in_hist = np.zeros(len(users), dtype=bool) if rows is None else hist_mask[rows]
        feats = _Features(self, data, history_rows, np.unique(users))
        feats.refresh_from_encode(self)
        probs = np.empty(len(users), dtype=np.float64)
        self.heads.eval()
        with torch.no_grad():
            for start in range(0, len(users), 4096):
                sl = slice(start, start + 4096)
                uniq, inv = np.unique(items[sl], return_inverse=True)
                vec = torch.from_numpy(self.encode([data.items.text[i] for i in uniq])).to(self.device)[
                    torch.from_numpy(inv).to(self.device)
                ]
                logits = feats.logits(self.heads, vec, users[sl], items[sl], in_hist[sl])
                probs[sl] = torch.sigmoid(logits).double().cpu().numpy()
        return probs

    def evaluate(self, data: LoggedData, rows: np.ndarray) -> dict[str, float | int]:
        """AUC and log loss of :meth:`predict` on interaction ``rows`` of ``data``.

        Returns:
            ``{"auc", "log_loss", "rows", "positives"}``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or not len(rows):
            raise ValueError("rows must be a non-empty int[n] array of interaction rows")
        y = _binary_labels(data, self.tune_config.rating_threshold)[rows]
        p = self.predict(data, data.interactions.user[rows], data.interactions.item[rows], rows=rows)
        return {"auc": roc_auc(y, p), "log_loss": log_loss(y, p), "rows": len(rows), "positives": int(y.sum())}

    # ------------------------------------------------------------------ save / load

    def save(self, folder: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the tuned weights, heads, rows and manifest to ``folder`` (see the module docstring).

        The folder is written next to its final place and renamed into it, so a reader never
        sees a half-written folder.

        Returns:
            The folder.

        Raises:
            ValueError: ``folder`` exists and ``overwrite`` is False.
        """
        from safetensors.torch import save_file

        target = Path(folder).expanduser()
        if target.exists() and not overwrite:
            raise ValueError(f"{target} exists; pass overwrite=True to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            if self.mode == "lora":
                with _quiet_peft():
                    self.model.save_pretrained(str(tmp / "adapter"), safe_serialization=True)
            elif self.mode == "top-k":
                tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.tuned_tensors().items()}
                save_file(tensors, str(tmp / "layers.safetensors"), metadata={"format": "pt"})
            heads = {k: v.detach().to("cpu").contiguous() for k, v in self.heads.state_dict().items()}
            save_file(heads, str(tmp / "heads.safetensors"), metadata={"format": "pt"})
            report = self.report
            if report is not None:
                arrays = {k: torch.from_numpy(np.ascontiguousarray(getattr(report, k), np.int64)) for k in _ROW_ARRAYS}
                save_file(arrays, str(tmp / "rows.safetensors"), metadata={"format": "pt"})
            files = {str(p.relative_to(tmp)): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            manifest = {
                "format": MANIFEST_FORMAT,
                "kind": MANIFEST_KIND,
                "base": {
                    "source": _portable_source(self.model_source),
                    "label": self.model_label,
                    "fingerprint": self.fingerprint,
                    "revision": self.revision,
                },
                "encoder": {
                    "pooling": self.pooling,
                    "max_length": self.max_length,
                    "normalize": self.normalize,
                    "dtype": self.dtype,
                },
                "mode": self.mode,
                "config": self.tune_config.to_dict(),
                "seed": self.seed,
                "adapter_fingerprint": self.adapter_fingerprint(),
                "split_time": self.split_time,
                "data": self.data_info,
                "heads": {
                    "dim": self.dim,
                    "projection_dim": self.tune_config.projection_dim,
                    "user_text": self.heads.text_proj is not None,
                },
                "files": files,
                "report": None if report is None else report.to_dict(),
            }
            atomic_write_bytes(tmp / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
            if target.exists():
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike[str],
        *,
        model: str | os.PathLike[str] | None = None,
        **encoder_kwargs: Any,
    ) -> TunedTextEncoder:
        """Load a folder written by :meth:`save`.

        Args:
            folder: the saved folder.
            model: the base model (folder or hub id); ``None`` uses the one named in the
                manifest. Its fingerprint must equal the manifest's.
            **encoder_kwargs: runtime settings of the encoder: ``batch_size``, ``device``,
                ``num_threads``, ``cache``, ``count_flops``, ``hf_cache_dir``,
                ``allow_download``. Settings that change vectors come from the manifest.

        Raises:
            ValueError: a missing or altered file, another base model, or a vector-changing
                setting in ``encoder_kwargs``.
        """
        from safetensors.torch import load_file

        root = Path(folder).expanduser()
        path = root / "manifest.json"
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable tuned-encoder manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
            raise ValueError(f"{path}: not a tuned-encoder manifest (kind {manifest.get('kind')!r})")
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"{path}: manifest format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}")
        fixed = set(encoder_kwargs) & {"pooling", "max_length", "normalize", "dtype", "revision"}
        if fixed:
            raise ValueError(f"{sorted(fixed)} are fixed by the saved encoder and cannot be passed to load")
        for name, digest in manifest["files"].items():
            file = root / name
            if not file.is_file():
                raise ValueError(f"{file}: listed in the manifest but missing")
            if file_sha256(file) != digest:
                raise ValueError(f"{file}: contents differ from the manifest's SHA-256 (altered or corrupt)")
        base_info = manifest["base"]
        source = base_info["source"] if model is None else os.fspath(model)
        base = TextEncoder(source, revision=base_info["revision"], **manifest["encoder"], **encoder_kwargs)
        if base.fingerprint != base_info["fingerprint"]:
            raise ValueError(
                f"base model {source!r} has fingerprint {base.fingerprint[:12]}, but {root} was tuned from "
                f"{base_info['label']!r} with fingerprint {base_info['fingerprint'][:12]}"
            )
        config = FineTuneConfig(
            **{**manifest["config"], "lora_target_modules": tuple(manifest["config"]["lora_target_modules"])}
        )
        enc: TunedTextEncoder = cls._wrap(base, manifest["mode"], config, int(manifest["seed"]), copy_model=False)
        if enc.mode == "lora":
            from peft import PeftModel

            with _quiet_peft():
                enc.model = PeftModel.from_pretrained(enc.model, str(root / "adapter"), is_trainable=False)
            enc.model.to(enc.device)
        elif enc.mode == "top-k":
            tensors = load_file(str(root / "layers.safetensors"))
            expected = set(enc.tuned_tensors())
            if set(tensors) != expected:
                raise ValueError(
                    f"{root / 'layers.safetensors'}: tensors {sorted(set(tensors) ^ expected)[:4]} do not fit the model"
                )
            enc.model.load_state_dict(tensors, strict=False)  # exactly the top-k tensors (checked above)
        enc._finish()
        data = manifest["data"]
        h = manifest["heads"]
        enc.heads = TwoTowerHeads(
            h["dim"],
            h["projection_dim"],
            data["n_users"],
            data["n_items"],
            user_text=h["user_text"],
            user_history=config.user_history,
            user_id=config.user_id,
            item_bias=config.item_bias,
            user_bias=config.user_bias,
        )
        enc.heads.load_state_dict(load_file(str(root / "heads.safetensors")))
        enc.heads.to(enc.device).eval().requires_grad_(False)
        enc.split_time = float(manifest["split_time"])
        enc.data_info = data
        if enc.adapter_fingerprint() != manifest["adapter_fingerprint"]:
            raise ValueError(f"{root}: the loaded weights do not reproduce the saved adapter fingerprint")
        saved = manifest.get("report")
        if saved is not None and (root / "rows.safetensors").is_file():
            arrays = {k: v.numpy() for k, v in load_file(str(root / "rows.safetensors")).items()}
            cost = {k: v for k, v in saved["cost"].items() if k in ComputeRecord.__dataclass_fields__}
            enc.report = FitReport(**{**saved, **arrays, "cost": ComputeRecord(**cost)})
        return enc


def _portable_source(source: str | None) -> str | None:
    """A model source for the manifest: local folders become absolute paths, hub ids stay."""
    if source is None:
        return None
    path = Path(source).expanduser()
    return str(path.resolve()) if path.is_dir() else source



def _data_info(data: LoggedData) -> dict[str, Any]:
    texts = hashlib.sha256("\x1f".join(data.items.text).encode("utf-8")).hexdigest()
    return {
        "name": data.name,
        "n_users": len(data.users),
        "n_items": len(data.items),
        "reward_kind": data.reward_kind,
        "rating_threshold": data.rating_threshold,
        "item_text_sha256": texts,
    }


def _binary_labels(data: LoggedData, threshold: float | None, rows: np.ndarray | None = None) -> np.ndarray:
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


# --------------------------------------------------------------------------- user features


class _Features:
    """Stale encoder features of a fit: item vectors, users' liked-history sums, profile vectors.

    ``items`` / ``users`` are the indices whose texts are encoded; ``item_pos[i]`` is item
    ``i``'s row in ``E`` (-1 when not encoded).
    """

    def __init__(self, enc: TunedTextEncoder, data: LoggedData, history_rows: np.ndarray, users: np.ndarray) -> None:
        inter = data.interactions
        self.history_users = inter.user[history_rows]
        self.history_items = inter.item[history_rows]
        self.use_history = enc.heads.history_proj is not None
        self.use_text = enc.heads.text_proj is not None
        if self.use_text and data.users.text is None:
            raise ValueError(f"the encoder was tuned with user profile texts, but data {data.name!r} has none")
        self.data = data
        self.users = np.unique(users) if self.use_text else np.zeros(0, dtype=np.int64)
        self.hist_items = np.unique(self.history_items) if self.use_history else np.zeros(0, dtype=np.int64)
        self.device = enc.device
        n_users = len(data.users)
        self.S = torch.zeros((n_users, enc.dim), dtype=torch.float32, device=self.device)
        self.count = torch.zeros(n_users, dtype=torch.float32, device=self.device)
        self.P = torch.zeros((n_users, enc.dim), dtype=torch.float32, device=self.device)
        self.item_pos = np.full(len(data.items), -1, dtype=np.int64)
        self.E = torch.zeros((0, enc.dim), dtype=torch.float32, device=self.device)

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

    def refresh_from_encode(self, enc: TunedTextEncoder) -> None:
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


# --------------------------------------------------------------------------- fitting


@dataclass
class _Plan:
    """Rows of a fit, all before the split time.

    ``probe_rows`` (heads-only phase; empty without it), ``fit_rows`` (the mode's own
    training), ``trained_rows`` (their union), validation and history rows.
    """

    probe_rows: np.ndarray
    fit_rows: np.ndarray
    trained_rows: np.ndarray
    val_rows: np.ndarray
    history_rows: np.ndarray
    labels: np.ndarray
    fit_items: np.ndarray
    max_ts: float


def _plan(data: LoggedData, split_time: float, cfg: FineTuneConfig, rng: np.random.Generator) -> _Plan:
    """Choose the fit, validation and history rows, all strictly before ``split_time``."""
    inter = data.interactions
    if len(inter) == 0:
        raise ValueError(f"data {data.name!r} has no interactions")
    ts = inter.timestamp
    period = np.flatnonzero(ts < split_time)
    if len(period) == 0:
        raise ValueError(
            f"empty training period: no interaction of {data.name!r} before split_time={split_time} "
            f"(the log starts at {float(ts.min())})"
        )
    # Time order (stable: equal timestamps keep log order); only training-period rows are read.
    period = period[np.argsort(ts[period], kind="stable")]
    labels = np.full(len(inter), np.nan)  # rows after the split stay NaN: never read
    labels[period] = _binary_labels(data, cfg.rating_threshold, period)
    bad = period[~np.isin(labels[period], (0.0, 1.0))]
    if len(bad):
        raise ValueError(f"rewards must be 0/1 for fine-tuning; row {int(bad[0])} has reward {inter.reward[bad[0]]!r}")
    n_val = math.ceil(cfg.validation_fraction * len(period))
    if cfg.max_validation_rows is not None:
        n_val = min(n_val, cfg.max_validation_rows)
    if n_val >= len(period):
        raise ValueError(f"the training period has {len(period)} rows: too few to hold out {n_val} for validation")
    fit_period = period[: len(period) - n_val]
    val_rows = period[len(period) - n_val :]
    fit_rows = fit_period
    if cfg.max_train_rows is not None and cfg.max_train_rows < len(fit_period):
        fit_rows = fit_period[np.sort(rng.choice(len(fit_period), size=cfg.max_train_rows, replace=False))]
    if cfg.negatives == 0 and len(np.unique(labels[fit_rows])) < 2:
        raise ValueError(
            f"the {len(fit_rows)} fit rows have only {'likes' if labels[fit_rows[0]] == 1 else 'non-likes'}; "
            "the objective needs both (or negatives > 0)"
        )
    history_rows = fit_period[labels[fit_period] == 1] if cfg.user_history else fit_period[:0]
    probe_rows = fit_period if cfg.probe_epochs else fit_period[:0]
    trained = np.union1d(probe_rows, fit_rows)
    read = np.concatenate([trained, val_rows, history_rows])
    return _Plan(
        probe_rows=probe_rows,
        fit_rows=fit_rows,
        trained_rows=trained,
        val_rows=val_rows,
        history_rows=np.sort(history_rows),
        labels=labels,
        fit_items=np.unique(inter.item[trained]),
        max_ts=float(ts[read].max()),
    )


def fine_tune(
    encoder: TextEncoder | str | os.PathLike[str] | None,
    data: LoggedData,
    *,
    mode: str,
    split_time: float,
    config: FineTuneConfig | None = None,
    seed: int = 0,
    **overrides: Any,
) -> tuple[TunedTextEncoder, FitReport]:
    """Fine-tune a text encoder on the training period (``timestamp < split_time``) of a log.

    Args:
        encoder: a frozen :class:`TextEncoder` (not modified: its model is copied), or a
            model folder / hub id / ``None`` (all-MiniLM-L6-v2) to build one with default
            settings. Its dtype must be float32.
        data: the log; item texts are the item tower's input, rewards the labels.
        mode: a key of :data:`MODES`.
        split_time: end of the training period (Unix seconds); rows at or after it are
            never read.
        config: hyper-parameters (default ``FineTuneConfig()``).
        seed: seed of every random draw of the fit.
        **overrides: :class:`FineTuneConfig` fields replacing those of ``config``.

    Returns:
        ``(tuned encoder, report)``: the encoder encodes with the tuned weights and scores
        pairs with :meth:`TunedTextEncoder.predict`; the report says which rows and texts
        the fit read, how validation went and what it cost.

    Raises:
        ValueError: unknown mode or config field, a setting out of range (``top_k`` above
            the layer count, unknown LoRA target modules), an empty training period, rewards
            that are not 0/1 (or a rating log without threshold), or a non-float32 encoder.
    """
    mode = check_choice("mode", mode, MODES)
    seed = check_seed("seed", seed)
    if config is None:
        config = FineTuneConfig()
    elif not isinstance(config, FineTuneConfig):
        raise ValueError(f"config must be a FineTuneConfig, got {type(config).__name__}")
    unknown = set(overrides) - {f.name for f in fields(FineTuneConfig)}
    if unknown:
        raise ValueError(f"unknown fine-tuning setting(s) {sorted(unknown)}; see FineTuneConfig")
    cfg = replace(config, **overrides) if overrides else config
    if not isinstance(data, LoggedData):
        raise ValueError(f"data must be a LoggedData, got {type(data).__name__}")
    split_time = check_float("split_time", split_time)
    if isinstance(encoder, TunedTextEncoder):
        raise ValueError("the encoder is already fine-tuned; start from a frozen TextEncoder or a model name")
    base = encoder if isinstance(encoder, TextEncoder) else TextEncoder(encoder)
    if base.dtype != "float32":
        raise ValueError(f"fine-tuning needs a float32 encoder, got dtype {base.dtype!r}")
    rng = np.random.default_rng(seed)
    plan = _plan(data, split_time, cfg, rng)
    # Separate streams, so that every mode starts from the same heads (LoRA's B is zero, so
    # the untrained model is the same in every mode) and the row order is the same too.
    heads_gen = torch_generator(int(rng.integers(2**63 - 1)))
    adapter_gen = torch_generator(int(rng.integers(2**63 - 1)))
    dropout_seed = int(rng.integers(2**63 - 1))
    enc: TunedTextEncoder = TunedTextEncoder._wrap(base, mode, cfg, seed, copy_model=True)
    enc.split_time = split_time
    enc.data_info = _data_info(data)
    with torch_threads(enc.num_threads), ComputeMeter("fine-tune", enc.device) as meter:
        enc._setup(adapter_gen)
        heads = TwoTowerHeads(
            enc.dim,
            cfg.projection_dim,
            len(data.users),
            len(data.items),
            user_text=cfg.user_text and data.users.text is not None,
            user_history=cfg.user_history,
            user_id=cfg.user_id,
            item_bias=cfg.item_bias,
            user_bias=cfg.user_bias,
            generator=heads_gen,
        )
        inter = data.interactions
        heads.user_known[torch.from_numpy(np.unique(inter.user[plan.trained_rows]))] = True
        heads.item_known[torch.from_numpy(plan.fit_items)] = True
        enc.heads = heads.to(enc.device)
        report = _Trainer(enc, data, plan, cfg, rng, meter).run(dropout_seed)
    enc._finish()
    enc.heads.eval().requires_grad_(False)
    assert meter.record is not None
    report.cost = meter.record
    report.adapter_fingerprint = enc.adapter_fingerprint()
    enc.report = report
    return enc, report


class _Trainer:
    """One fit: the loop, validation, early stopping and bookkeeping."""

    def __init__(
        self,
        enc: TunedTextEncoder,
        data: LoggedData,
        plan: _Plan,
        cfg: FineTuneConfig,
        rng: np.random.Generator,
        meter: ComputeMeter,
    ) -> None:
        self.enc, self.data, self.plan, self.cfg, self.rng, self.meter = enc, data, plan, cfg, rng, meter
        self.trainable = enc.mode != "frozen"
        inter = data.interactions
        self.flops = {"train_forward": 0, "train_backward": 0, "no_grad": 0}
        self.memo: dict[tuple[Any, ...], int] = {}
        # Texts the fit reads: items of fit and validation rows, history items, negatives' pool.
        items = [plan.fit_items, inter.item[plan.val_rows], inter.item[plan.history_rows]]
        self.items = np.unique(np.concatenate(items))
        # Fit rows' items (negatives are drawn from them too); none when the encoder is frozen.
        self.items_trained = np.unique(inter.item[plan.fit_rows]) if self.trainable else plan.fit_items[:0]
        users = np.unique(np.concatenate([inter.user[plan.trained_rows], inter.user[plan.val_rows]]))
        self.features = _Features(enc, data, plan.history_rows, users)
        self.ids: dict[int, list[int]] = dict(
            zip(self.items.tolist(), enc.tokenize([data.items.text[i] for i in self.items]), strict=True)
        )
        self.profile_ids: list[list[int]] = []
        if self.features.use_text:
            assert data.users.text is not None
            self.profile_ids = enc.tokenize([data.users.text[u] for u in self.features.users])
        meter.count(items=len(self.items) + len(self.profile_ids))
        self.in_history = np.zeros(len(inter), dtype=bool)
        self.in_history[plan.history_rows] = True
        # (user, item) keys of the likes in the fit period: sampled negatives skip them.
        self.n_items = len(data.items)
        fit_period_likes = plan.fit_rows[plan.labels[plan.fit_rows] == 1]
        self.liked_keys = np.unique(
            np.concatenate(
                [inter.user[r] * self.n_items + inter.item[r] for r in (plan.history_rows, fit_period_likes)]
            )
        )
        params = [p for _, p in enc.trainable_parameters()]
        groups = [{"params": list(enc.heads.parameters()), "lr": cfg.head_lr}]
        if params:
            groups.append({"params": params, "lr": cfg.lr})
        self.opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        self.params = [p for g in groups for p in g["params"]]

    # ------------------------------------------------------------------ pieces

    def counted(self, kind: str, key: tuple[int, ...], fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, adding its FLOPs to ``self.flops[kind]``: counted on the first call per (kind, key).

        ``key`` holds every shape the FLOPs depend on, so later calls with the same key reuse
        the count (the ``"per-shape"`` method); nothing is counted when the encoder's
        ``count_flops`` is off.
        """
        if not self.enc.count_flops:
            return fn(*args)
        known = self.memo.get((kind, *key))
        if known is not None:
            self.flops[kind] += known
            return fn(*args)
        out, n = count_flops(fn, *args)
        self.memo[(kind, *key)] = n
        self.flops[kind] += n
        return out

    def embed(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """Pooled vectors float32[n, dim] of token-id lists: eval mode, no gradient, length-sorted batches."""
        enc = self.enc
        out = torch.empty((len(ids), enc.dim), dtype=torch.float32, device=enc.device)
        if not ids:
            return out
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        was_training = enc.model.training
        enc.model.eval()
        with torch.no_grad():
            for start in range(0, len(ids), enc.batch_size):
                rows = order[start : start + enc.batch_size]
                key = (len(rows), int(lengths[rows].max()))
                vec = self.counted("no_grad", key, enc._pooled, [ids[r] for r in rows])
                out[torch.from_numpy(rows).to(enc.device)] = vec
                self.meter.count(forward_calls=1, tokens=int(lengths[rows].sum()), padded_tokens=key[0] * key[1])
        enc.model.train(was_training)
        return out

    def refresh(self) -> None:
        """Recompute the stale item and profile tables with the current encoder (eval, no grad)."""
        vectors = self.embed([self.ids[i] for i in self.items.tolist()])
        profile = self.embed(self.profile_ids) if self.features.use_text else None
        heads = self.enc.heads
        heads.item_center.copy_(vectors.mean(dim=0))
        if profile is not None and len(profile):
            heads.profile_center.copy_(profile.mean(dim=0))
        self.features.set_tables(self.items, vectors, profile)

    def batch_logits(self, users: np.ndarray, items: np.ndarray, in_hist: np.ndarray, *, grad: bool) -> torch.Tensor:
        """Logits of a batch; item vectors from the encoder with gradients (trained modes) or the table."""
        enc = self.enc
        if grad and self.trainable:
            uniq, inv = np.unique(items, return_inverse=True)
            ids = [self.ids[i] for i in uniq.tolist()]
            width = max(len(x) for x in ids)
            self.meter.count(tokens=sum(len(x) for x in ids), padded_tokens=len(ids) * width, forward_calls=1)
            item_vectors = enc._pooled(ids)[torch.from_numpy(inv).to(enc.device)]
        else:
            item_vectors = self.features.E[torch.from_numpy(self.features.item_pos[items]).to(enc.device)]
        return self.features.logits(enc.heads, item_vectors, users, items, in_hist)

    def item_batch_shape(self, items: np.ndarray) -> tuple[int, int]:
        """(distinct items, longest token count) of a training batch; (0, 0) when the encoder is frozen."""
        if not self.trainable:
            return (0, 0)
        uniq = np.unique(items)
        return len(uniq), max(len(self.ids[i]) for i in uniq.tolist())

    def loss(
        self, users: np.ndarray, items: np.ndarray, in_hist: np.ndarray, target: torch.Tensor, tune: bool
    ) -> torch.Tensor:
        """Mean binary cross-entropy of a training batch (encoder forward with gradients when ``tune``)."""
        logits = self.batch_logits(users, items, in_hist, grad=tune)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)

    def validate(self) -> tuple[float | None, float | None]:
        """Validation log loss and AUC with the current weights (fresh item vectors, stale history)."""
        rows = self.plan.val_rows
        if not len(rows):
            return None, None
        inter = self.data.interactions
        if self.trainable:  # item vectors of the current weights
            uniq = np.unique(inter.item[rows])
            fresh = self.embed([self.ids[i] for i in uniq.tolist()])
            saved_e, saved_pos = self.features.E, self.features.item_pos.copy()
            table = saved_e.clone()
            table[torch.from_numpy(saved_pos[uniq]).to(self.enc.device)] = fresh
            self.features.E = table
        self.enc.heads.eval()
        probs = []
        with torch.no_grad():
            for start in range(0, len(rows), 4096):
                r = rows[start : start + 4096]
                args = (inter.user[r], inter.item[r], self.in_history[r])
                logits = self.counted("no_grad", (len(r),), partial(self.batch_logits, grad=False), *args)
                probs.append(torch.sigmoid(logits).double().cpu().numpy())
        if self.trainable:
            self.features.E = saved_e
        p = np.concatenate(probs)
        y = self.plan.labels[rows]
        return log_loss(y, p), roc_auc(y, p)

    def state(self) -> list[torch.Tensor]:
        """Everything the best state holds: trained parameters and the heads' centres."""
        return [*self.params, self.enc.heads.item_center, self.enc.heads.profile_center]

    def snapshot(self) -> list[torch.Tensor]:
        return [t.detach().clone() for t in self.state()]

    def restore(self, saved: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for t, s in zip(self.state(), saved, strict=True):
                t.copy_(s)

    # ------------------------------------------------------------------ the loop

    def batch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(users, items, labels, in_history) of fit rows plus their sampled negatives."""
        cfg, plan, inter = self.cfg, self.plan, self.data.interactions
        users, items = inter.user[rows], inter.item[rows]
        labels, in_hist = plan.labels[rows], self.in_history[rows]
        if cfg.negatives:
            neg = plan.fit_items[self.rng.integers(len(plan.fit_items), size=len(rows) * cfg.negatives)]
            neg_users = np.repeat(users, cfg.negatives)
            keep = ~np.isin(neg_users * self.n_items + neg, self.liked_keys)
            users = np.concatenate([users, neg_users[keep]])
            items = np.concatenate([items, neg[keep]])
            labels = np.concatenate([labels, np.zeros(int(keep.sum()))])
            in_hist = np.concatenate([in_hist, np.zeros(int(keep.sum()), dtype=bool)])
        return users, items, labels, in_hist

    def step(self, rows: np.ndarray, *, tune: bool) -> float:
        """One AdamW step on ``rows``; the encoder gets gradients when ``tune`` (else heads only)."""
        enc, cfg = self.enc, self.cfg
        users, items, labels, in_hist = self.batch(rows)
        enc.model.train(tune)
        enc.heads.train()
        self.opt.zero_grad(set_to_none=True)
        target = torch.from_numpy(labels.astype(np.float32)).to(enc.device)
        # The step's FLOPs depend on the item batch's shape (when tuning) and the row count.
        key = (len(users), *(self.item_batch_shape(items) if tune else (0, 0)))
        loss = self.counted("train_forward", key, self.loss, users, items, in_hist, target, tune)
        self.counted("train_backward", key, loss.backward)
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        self.opt.step()
        return float(loss.detach())

    def run(self, dropout_seed: int) -> FitReport:
        cfg, plan, enc, rng = self.cfg, self.plan, self.enc, self.rng
        self.refresh()
        val_loss, val_auc = self.validate()
        curve = [
            {"step": 0, "epoch": 0, "phase": "start", "train_loss": None, "val_loss": val_loss, "val_auc": val_auc}
        ]
        initial = {"val_loss": val_loss, "val_auc": val_auc}
        best = dict(initial)
        best_loss = math.inf if val_loss is None else val_loss
        best_state, best_step, stopped, step, epochs = self.snapshot(), 0, False, 0, 0
        # Phase 1 (probe_epochs): heads only, on every fit-period row. Phase 2: the mode's
        # training (heads, plus the encoder when it is tuned) on the fit rows.
        phases = [("probe", cfg.probe_epochs, plan.probe_rows, cfg.probe_batch_size, False)]
        phases.append(("tune", cfg.epochs, plan.fit_rows, cfg.batch_size, self.trainable))
        with seeded_torch_rng(dropout_seed, enc.device):
            for phase, n_epochs, fit, batch_size, tune in phases:
                head_lr = cfg.probe_lr if phase == "probe" and cfg.probe_lr is not None else cfg.head_lr
                self.opt.param_groups[0]["lr"] = head_lr
                bad = 0
                losses: list[float] = []
                every = cfg.eval_every if phase == "tune" else None
                steps_per_epoch = math.ceil(len(fit) / batch_size)
                for epoch in range(1, n_epochs + 1):
                    epochs += 1
                    if epoch > 1 and tune:
                        self.refresh()
                    order = fit[rng.permutation(len(fit))]
                    for b in range(steps_per_epoch):
                        losses.append(self.step(order[b * batch_size : (b + 1) * batch_size], tune=tune))
                        step += 1
                        last = b == steps_per_epoch - 1
                        final = last and epoch == n_epochs
                        if not ((every is not None and step % every == 0) or (every is None and last) or final):
                            continue
                        val_loss, val_auc = self.validate()
                        point = {"step": step, "epoch": epoch, "phase": phase, "train_loss": float(np.mean(losses))}
                        curve.append({**point, "val_loss": val_loss, "val_auc": val_auc})
                        losses = []
                        if val_loss is None or val_loss < best_loss:
                            best_loss = math.inf if val_loss is None else val_loss
                            best_state, best_step, bad = self.snapshot(), step, 0
                            best = {"val_loss": val_loss, "val_auc": val_auc}
                        else:
                            bad += 1
                        if bad >= cfg.patience and not final:
                            stopped = phase == "tune"
                            break
                    else:
                        continue
                    break  # patience ran out: end this phase
        self.restore(best_state)
        method = "per-shape" if enc.count_flops else "none"
        self.meter.add_flops(sum(self.flops.values()), method)
        n_enc = sum(p.numel() for p in enc.model.parameters())
        return FitReport(
            mode=enc.mode,
            seed=enc.seed,
            config=cfg.to_dict(),
            split_time=enc.split_time,
            data={k: v for k, v in enc.data_info.items() if k != "item_text_sha256"}
            | {"rows": len(self.data.interactions)},
            train_rows=plan.trained_rows,
            validation_rows=np.sort(plan.val_rows),
            history_rows=plan.history_rows,
            max_timestamp_seen=plan.max_ts,
            items_encoded=self.items,
            items_trained=self.items_trained,
            users_encoded=self.features.users,
            steps=step,
            epochs=epochs,
            best_step=best_step,
            stopped_early=stopped,
            curve=curve,
            initial=initial,
            best=best,
            parameters={
                "encoder_total": int(n_enc),
                "encoder_trained": int(sum(p.numel() for _, p in enc.trainable_parameters())),
                "heads": int(sum(p.numel() for p in enc.heads.parameters())),
            },
            flops={**self.flops, "method": method, "distinct_shapes": len(self.memo)},
        )


__all__ = [
    "MODES",
    "FineTuneConfig",
    "FitReport",
    "TunedTextEncoder",
    "TwoTowerHeads",
    "fine_tune",
    "log_loss",
    "roc_auc",
    "transformer_layers",
]
