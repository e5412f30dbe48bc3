"""The fine-tuned encoder (:class:`TunedTextEncoder`): identity, scoring, saving and loading.

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
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recbandit._io import atomic_write_bytes, file_sha256
from recbandit._stats import log_loss, roc_auc
from recbandit._validation import check_choice, check_int
from recbandit.data.logged import LoggedData
from recbandit.encoders.accounting import ComputeRecord, CostAccumulator
from recbandit.encoders.finetune.config import MODES, FineTuneConfig
from recbandit.encoders.finetune.features import UserFeatures, binary_labels, data_summary
from recbandit.encoders.finetune.heads import TwoTowerHeads
from recbandit.encoders.finetune.modeling import add_lora, pad_ids, quiet_peft, tensor_digest, transformer_layers
from recbandit.encoders.finetune.report import ROW_ARRAYS, FitReport
from recbandit.encoders.text import POOLINGS, TextEncoder

MANIFEST_FORMAT = 1
MANIFEST_KIND = "recbandit-tuned-text-encoder"


class TunedTextEncoder(TextEncoder):
    """A :class:`TextEncoder` whose transformer was fine-tuned, with its two-tower heads.

    Built by :func:`~recbandit.encoders.finetune.fine_tune` or :meth:`load`. ``encode``
    works as for the base encoder (same pooling, normalisation, batching, cache and cost
    accounting) with the tuned weights; ``dim`` is the transformer's hidden size.
    :meth:`predict` scores (user, item) pairs with the two-tower model the encoder was
    tuned in.

    Args:
        base: the frozen encoder it starts from: its tokenizer, settings and cache are
            shared, its model is shared or copied (``copy_model``); it is not modified.
        mode: a key of :data:`~recbandit.encoders.finetune.MODES`.
        config: the fit's hyper-parameters (``config.max_length``, when set, replaces the
            base's ``max_length``).
        seed: the fit's seed.
        heads: the two-tower heads.
        split_time: end of the training period of the fit.
        data_info: name, sizes and item-text digest of the log it is fitted on.
        copy_model: give the tuned encoder its own deep copy of the base's model (for a
            fit, which changes the weights); False shares it (for :meth:`load`, whose base
            is built for the purpose).

    Attributes:
        mode: ``"frozen"``, ``"top-k"`` or ``"lora"``.
        tune_config: the :class:`FineTuneConfig` of the fit (``config`` is the model's
            transformers config, as for every TextEncoder).
        seed: the fit's seed.
        heads: the :class:`TwoTowerHeads`.
        split_time: end of the training period of the fit.
        data_info: name, sizes and item-text digest of the log it was fitted on.
        report: the :class:`FitReport` (after :func:`fine_tune` or :meth:`load`).

    Raises:
        ValueError: ``base`` is already a tuned encoder, or an unknown mode.
    """

    tune_config: FineTuneConfig
    seed: int
    heads: TwoTowerHeads
    split_time: float
    data_info: dict[str, Any]
    report: FitReport | None
    _adapter_fp: str | None

    def __init__(
        self,
        base: TextEncoder,
        *,
        mode: str,
        config: FineTuneConfig,
        seed: int,
        heads: TwoTowerHeads,
        split_time: float,
        data_info: dict[str, Any],
        copy_model: bool = False,
    ) -> None:
        if isinstance(base, TunedTextEncoder):
            raise ValueError("the encoder is already fine-tuned; start from a frozen TextEncoder or a model name")
        # Not TextEncoder.__init__, which would load the model again: the base's state is
        # taken over attribute by attribute (a test checks that none is missed).
        self.pooling = base.pooling
        self.batch_size = base.batch_size
        self.normalize = base.normalize
        self.dtype = base.dtype
        self.num_threads = base.num_threads
        self.sort_by_length = base.sort_by_length
        self.count_flops = base.count_flops
        self.progress = base.progress
        self.device = base.device
        self.allow_download = base.allow_download
        self.revision = base.revision
        self.config = base.config
        self.tokenizer = base.tokenizer
        self.model = copy.deepcopy(base.model) if copy_model else base.model
        self.model_source = base.model_source
        self.model_folder = base.model_folder
        self.model_label = base.model_label
        self.fingerprint = base.fingerprint
        self.dim = base.dim
        self.max_length = base.max_length
        self._pad_id = base._pad_id
        self.cache = base.cache
        # Its own accounting, starting empty.
        self.cost = CostAccumulator()
        self.last_cost = None
        self._shape_flops = {}
        self.mode = check_choice("mode", mode, MODES)
        self.tune_config = config
        self.seed = seed
        self.heads = heads
        self.split_time = split_time
        self.data_info = data_info
        self.report = None
        self._adapter_fp = None
        if config.max_length is not None:
            self.max_length = self._resolve_max_length(config.max_length, base.model_folder)

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
            blob = json.dumps({"settings": settings, "tensors": tensor_digest(self.tuned_tensors())}, sort_keys=True)
            self._adapter_fp = hashlib.sha256(blob.encode()).hexdigest()
        return self._adapter_fp

    def __repr__(self) -> str:
        return f"TunedTextEncoder({self.name}, dim={self.dim}, device={self.device})"

    # ------------------------------------------------------------------ adaptation

    def _setup(self, generator: torch.Generator) -> None:
        """Make the intended weights trainable (and create the LoRA adapters, A drawn from ``generator``)."""
        self.model.requires_grad_(False)
        if self.mode == "top-k":
            _, layers = transformer_layers(self.model)
            check_int("top_k", self.tune_config.top_k, min_value=1, max_value=len(layers))
            for layer in layers[len(layers) - self.tune_config.top_k :]:
                layer.requires_grad_(True)
        elif self.mode == "lora":
            self.model = add_lora(self.model, self.tune_config, generator)
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
        x, m = pad_ids(ids, self._pad_id, self.device)
        hidden = self.model(input_ids=x, attention_mask=m).last_hidden_state
        pooled = POOLINGS[self.pooling](hidden, m)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1) if self.normalize else pooled

    # ------------------------------------------------------------------ scoring

    def _check_data(self, data: LoggedData) -> None:
        info = data_summary(data)
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
        history_rows = period[binary_labels(data, self.tune_config.rating_threshold, period) == 1]
        hist_mask = np.zeros(len(data.interactions), dtype=bool)
        hist_mask[history_rows] = True
        in_hist = np.zeros(len(users), dtype=bool) if rows is None else hist_mask[rows]
        feats = UserFeatures(self, self.heads, data, history_rows, np.unique(users))
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
        y = binary_labels(data, self.tune_config.rating_threshold)[rows]
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
                with quiet_peft():
                    self.model.save_pretrained(str(tmp / "adapter"), safe_serialization=True)
            elif self.mode == "top-k":
                tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.tuned_tensors().items()}
                save_file(tensors, str(tmp / "layers.safetensors"), metadata={"format": "pt"})
            heads = {k: v.detach().to("cpu").contiguous() for k, v in self.heads.state_dict().items()}
            save_file(heads, str(tmp / "heads.safetensors"), metadata={"format": "pt"})
            report = self.report
            if report is not None:
                arrays = {k: torch.from_numpy(np.ascontiguousarray(getattr(report, k), np.int64)) for k in ROW_ARRAYS}
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
        data = manifest["data"]
        h = manifest["heads"]
        heads = TwoTowerHeads(
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
        heads.load_state_dict(load_file(str(root / "heads.safetensors")))
        enc = cls(
            base,
            mode=manifest["mode"],
            config=config,
            seed=int(manifest["seed"]),
            heads=heads.to(base.device).eval().requires_grad_(False),
            split_time=float(manifest["split_time"]),
            data_info=data,
        )
        if enc.mode == "lora":
            from peft import PeftModel

            with quiet_peft():
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
