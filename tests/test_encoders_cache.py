"""EmbeddingCache: keys, 100% hits on a second encode, invalidation, corruption recovery, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_encoders_text import TEXTS, make_tiny_model

from recbandit.encoders import EmbeddingCache, TextEncoder, default_cache_dir
from recbandit.encoders import text as text_module
from recbandit.encoders.cache import settings_key, text_key

MORE = [f"star wars {w} of the city" for w in ("love", "night", "day", "time", "life", "death", "world", "house")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-cache-bert"))


class ForwardCounter:
    """Counts model forward passes (wraps ``enc.model.forward``)."""

    def __init__(self, enc: TextEncoder) -> None:
        self.calls = 0
        self._forward = enc.model.forward
        enc.model.forward = self

    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        self.calls += 1
        return self._forward(*args, **kwargs)


def shards(root: Path) -> list[Path]:
    return sorted(root.rglob("shard-*.npy"))


def manifests(root: Path) -> list[Path]:
    return sorted(root.rglob("shard-*.json"))


def test_second_encode_is_all_hits_without_forward_calls(tiny: Path, tmp_path: Path) -> None:
    enc = TextEncoder(tiny, cache=tmp_path / "c", batch_size=3)
    calls = ForwardCounter(enc)
    first = enc.encode(TEXTS)
    assert calls.calls == 3 and enc.last_cost.cache_misses == len(TEXTS) and enc.last_cost.cache_hits == 0
    calls.calls = 0
    second = enc.encode(TEXTS)
    assert calls.calls == 0
    rec = enc.last_cost
    assert rec.cache_hits == len(TEXTS) and rec.cache_misses == 0 and rec.cache_hit_rate == 1.0
    assert rec.flops == 0 and rec.forward_calls == 0 and rec.flops_method == "none"
    np.testing.assert_array_equal(first, second)
    assert enc.cache.hits == len(TEXTS) and enc.cache.hit_rate == 0.5
    # A new process (new encoder, new cache object) reads the same vectors from disk.
    fresh = TextEncoder(tiny, cache=tmp_path / "c", batch_size=3)
    fresh_calls = ForwardCounter(fresh)
    np.testing.assert_array_equal(fresh.encode(TEXTS[::-1]), first[::-1])
    assert fresh_calls.calls == 0 and fresh.last_cost.cache_hit_rate == 1.0
    # Without a cache the same vectors come out of the model.
    np.testing.assert_allclose(TextEncoder(tiny, batch_size=3).encode(TEXTS), first, atol=1e-6)


def test_partial_hits_compute_only_new_texts(tiny: Path, tmp_path: Path) -> None:
    enc = TextEncoder(tiny, cache=tmp_path)
    enc.encode(TEXTS)
    v = enc.encode(TEXTS + MORE + MORE[:2])
    rec = enc.last_cost
    assert rec.cache_hits == len(TEXTS) and rec.cache_misses == len(MORE) + 2
    assert rec.tokens == sum(len(x) for x in enc.tokenize(MORE))  # only the new texts went through the model
    np.testing.assert_array_equal(v[len(TEXTS) + len(MORE) :], v[len(TEXTS) : len(TEXTS) + 2])
    assert len(shards(tmp_path)) == 2  # one shard per call that computed something


def test_the_report_says_how_many_texts_came_from_the_cache(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    enc = TextEncoder(tiny, cache=tmp_path, batch_size=1, progress=True)
    enc.encode(TEXTS)
    assert "from the cache" not in capsys.readouterr().err  # nothing was cached yet
    enc.encode(TEXTS + MORE + MORE[:2])  # rows: 8 cached, 8 new, 2 repeats of new ones
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{enc.model_label}: {len(TEXTS)} of {len(TEXTS) + len(MORE) + 2} texts from the cache"
    assert err[-1].startswith(f"{enc.model_label}: encoded {len(MORE)} of {len(MORE)} texts (")
    enc.encode(MORE)
    assert capsys.readouterr().err == f"{enc.model_label}: {len(MORE)} of {len(MORE)} texts from the cache\n"


@pytest.mark.parametrize(
    "change",
    [{"pooling": "cls"}, {"max_length": 8}, {"normalize": False}, {"dtype": "bfloat16"}, "model"],
)
def test_changed_model_or_settings_miss(tiny: Path, tmp_path: Path, change: dict | str) -> None:
    TextEncoder(tiny, cache=tmp_path).encode(TEXTS)
    if change == "model":
        enc = TextEncoder(make_tiny_model(tmp_path / "other-model", seed=7), cache=tmp_path)
    else:
        enc = TextEncoder(tiny, cache=tmp_path, **change)
    calls = ForwardCounter(enc)
    enc.encode(TEXTS)
    assert enc.last_cost.cache_hits == 0 and enc.last_cost.cache_misses == len(TEXTS) and calls.calls > 0
    assert len({p.parent for p in shards(tmp_path)}) == 2  # a second settings folder


def test_changed_text_misses_and_settings_that_do_not_change_vectors_hit(tiny: Path, tmp_path: Path) -> None:
    TextEncoder(tiny, cache=tmp_path, batch_size=2).encode(TEXTS)
    enc = TextEncoder(tiny, cache=tmp_path, batch_size=5, num_threads=1, count_flops=False)
    enc.encode(["star wars", "star wars!"])  # batch size, threads and flop counting are not part of the key
    assert enc.last_cost.cache_hits == 1 and enc.last_cost.cache_misses == 1


def test_weight_change_invalidates_even_in_the_same_folder(tiny: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny, folder)
    cache = tmp_path / "cache"
    TextEncoder(folder, cache=cache).encode(TEXTS)
    make_tiny_model(folder, seed=3)  # same path, new weights
    enc = TextEncoder(folder, cache=cache)
    enc.encode(TEXTS)
    assert enc.last_cost.cache_hits == 0


def test_mode_and_adapter_enter_the_key(tiny: Path, tmp_path: Path) -> None:
    class Tuned(TextEncoder):
        mode = "lora"

        def adapter_fingerprint(self) -> str:
            return "adapter-abc"

    frozen = TextEncoder(tiny, cache=tmp_path)
    frozen.encode(TEXTS)
    tuned = Tuned(tiny, cache=tmp_path)
    assert "mode=lora" in tuned.name
    assert settings_key(tuned.cache_settings()) != settings_key(frozen.cache_settings())
    tuned.encode(TEXTS)
    assert tuned.last_cost.cache_hits == 0


def _corrupt_and_reencode(tiny: Path, root: Path, damage) -> tuple[np.ndarray, np.ndarray, list]:  # noqa: ANN001
    first = TextEncoder(tiny, cache=root).encode(TEXTS)
    damage()
    enc = TextEncoder(tiny, cache=root)
    calls = ForwardCounter(enc)
    with pytest.warns(UserWarning) as record:
        again = enc.encode(TEXTS)
    assert calls.calls > 0 and enc.last_cost.cache_hits == 0
    return first, again, [str(w.message) for w in record]


def test_truncated_npy_is_detected_and_recomputed(tiny: Path, tmp_path: Path) -> None:
    def truncate() -> None:
        (npy,) = shards(tmp_path)
        npy.write_bytes(npy.read_bytes()[:200])

    first, again, messages = _corrupt_and_reencode(tiny, tmp_path, truncate)
    (npy,) = shards(tmp_path)
    assert any(str(npy) in m and "corrupt cache file" in m for m in messages)
    np.testing.assert_allclose(again, first, atol=1e-6)
    # The recomputed shard replaced the damaged one: a third encoder hits everything, silently.
    third = TextEncoder(tiny, cache=tmp_path)
    third.encode(TEXTS)
    assert third.last_cost.cache_hit_rate == 1.0


def test_flipped_bytes_fail_the_checksum(tiny: Path, tmp_path: Path) -> None:
    def flip() -> None:
        (npy,) = shards(tmp_path)
        data = bytearray(npy.read_bytes())
        data[-5] ^= 0xFF  # same size, same header, different numbers
        npy.write_bytes(bytes(data))

    first, again, messages = _corrupt_and_reencode(tiny, tmp_path, flip)
    assert any("checksum mismatch" in m for m in messages)
    np.testing.assert_allclose(again, first, atol=1e-6)


def test_wrong_shape_or_dtype_is_detected(tiny: Path, tmp_path: Path) -> None:
    def reshape() -> None:
        (npy,) = shards(tmp_path)
        np.save(npy, np.zeros((3, 5), dtype=np.float64), allow_pickle=False)

    first, again, messages = _corrupt_and_reencode(tiny, tmp_path, reshape)
    assert any("dtype float64" in m for m in messages)
    np.testing.assert_allclose(again, first, atol=1e-6)


def test_garbled_index_is_detected(tiny: Path, tmp_path: Path) -> None:
    def garble() -> None:
        (manifest,) = manifests(tmp_path)
        manifest.write_text('{"format": 1, "rows": 8, "keys": [')

    first, again, messages = _corrupt_and_reencode(tiny, tmp_path, garble)
    (manifest,) = manifests(tmp_path)
    assert any(str(manifest) in m and "unreadable cache index" in m for m in messages)
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert json.loads(manifest.read_text())["rows"] == len(TEXTS)


def test_index_with_wrong_key_count_is_detected(tiny: Path, tmp_path: Path) -> None:
    def drop_key() -> None:
        (manifest,) = manifests(tmp_path)
        doc = json.loads(manifest.read_text())
        doc["keys"] = doc["keys"][:-1]
        manifest.write_text(json.dumps(doc))

    _, _, messages = _corrupt_and_reencode(tiny, tmp_path, drop_key)
    assert any("keys for 8 rows" in m for m in messages)


def test_files_are_npy_without_pickle_and_no_temp_files_remain(tiny: Path, tmp_path: Path) -> None:
    enc = TextEncoder(tiny, cache=tmp_path)
    enc.encode(TEXTS)
    enc.encode(MORE)
    names = [p.name for p in enc.cache.files()]
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")]
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["json"] * 3 + ["npy"] * 2  # 2 shards + settings.json
    for npy in shards(tmp_path):
        assert npy.read_bytes()[:6] == b"\x93NUMPY"
        arr = np.load(npy, allow_pickle=False)
        assert arr.dtype == np.float32 and arr.shape[1] == enc.dim
    settings = json.loads(next(tmp_path.rglob("settings.json")).read_text())
    assert settings["settings"]["model"] == enc.fingerprint and settings["settings"]["pooling"] == "mean"


def test_failed_write_leaves_no_partial_files(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = TextEncoder(tiny, cache=tmp_path)
    real_replace = os.replace

    def fail_on_npy(src, dst):  # noqa: ANN001, ANN202
        if str(dst).endswith(".npy"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_npy)
    with pytest.warns(UserWarning, match="could not write embedding cache shard"):
        v = enc.encode(TEXTS)
    assert v.shape == (len(TEXTS), enc.dim)
    assert shards(tmp_path) == [] and manifests(tmp_path) == []
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.setattr(os, "replace", real_replace)
    fresh = TextEncoder(tiny, cache=tmp_path)
    fresh.encode(TEXTS)
    assert fresh.last_cost.cache_misses == len(TEXTS)  # nothing half-written was taken for a hit


def test_orphan_npy_without_index_is_ignored(tiny: Path, tmp_path: Path) -> None:
    enc = TextEncoder(tiny, cache=tmp_path)
    enc.encode(TEXTS)
    (manifest,) = manifests(tmp_path)
    manifest.unlink()  # as if the process died between the array and the manifest
    fresh = TextEncoder(tiny, cache=tmp_path)
    fresh.encode(TEXTS)
    assert fresh.last_cost.cache_misses == len(TEXTS)


def test_one_shard_per_call_and_compact(tiny: Path, tmp_path: Path) -> None:
    enc = TextEncoder(tiny, cache=tmp_path, batch_size=256)
    many = [f"{a} {b} {c}" for a in ("star", "love", "night", "city") for b in ("wars", "story", "time") for c in MORE]
    enc.encode(many)
    assert len(shards(tmp_path)) == 1 and len(manifests(tmp_path)) == 1
    enc.encode(TEXTS[:3])
    enc.encode(TEXTS[3:])
    assert len(shards(tmp_path)) == 3
    ref = enc.encode(many + TEXTS)
    merged = enc.cache.compact(enc.cache_settings())
    assert merged is not None and shards(tmp_path) == [merged] and len(manifests(tmp_path)) == 1
    fresh = TextEncoder(tiny, cache=tmp_path)
    np.testing.assert_array_equal(fresh.encode(many + TEXTS), ref)
    assert fresh.last_cost.cache_hit_rate == 1.0


def test_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECBANDIT_CACHE", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
    assert EmbeddingCache().root == tmp_path / "env-cache"
    assert EmbeddingCache(tmp_path / "explicit").root == tmp_path / "explicit"
    monkeypatch.delenv("RECBANDIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert default_cache_dir() == tmp_path / "xdg" / "recbandit" / "embeddings"


def test_cache_api_directly(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    settings = {"model": "m", "pooling": "mean"}
    keys = [text_key(t) for t in ("a", "b", "c")]
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.put(settings, keys[:2], vecs[:2])
    out, found = cache.get(settings, keys, 4)
    assert found.tolist() == [True, True, False]
    np.testing.assert_array_equal(out[:2], vecs[:2])
    assert (cache.hits, cache.misses) == (2, 1)
    assert not cache.get({"model": "m", "pooling": "cls"}, keys, 4)[1].any()
    with pytest.raises(ValueError, match="vectors must be float32"):
        cache.put(settings, keys, vecs[:2])
    with pytest.raises(ValueError, match="distinct"):
        cache.put(settings, [keys[0], keys[0]], vecs[:2])
    assert text_key("é") != text_key("e") and len(text_key("x")) == 32


def test_weights_are_hashed_once_per_file(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    TextEncoder(tiny)  # memoised by now
    opened: list[str] = []
    real_open = open

    def spy_open(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if str(path).endswith("model.safetensors") and "rb" in args:
            opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(text_module, "open", spy_open, raising=False)
    TextEncoder(tiny)
    assert opened == []  # the weight bytes were not read again for the fingerprint
