"""Encoders by name: spec parsing, canonical forms, unknown names, the default cache, identities."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from test_encoders_text import TEXTS, make_tiny_model

from recbandit.encoders import EmbeddingCache, HashingBowEncoder, TextEncoder
from recbandit.encoders.registry import (
    ENCODERS,
    EncoderKind,
    EncoderSpec,
    canonical_spec,
    make_encoder,
    parse_spec,
    register_encoder,
    spec_identity,
)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("registry") / "tiny-bert")


@pytest.mark.parametrize(
    ("spec", "kind", "model", "options", "canonical"),
    [
        ("bow", "bow", None, {"dim": 256, "seed": 0}, "bow:256"),
        ("bow:512", "bow", None, {"dim": 512, "seed": 0}, "bow:512"),
        (" bow:dim=64,seed=3 ", "bow", None, {"dim": 64, "seed": 3}, "bow:64,seed=3"),
        ("bow:64,seed=0", "bow", None, {"dim": 64, "seed": 0}, "bow:64"),
        ("minilm", "minilm", None, {}, "minilm"),
        (
            "minilm:max_length=64,dtype=bfloat16,normalize=false",
            "minilm",
            None,
            {"dtype": "bfloat16", "max_length": 64, "normalize": False},
            "minilm:dtype=bfloat16,max_length=64,normalize=false",
        ),
        ("sentence-transformers/all-mpnet-base-v2", "hf", "sentence-transformers/all-mpnet-base-v2", {}, None),
        ("hf:bert-base-uncased:pooling=cls", "hf", "bert-base-uncased", {"pooling": "cls"}, None),
    ],
)
def test_spec_parsing_and_canonical_form(
    spec: str, kind: str, model: str | None, options: dict, canonical: str | None
) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.model, dict(parsed.options)) == (kind, model, options)
    text = canonical_spec(spec)
    if canonical is not None:
        assert text == canonical
    assert parse_spec(text) == parsed  # the canonical string parses back to the same spec
    assert canonical_spec(text) == text


def test_equivalent_specs_share_one_canonical_form() -> None:
    assert canonical_spec("bow") == canonical_spec("bow:256") == canonical_spec("bow:dim=256,seed=0")
    a, b = "minilm:max_length=64,dtype=bfloat16", "minilm:dtype=bfloat16,max_length=64"
    assert canonical_spec(a) == canonical_spec(b)
    assert canonical_spec("bow:128") != canonical_spec("bow:256")


BAD_SPECS = [
    ("glove", r"unknown encoder 'glove'; known encoders: bow\[:DIM\].*minilm.*hf:ORG/NAME.*folder:PATH"),
    ("", r"encoder spec must be a non-empty string, got ''; known: bow"),
    ("bow:dim=abc", r"encoder 'bow:dim=abc': option dim must be an integer, got 'abc'"),
    ("bow:width=3", r"unknown option 'width' for 'bow'; allowed: dim, seed"),
    ("minilm:pool=cls", r"unknown option 'pool' for 'minilm'; allowed: pooling, max_length"),
    ("minilm:normalize=maybe", r"option normalize must be true or false, got 'maybe'"),
    ("minilm:cls", r"option 'cls' is not KEY=VALUE"),
    ("hf:", r"encoder 'hf:': hf: needs a model"),
    ("./no/such/folder", r"encoder './no/such/folder': no such model folder; known encoders: bow"),
    ("folder:/no/such/folder", r"model folder '/no/such/folder' does not exist"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_bad_specs_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)


def test_non_string_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="encoder spec must be a non-empty string, got 3"):
        parse_spec(3)  # type: ignore[arg-type]


def test_make_encoder_bow() -> None:
    enc = make_encoder("bow:32,seed=2")
    assert isinstance(enc, HashingBowEncoder) and (enc.dim, enc.seed) == (32, 2)
    ref = HashingBowEncoder(dim=32, seed=2)
    np.testing.assert_array_equal(enc.encode(TEXTS), ref.encode(TEXTS))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['pooling'\]"):
        make_encoder("bow", pooling="cls")


def test_folder_spec_builds_a_cached_text_encoder_in_recbandit_cache(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECBANDIT_CACHE", str(tmp_path / "cache"))
    spec = parse_spec(str(tiny_folder))
    assert spec == EncoderSpec("folder", str(tiny_folder.resolve()))
    assert canonical_spec(f"folder:{tiny_folder}") == str(tiny_folder.resolve())
    enc = make_encoder(str(tiny_folder), batch_size=3)
    assert isinstance(enc, TextEncoder) and enc.batch_size == 3
    assert isinstance(enc.cache, EmbeddingCache) and enc.cache.root == tmp_path / "cache"
    first = enc.encode(TEXTS)
    again = make_encoder(str(tiny_folder)).encode(TEXTS)  # a new encoder reads the cache
    np.testing.assert_array_equal(first, again)
    assert any(p.suffix == ".npy" for p in (tmp_path / "cache").rglob("*"))
    assert make_encoder(str(tiny_folder), cache=False).cache is None
    # Options after the folder.
    opt = parse_spec(f"folder:{tiny_folder}:pooling=cls,max_length=16")
    assert dict(opt.options) == {"pooling": "cls", "max_length": 16}
    assert parse_spec(str(opt)) == opt
    assert make_encoder(opt, cache=False).pooling == "cls"


def test_identity_follows_the_folder_files(tiny_folder: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_folder, copy)
    a, b = spec_identity(str(tiny_folder)), spec_identity(str(copy))
    assert a["weights"] == b["weights"] and re.fullmatch(r"[0-9a-f]{16}", a["weights"])
    assert a["spec"] != b["spec"]
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("}", ', "x": 1}', 1))
    assert spec_identity(str(copy))["weights"] != a["weights"]
    assert spec_identity("bow:64") == {"spec": "bow:64", "weights": None}


def test_tuned_spec_reads_a_tuned_folder_and_refuses_others(tiny_folder: Path, tmp_path: Path) -> None:
    assert parse_spec(f"tuned:{tiny_folder}").kind == "tuned"
    with pytest.raises(ValueError, match="not a readable tuned-encoder manifest"):
        make_encoder(f"tuned:{tiny_folder}", cache=False)
    fake = tmp_path / "fake-tuned"
    fake.mkdir()
    (fake / "manifest.json").write_text('{"kind": "recbandit-tuned-text-encoder"}')
    assert parse_spec(str(fake)).kind == "tuned"  # a bare tuned folder is recognised by its manifest


def test_register_encoder_adds_a_kind() -> None:
    entry = EncoderKind("zeros:DIM  all-zero vectors", lambda spec, cache: HashingBowEncoder(dim=4), {"dim": int})
    register_encoder("zeros", entry)
    try:
        assert parse_spec("zeros:dim=4") == EncoderSpec("zeros", None, (("dim", 4),))
        assert make_encoder("zeros").dim == 4
        with pytest.raises(ValueError, match="encoder kind must be an identifier"):
            register_encoder("no good", entry)
    finally:
        del ENCODERS["zeros"]


@pytest.mark.integration
def test_minilm_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = make_encoder("minilm:max_length=32", cache=False)
    assert isinstance(enc, TextEncoder) and enc.dim == 384 and enc.max_length == 32
    assert enc.model_label == "sentence-transformers/all-MiniLM-L6-v2"
    v = enc.encode(["A 24-year-old male technician.", "Toy Story (1995) — Animation, Children's, Comedy"])
    assert v.shape == (2, 384) and float(v[0] @ v[1]) < 0.9
    ident = spec_identity("minilm")
    assert ident["spec"] == "minilm" and re.fullmatch(r"[0-9a-f]{16}", ident["weights"])
