"""The contexts' encoder in runs: spec in the record and the resume key, encode cost in the record and the summary."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_encoders_text import make_tiny_model

from recbandit.encoders import HashingBowEncoder
from recbandit.envs import make_env
from recbandit.envs import synthetic as synthetic_env
from recbandit.envs.contexts import ContextEncoding
from recbandit.evaluation import RunSpec, execute, run_sweep, summary_table
from recbandit.evaluation.report import encode_cost, summary_rows
from recbandit.evaluation.runner import finished

ENV = "recbandit/Synthetic-v0"
SMALL = {"n_items": 120, "n_users": 60, "k": 5, "context_dim": 4}


def spec(encoder: str | None, seed: int = 0, agent: str = "linucb-shared") -> RunSpec:
    kwargs = dict(SMALL) if encoder is None else {**SMALL, "encoder": encoder}
    return RunSpec(ENV, agent, seed, 200, env_kwargs=kwargs)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("contexts") / "tiny-bert")


def test_encoder_spec_is_canonical_in_the_spec_and_its_key() -> None:
    assert spec("bow").env_kwargs["encoder"] == "bow:256"
    assert spec("bow").key == spec("bow:dim=256").key == spec("bow:256,seed=0").key
    assert spec("bow:64").key != spec("bow:256").key != spec(None).key
    assert spec("bow:64").filename != spec("bow:32").filename
    with pytest.raises(ValueError, match="unknown encoder 'glove'; known encoders: bow"):
        spec("glove")


def test_encoder_is_recorded_and_resume_tells_encoders_apart(tmp_path: Path) -> None:
    specs = [spec("bow:32"), spec("bow:64")]
    records = run_sweep(specs, tmp_path, show_progress=False)
    assert [r["encoder"] for r in records] == [
        {"spec": "bow:32", "name": "bow-hash(d=32,seed=0)"},
        {"spec": "bow:64", "name": "bow-hash(d=64,seed=0)"},
    ]
    assert [r["env_kwargs"]["encoder"] for r in records] == ["bow:32", "bow:64"]
    assert records[0]["cumulative_regret"] != records[1]["cumulative_regret"]  # different contexts, different runs
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 2
    # Resume: each spec finds its own record, a third encoder finds none.
    assert finished(specs[0], tmp_path)["encoder"]["spec"] == "bow:32"
    assert finished(specs[1], tmp_path)["encoder"]["spec"] == "bow:64"
    assert finished(spec("bow:16"), tmp_path) is None
    before = {p.name: p.stat().st_mtime_ns for p in files}
    again = run_sweep([spec("bow:dim=32"), spec("bow:64")], tmp_path, show_progress=False)  # same runs, other spelling
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")} == before
    assert [r["spec_key"] for r in again] == [r["spec_key"] for r in records]
    # The summary keeps the two contexts apart.
    rows = summary_rows(records)
    assert sorted(r["context"] for r in rows) == ["bow:32", "bow:64"]


def test_a_retrained_model_folder_changes_the_resume_key(tiny_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    before = spec(str(folder))
    key_before = before.key
    assert before.env_kwargs["encoder"] == str(folder.resolve())
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # "retrained in place": same path, other bytes
    st = weights.stat()
    weights.write_bytes(bytes(data))
    # File hashes are memoised by (path, size, mtime, inode): a retrain takes longer than the
    # file system's clock tick, which a test that rewrites at once may not; move mtime on.
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = spec(str(folder))
    assert after.env_kwargs == before.env_kwargs and after.key != key_before


def test_the_same_model_folder_elsewhere_has_the_same_resume_key(tiny_folder: Path, tmp_path: Path) -> None:
    """A local folder enters the key by its files, not its path: a copy elsewhere resumes the same runs."""
    here, there = tmp_path / "a" / "model", tmp_path / "b" / "moved"
    shutil.copytree(tiny_folder, here)
    shutil.copytree(tiny_folder, there)
    first, second = spec(str(here)), spec(str(there))
    assert first.env_kwargs != second.env_kwargs and first.key == second.key
    assert spec(str(tiny_folder)).key == first.key


def test_encode_cost_is_recorded_and_shown_in_the_summary(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECBANDIT_CACHE", str(tmp_path / "cache"))
    run = spec(str(tiny_folder))
    first = execute(run, tmp_path / "a")
    enc = first["cost"]["encode"]
    n_texts = SMALL["n_items"] + SMALL["n_users"]
    assert enc["items"] == n_texts and enc["calls"] == 2 and enc["device"] == "cpu"
    assert enc["flops"] > 0 and enc["flops_method"] == "per-shape" and enc["seconds"] > 0
    assert enc["forward_calls"] > 0 and enc["peak_rss_bytes"] > 0
    assert enc["cache_misses"] == n_texts and enc["cache_hits"] == 0 and "computed" not in enc
    assert first["encoder"]["name"].startswith("text(tiny-bert@")
    table = summary_table([first])
    header, _, row = table.splitlines()
    assert header.endswith("| context | encode s / GFLOP |")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[-2] == ".../tiny-bert"
    seconds, gflop = cells[-1].split(" / ")
    assert float(seconds) == pytest.approx(enc["seconds"], rel=0.01)
    assert float(gflop) == pytest.approx(enc["flops"] / 1e9, abs=0.006)

    # A new process (here: the per-process problem cache cleared) reads every vector from the
    # embedding cache; the record shows the cache read and what computing them cost.
    synthetic_env._cached_problem.cache_clear()
    second = execute(run, tmp_path / "b")
    enc2 = second["cost"]["encode"]
    assert enc2["cache_hits"] == n_texts and enc2["cache_misses"] == 0 and enc2["flops"] == 0
    assert enc2["computed"]["flops"] == enc["flops"] and enc2["computed"]["items"] == n_texts
    np.testing.assert_allclose(second["cumulative_regret"], first["cumulative_regret"])  # same contexts
    cost = encode_cost(second)
    assert cost is not None and cost["cached"] and cost["flops"] == enc["flops"]
    assert summary_table([second]).splitlines()[2].endswith(f"{cells[-1]} (cached) |")


def test_bow_cost_has_time_but_no_flops() -> None:
    env = make_env(ENV, batch_size=2, **{**SMALL, "encoder": "bow:16"})
    enc = env.problem.contexts_info["encode"]
    assert enc["items"] == SMALL["n_items"] + SMALL["n_users"] and enc["seconds"] > 0
    assert enc["flops_method"] == "none" and enc["cache_hit_rate"] is None
    assert env.problem.contexts_info["spec"] == "bow:16"
    rec = {"cost": {"encode": enc}}
    assert encode_cost(rec)["flops"] is None


def test_context_encoding_of_an_encoder_object_and_records_without_cost() -> None:
    texts = ContextEncoding(HashingBowEncoder(dim=8))
    out = texts.encode(["a b", "c"])
    assert out.shape == (2, 8)
    info = texts.to_dict()
    assert info["items"] == 2 and info["spec"] is None and info["encoder"] == "bow-hash(d=8,seed=0)"
    assert encode_cost({"cost": {"seconds": 1.0}}) is None  # records written before encode costs existed
    assert json.loads(json.dumps(info)) == info
