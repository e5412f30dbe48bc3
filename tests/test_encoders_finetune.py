"""Fine-tuning (frozen / top-k / LoRA): learning, which weights change, save/load, data seen, cache keys, cost.

Unit tests use a tiny randomly initialised BERT (2 layers, 32-d; see test_encoders_text) on
a tiny planted-signal log: items are about one of two topics (their text says which), each
user likes one topic (90% like rate on it, 10% on the other). A test marked ``integration``
tunes the real all-MiniLM-L6-v2 for a few steps.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_encoders_text import make_tiny_model

from recbandit.data.logged import Interactions, Items, LoggedData, Users
from recbandit.encoders import EmbeddingCache
from recbandit.encoders.cache import settings_key
from recbandit.encoders.finetune import FineTuneConfig, FitReport, TunedTextEncoder, fine_tune, roc_auc
from recbandit.encoders.text import TextEncoder

TOPIC_A = "action adventure thriller war crime horror death".split()
TOPIC_B = "love romance drama comedy children animation life".split()
FILLER = "night day man woman city time world house".split()
N_COLD = 8
# Small and quick: one torch thread (the tiny model gains nothing from more, and a shared machine loses a lot).
FAST = {"epochs": 4, "batch_size": 32, "lr": 3e-3, "head_lr": 3e-2, "patience": 3, "projection_dim": 16}


def make_log(seed: int = 0, n_users: int = 30, n_items: int = 48, per_user: int = 20) -> tuple[LoggedData, float]:
    """A binary log with a planted topic signal; the last N_COLD items have rows only after the split."""
    rng = np.random.default_rng(seed)
    topic = np.arange(n_items) % 2
    texts = [
        "the " + " ".join([*rng.choice(TOPIC_A if topic[i] == 0 else TOPIC_B, size=3), str(rng.choice(FILLER))])
        for i in range(n_items)
    ]
    pref = rng.integers(0, 2, size=n_users)
    warm = np.arange(n_items - N_COLD)
    pairs = [(u, int(i)) for u in range(n_users) for i in rng.choice(warm, size=per_user, replace=False)]
    pairs = [pairs[k] for k in rng.permutation(len(pairs))]
    n_warm = len(pairs)
    cold = [(int(rng.integers(n_users)), i) for i in range(n_items - N_COLD, n_items) for _ in range(5)]
    pairs += [cold[k] for k in rng.permutation(len(cold))]
    user = np.array([p[0] for p in pairs], dtype=np.int64)
    item = np.array([p[1] for p in pairs], dtype=np.int64)
    reward = (rng.random(len(pairs)) < np.where(topic[item] == pref[user], 0.9, 0.1)).astype(np.float64)
    ts = 1.0e9 + 60.0 * np.arange(len(pairs))
    split = float(ts[int(0.8 * n_warm)])
    profiles = [f"a {rng.choice(FILLER)} in the {rng.choice(FILLER)}" for _ in range(n_users)]
    data = LoggedData(
        name="tiny-topics",
        source="tests",
        interactions=Interactions(user=user, item=item, reward=reward, timestamp=ts),
        items=Items(ids=np.arange(n_items), text=texts),
        users=Users(ids=np.arange(n_users), text=profiles),
        reward_kind="binary",
    )
    return data, split


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-ft-bert"))


@pytest.fixture(scope="module")
def log() -> tuple[LoggedData, float]:
    return make_log()


@pytest.fixture(scope="module")
def topk(tiny: Path, log: tuple[LoggedData, float]) -> tuple[TunedTextEncoder, FitReport]:
    data, split = log
    return fine_tune(TextEncoder(tiny, num_threads=1), data, mode="top-k", split_time=split, top_k=1, **FAST)


@pytest.fixture(scope="module")
def lora(tiny: Path, log: tuple[LoggedData, float]) -> tuple[TunedTextEncoder, FitReport]:
    data, split = log
    return fine_tune(TextEncoder(tiny, num_threads=1), data, mode="lora", split_time=split, lora_r=4, **FAST)


def held_out(data: LoggedData, split: float) -> np.ndarray:
    return np.flatnonzero(data.interactions.timestamp >= split)


def base_state(tiny: Path) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in TextEncoder(tiny).model.state_dict().items()}


# --------------------------------------------------------------------------- learning and what changes


def test_topk_learns_the_planted_signal_and_changes_only_the_top_layer(
    tiny: Path, log: tuple[LoggedData, float], topk: tuple[TunedTextEncoder, FitReport]
) -> None:
    data, split = log
    enc, report = topk
    assert report.mode == "top-k" and report.steps > 0 and report.best_step > 0
    train_losses = [c["train_loss"] for c in report.curve if c["train_loss"] is not None]
    assert train_losses[-1] < 0.8 * train_losses[0]
    assert report.best["val_loss"] < report.initial["val_loss"]
    assert report.best["val_auc"] > 0.75
    # Early stopping keeps the state with the lowest validation loss.
    best = min(report.curve, key=lambda c: c["val_loss"])
    assert (report.best_step, report.best["val_loss"]) == (best["step"], best["val_loss"])
    assert enc.evaluate(data, held_out(data, split))["auc"] > 0.75  # later period, cold items included
    before = base_state(tiny)
    after = enc.model.state_dict()
    assert set(after) == set(before)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("encoder.layer.1.") for k in changed)
    top = {k for k in before if k.startswith("encoder.layer.1.") and k.endswith("weight")}
    assert top <= changed  # every weight matrix of the top layer moved
    assert report.parameters["encoder_trained"] == sum(p.numel() for p in enc.model.encoder.layer[1].parameters())
    assert not any(p.requires_grad for p in enc.model.parameters())  # frozen again after the fit


def test_lora_trains_only_adapters(
    tiny: Path, log: tuple[LoggedData, float], lora: tuple[TunedTextEncoder, FitReport]
) -> None:
    data, split = log
    enc, report = lora
    assert report.best["val_auc"] > 0.75 and report.best["val_loss"] < report.initial["val_loss"]
    assert enc.evaluate(data, held_out(data, split))["auc"] > 0.75
    before = base_state(tiny)
    state = enc.model.state_dict()
    lora_keys = [k for k in state if ".lora_" in k]
    # 2 layers x (query, value) x (A, B)
    assert len(lora_keys) == 8 and report.parameters["encoder_trained"] == 8 * 4 * 32
    assert all(state[k].abs().sum() > 0 for k in lora_keys if ".lora_B." in k)  # B starts at zero: it moved
    base = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in state.items() if ".lora_" not in k
    }
    assert set(base) == set(before)
    assert all(torch.equal(base[k], before[k]) for k in before)  # every base weight bit-identical
    # The tuned encoder's vectors differ from the frozen model's.
    texts = data.items.text[:8]
    assert not np.allclose(enc.encode(texts), TextEncoder(tiny).encode(texts), atol=1e-4)


def test_frozen_mode_fits_heads_only_and_keeps_the_plain_vectors(tiny: Path, log: tuple[LoggedData, float]) -> None:
    data, split = log
    plain = TextEncoder(tiny, num_threads=1)
    enc, report = fine_tune(plain, data, mode="frozen", split_time=split, **FAST)
    assert report.parameters["encoder_trained"] == 0 and report.adapter_fingerprint == ""
    assert report.flops["train_backward"] > 0 and report.best["val_auc"] > 0.7
    np.testing.assert_array_equal(enc.encode(data.items.text), plain.encode(data.items.text))
    assert enc.cache_settings() == plain.cache_settings() and enc.name == plain.name


def test_fit_is_seeded_dropout_included(tiny: Path, log: tuple[LoggedData, float]) -> None:
    data, split = log
    small = {**FAST, "epochs": 1, "max_train_rows": 96, "lora_dropout": 0.1, "negatives": 1}
    runs = [
        fine_tune(TextEncoder(tiny, num_threads=1), data, mode="lora", split_time=split, lora_r=4, seed=seed, **small)[
            0
        ]
        for seed in (7, 7, 8)
    ]
    assert runs[0].adapter_fingerprint() == runs[1].adapter_fingerprint() != runs[2].adapter_fingerprint()
    a, b = (r.heads.state_dict() for r in runs[:2])
    assert all(torch.equal(a[k], b[k]) for k in a)
    enc = TextEncoder(tiny, num_threads=1)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    fine_tune(enc, data, mode="lora", split_time=split, lora_r=4, **small)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's global RNG is left alone


def test_probe_phase_is_the_same_in_every_mode(tiny: Path, log: tuple[LoggedData, float]) -> None:
    data, split = log
    settings = {**FAST, "probe_epochs": 2, "probe_batch_size": 64, "epochs": 1, "max_train_rows": 64}
    runs = {
        mode: fine_tune(TextEncoder(tiny, num_threads=1), data, mode=mode, split_time=split, lora_r=4, **settings)[1]
        for mode in ("frozen", "lora")
    }
    for report in runs.values():
        assert [c["phase"] for c in report.curve[:3]] == ["start", "probe", "probe"]
        assert all(c["phase"] == "tune" for c in report.curve[3:]) and len(report.curve) > 3
        # The probe trains on every training-period row before the validation slice.
        period = np.flatnonzero(data.interactions.timestamp < split)
        np.testing.assert_array_equal(report.train_rows, np.setdiff1d(period, report.validation_rows))
    probe = [[(c["step"], c["val_loss"]) for c in r.curve[:3]] for r in runs.values()]
    assert probe[0] == probe[1]  # same seed: the same heads-only phase, bit for bit
    assert runs["lora"].items_trained.size > 0 and runs["frozen"].items_trained.size == 0


# --------------------------------------------------------------------------- the training period only


def test_nothing_after_the_split_is_read(
    tiny: Path, log: tuple[LoggedData, float], topk: tuple[TunedTextEncoder, FitReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, split = log
    _, report = topk
    ts = data.interactions.timestamp
    rows = np.concatenate([report.train_rows, report.validation_rows, report.history_rows])
    assert report.max_timestamp_seen < split and ts[rows].max() == report.max_timestamp_seen
    # The validation slice is the end of the training period; fit rows come before it.
    assert ts[report.train_rows].max() <= ts[report.validation_rows].min()
    cold = np.arange(len(data.items) - N_COLD, len(data.items))
    assert ts[np.isin(data.interactions.item, cold)].min() >= split  # (the log is built that way)
    assert not np.isin(report.items_encoded, cold).any() and not np.isin(report.items_trained, cold).any()

    # Independently: record every text tokenized during a fit on a log whose later rows are scrambled.
    seen: list[str] = []
    tokenize = TextEncoder.tokenize

    def spy(self: TextEncoder, texts: list[str]) -> list[list[int]]:
        seen.extend(texts)
        return tokenize(self, texts)

    monkeypatch.setattr(TextEncoder, "tokenize", spy)
    later = ts >= split
    rng = np.random.default_rng(5)
    scrambled = replace(
        data,
        interactions=replace(
            data.interactions,
            reward=np.where(later, np.nan, data.interactions.reward),  # a later reward read would fail the 0/1 check
            user=np.where(later, rng.integers(len(data.users), size=len(ts)), data.interactions.user),
        ),
    )
    enc, rep = fine_tune(TextEncoder(tiny, num_threads=1), scrambled, mode="top-k", split_time=split, top_k=1, **FAST)
    cold_texts = {data.items.text[i] for i in cold}
    assert seen and not cold_texts & set(seen)
    # Same seed, same training period: bit-identical weights whatever comes after the split.
    assert enc.adapter_fingerprint() == topk[0].adapter_fingerprint()
    np.testing.assert_array_equal(rep.train_rows, report.train_rows)


# --------------------------------------------------------------------------- save / load and the cache


@pytest.mark.parametrize("which", ["topk", "lora"])
def test_save_load_gives_identical_vectors(
    which: str, request: pytest.FixtureRequest, log: tuple[LoggedData, float], tmp_path: Path
) -> None:
    data, split = log
    enc, report = request.getfixturevalue(which)
    folder = enc.save(tmp_path / "tuned")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    weights = [f for f in files if f.endswith((".safetensors", ".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    assert weights and all(f.endswith(".safetensors") for f in weights)
    assert ("adapter/adapter_model.safetensors" in files) == (which == "lora")
    assert ("layers.safetensors" in files) == (which == "topk")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["base"]["fingerprint"] == enc.fingerprint and manifest["mode"] == enc.mode
    assert manifest["adapter_fingerprint"] == enc.adapter_fingerprint()
    assert manifest["config"]["epochs"] == FAST["epochs"] and manifest["report"]["steps"] == report.steps

    back = TunedTextEncoder.load(folder, num_threads=1)
    texts = data.items.text + data.users.text
    assert np.array_equal(back.encode(texts), enc.encode(texts))
    assert back.name == enc.name and back.cache_settings() == enc.cache_settings()
    test = held_out(data, split)
    u, i = data.interactions.user[test], data.interactions.item[test]
    assert np.array_equal(back.predict(data, u, i, rows=test), enc.predict(data, u, i, rows=test))
    for name in ("train_rows", "validation_rows", "history_rows", "items_encoded", "users_encoded"):
        np.testing.assert_array_equal(getattr(back.report, name), getattr(report, name))
    assert back.report.cost.flops == report.cost.flops
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        enc.save(folder)
    assert enc.save(folder, overwrite=True) == folder


def test_cache_separates_frozen_and_each_adapter(
    tiny: Path, log: tuple[LoggedData, float], lora: tuple[TunedTextEncoder, FitReport], tmp_path: Path
) -> None:
    data, split = log
    texts = data.items.text
    cache = tmp_path / "cache"
    frozen = TextEncoder(tiny, cache=cache, num_threads=1)
    v_frozen = frozen.encode(texts)
    folder = lora[0].save(tmp_path / "lora")
    tuned = TunedTextEncoder.load(folder, cache=cache, num_threads=1)
    v_tuned = tuned.encode(texts)
    assert tuned.last_cost.cache_hits == 0 and not np.allclose(v_tuned, v_frozen, atol=1e-4)
    other, _ = fine_tune(
        TextEncoder(tiny, cache=cache, num_threads=1), data, mode="lora", split_time=split, lora_r=4, seed=3, **FAST
    )
    v_other = other.encode(texts)
    assert other.last_cost.cache_hits == 0 and not np.array_equal(v_other, v_tuned)
    keys = {settings_key(e.cache_settings()) for e in (frozen, tuned, other)}
    assert len(keys) == 3
    # The same adapter, loaded again: everything comes from the cache, bit-identical.
    again = TunedTextEncoder.load(folder, cache=EmbeddingCache(cache), num_threads=1)
    assert np.array_equal(again.encode(texts), v_tuned) and again.last_cost.cache_hit_rate == 1.0


# --------------------------------------------------------------------------- compute accounting


def _bert_forward_flops(config, batch: int, length: int) -> int:  # noqa: ANN001
    h, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    tokens = batch * length
    return (
        2 * tokens * (4 * h * h + 2 * h * inter) * layers + 4 * batch * length * length * h * layers + 2 * batch * h * h
    )


def test_flops_follow_the_shapes_of_each_step(tiny: Path, log: tuple[LoggedData, float]) -> None:
    data, split = log
    # One step of 16 rows, no validation: the training forward FLOPs follow from the shapes.
    enc, report = fine_tune(
        TextEncoder(tiny, num_threads=1),
        data,
        mode="top-k",
        split_time=split,
        epochs=1,
        batch_size=16,
        max_train_rows=16,
        validation_fraction=0.0,
        projection_dim=8,
    )
    assert report.steps == 1 and report.validation_rows.size == 0
    rows = report.train_rows
    items = np.unique(data.interactions.item[rows])
    width = max(len(x) for x in enc.tokenize([data.items.text[i] for i in items]))
    d, p, b = enc.dim, 8, len(rows)
    heads = 3 * 2 * b * d * p + 2 * b * d  # item, history and profile projections; the text appeal
    assert report.flops["train_forward"] == _bert_forward_flops(enc.config, len(items), width) + heads
    assert report.flops["train_backward"] > 0 and report.flops["no_grad"] > 0
    cost = report.cost
    assert report.flops["method"] == "per-shape" and report.flops["distinct_shapes"] >= 3
    assert cost.what == "fine-tune" and cost.flops_method == "per-shape" and cost.device == "cpu"
    assert cost.flops == report.flops["train_forward"] + report.flops["train_backward"] + report.flops["no_grad"]
    assert cost.seconds > 0 and cost.peak_rss_bytes > 0 and cost.gpu_seconds is None


# --------------------------------------------------------------------------- bad input


def _rating_log(data: LoggedData) -> LoggedData:
    return replace(data, reward_kind="rating", rating_threshold=None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "full"}, "unknown mode 'full'; allowed values: frozen, top-k, lora"),
        ({"mode": "top-k", "top_k": 3}, r"top_k must be an integer in \[1, 2\], got 3"),
        ({"mode": "top-k", "top_k": 0}, "top_k must be an integer >= 1"),
        ({"mode": "lora", "split_time": 0.0}, "empty training period: no interaction of 'tiny-topics' before"),
        ({"mode": "lora", "lora_target_modules": ("q_lin",)}, r"lora_target_modules \['q_lin'\] not found"),
        ({"mode": "lora", "lora_dropout": 1.0}, "lora_dropout must be a finite number >= 0.0 and < 1.0"),
        ({"mode": "lora", "epochs": 0}, "epochs must be an integer >= 1"),
        ({"mode": "lora", "validation_fraction": 0.9}, "validation_fraction must be a finite number"),
        ({"mode": "lora", "learning_rate": 1.0}, r"unknown fine-tuning setting\(s\) \['learning_rate'\]"),
        ({"mode": "lora", "user_text": False, "user_history": False, "user_id": False}, "the user tower is empty"),
        ({"mode": "lora", "seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_invalid_arguments(tiny: Path, log: tuple[LoggedData, float], kwargs: dict, message: str) -> None:
    data, split = log
    kwargs = {"split_time": split, **kwargs}
    with pytest.raises(ValueError, match=message):
        fine_tune(TextEncoder(tiny, num_threads=1), data, **kwargs)


def test_invalid_data_and_encoders(
    tiny: Path, log: tuple[LoggedData, float], lora: tuple[TunedTextEncoder, FitReport], tmp_path: Path
) -> None:
    data, split = log
    with pytest.raises(ValueError, match="holds ratings without a rating_threshold"):
        fine_tune(TextEncoder(tiny), _rating_log(data), mode="frozen", split_time=split)
    bad = replace(data, interactions=replace(data.interactions, reward=data.interactions.reward * 3))
    with pytest.raises(ValueError, match="rewards must be 0/1 for fine-tuning; row"):
        fine_tune(TextEncoder(tiny), bad, mode="frozen", split_time=split)
    with pytest.raises(ValueError, match="needs a float32 encoder"):
        fine_tune(TextEncoder(tiny, dtype="bfloat16"), data, mode="lora", split_time=split)
    with pytest.raises(ValueError, match="already fine-tuned"):
        fine_tune(lora[0], data, mode="lora", split_time=split)
    with pytest.raises(ValueError, match="is not the log this encoder was tuned on"):
        lora[0].predict(make_log(n_items=30, per_user=10)[0], np.array([0]), np.array([0]))
    folder = lora[0].save(tmp_path / "saved")
    with pytest.raises(ValueError, match="was tuned from .* with fingerprint"):
        TunedTextEncoder.load(folder, model=make_tiny_model(tmp_path / "other", seed=9))
    with pytest.raises(ValueError, match="fixed by the saved encoder"):
        TunedTextEncoder.load(folder, max_length=8)
    heads = folder / "heads.safetensors"
    heads.write_bytes(heads.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    with pytest.raises(ValueError, match="heads.safetensors: contents differ from the manifest's SHA-256"):
        TunedTextEncoder.load(folder)
    with pytest.raises(ValueError, match="not a readable tuned-encoder manifest"):
        TunedTextEncoder.load(tmp_path / "nowhere")


def test_config_is_validated_on_construction() -> None:
    with pytest.raises(ValueError, match="lora_target_modules must be a non-empty tuple"):
        FineTuneConfig(lora_target_modules="query")
    with pytest.raises(ValueError, match="projection_dim must be an integer >= 1"):
        FineTuneConfig(projection_dim=0)
    assert FineTuneConfig(lora_target_modules=["query"]).lora_target_modules == ("query",)


def test_roc_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=200)
    s = np.round(rng.random(200), 1)  # ties
    pos, neg = s[y == 1], s[y == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    assert roc_auc(y, s) == pytest.approx(pairwise)
    assert np.isnan(roc_auc(np.ones(3), np.arange(3.0)))


# --------------------------------------------------------------------------- the real model


@pytest.mark.integration
def test_minilm_lora_round_trip(log: tuple[LoggedData, float], tmp_path: Path) -> None:
    data, split = log
    enc, report = fine_tune(
        TextEncoder(max_length=16, num_threads=1),
        data,
        mode="lora",
        split_time=split,
        epochs=1,
        batch_size=64,
        max_train_rows=128,
    )
    assert report.parameters["encoder_trained"] == 6 * 2 * 2 * 8 * 384  # 6 layers x (query, value) x (A, B)
    assert report.steps == 2 and report.cost.flops > 0 and "mode=lora" in enc.name
    back = TunedTextEncoder.load(enc.save(tmp_path / "minilm-lora"))
    assert np.array_equal(back.encode(data.items.text), enc.encode(data.items.text))
