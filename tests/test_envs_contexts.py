"""MovieLens 100K contexts through any encoder: film text, user profiles, liked history; the truth stays put."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from test_encoders_text import make_tiny_model

from recbandit.data.movielens import load_movielens
from recbandit.envs import make_env

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or ROOT.parent / "shared" / "data")
ML100K = SHARED / "ml-100k"
pytestmark = pytest.mark.skipif(
    not (ML100K / "u.data").is_file(),
    reason=f"MovieLens 100K not found at {ML100K} (set RECBANDIT_SHARED_DATA to the shared data folder)",
)
ML = "recbandit/MovieLens100K-v0"
DIM = 6


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model(tmp_path_factory.mktemp("ml-contexts") / "tiny-bert"))


@pytest.fixture(scope="module")
def envs(tiny: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The env with tiny-BERT profile / history contexts and with the default bag of words."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RECBANDIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        out = {
            mode: make_env(ML, batch_size=4, encoder=tiny, user_context=mode, context_dim=DIM)
            for mode in ("profile", "history")
        }
        out["bow"] = make_env(ML, batch_size=4, user_context="profile", context_dim=DIM)
    finally:
        mp.undo()
    return out


def test_item_and_user_texts_are_what_the_encoder_reads() -> None:
    data = load_movielens(ML100K)
    assert data.items.text[0] == "Toy Story (1995) — Animation, Children's, Comedy"
    assert data.users.text[0] == "A 24-year-old male technician."


def test_encoder_changes_contexts_not_the_ground_truth(envs: dict, tiny: str) -> None:
    tiny_p, bow_p = envs["profile"].problem, envs["bow"].problem
    assert tiny_p.contexts_info["spec"] == str(Path(tiny).resolve())
    assert bow_p.contexts_info["spec"] == "bow:256"
    assert envs["profile"].fit_report["simulation"]["truth_encoder"] == "bow:256"
    assert tiny_p.item_contexts.shape == bow_p.item_contexts.shape == (1682, DIM)
    assert not np.allclose(tiny_p.item_contexts, bow_p.item_contexts, atol=1e-3)
    users = np.arange(943)
    items = np.tile(np.arange(50), (943, 1))
    np.testing.assert_array_equal(
        tiny_p.user_model.expected_reward(users, items), bow_p.user_model.expected_reward(users, items)
    )
    # Profile build encodes films and profiles; its cost is in the problem (and so in every record).
    cost = tiny_p.contexts_info["encode"]
    assert cost["items"] == 1682 + 943 and cost["flops"] > 0
    assert envs["history"].problem.contexts_info["encode"]["items"] == 1682  # history: films only


def test_profile_contexts_follow_the_profile(envs: dict) -> None:
    data = load_movielens(ML100K)
    ctx = envs["profile"].problem.user_contexts
    assert ctx.shape == (943, DIM)
    text = np.array(data.users.text)
    # Same age, gender and occupation -> same profile sentence and features -> same context.
    _, first, inverse = np.unique(text, return_index=True, return_inverse=True)
    twins = [(int(first[g]), int(u)) for u, g in enumerate(inverse) if first[g] != u]
    assert twins, "ML-100K has users with the same profile"
    for a, b in twins[:20]:
        np.testing.assert_array_equal(ctx[a], ctx[b])
    assert len(np.unique(ctx.round(5), axis=0)) == len(first)  # different profiles, different contexts


def test_history_contexts_are_the_mean_of_liked_training_films(envs: dict) -> None:
    env = envs["history"]
    problem = env.problem
    data = load_movielens(ML100K)
    # The fitting part of the per-user split: each user's earlier ratings.
    inter = data.interactions.take(problem.user_model.split.fit)
    liked = inter.reward >= 4
    n_liked = np.bincount(inter.user[liked], minlength=943)
    assert env.fit_report["simulation"]["user_context"] == "history"
    for u in np.flatnonzero(n_liked)[:25]:
        mine = inter.item[liked & (inter.user == u)]
        np.testing.assert_allclose(problem.user_contexts[u], problem.item_contexts[mine].mean(axis=0), atol=1e-5)
    # A user who liked none of their fitting films gets the mean of the films they rated.
    for u in np.flatnonzero(n_liked == 0)[:5]:
        mine = inter.item[inter.user == u]
        np.testing.assert_allclose(problem.user_contexts[u], problem.item_contexts[mine].mean(axis=0), atol=1e-5)
    # Every simulated user has a history under the per-user split: no all-zero contexts.
    assert env.fit_report["zero_context_share"] == 0.0 and problem.user_contexts.any(axis=1).all()
    # The history lives in the item-context space of this encoder, not of the default one.
    assert not np.allclose(problem.item_contexts, envs["bow"].problem.item_contexts, atol=1e-3)


def test_building_contexts_reports_progress_and_cache_hits(
    tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("RECBANDIT_CACHE", str(tmp_path))  # an empty embedding cache
    monkeypatch.setenv("RECBANDIT_PROGRESS", "1")  # asked for: stderr is captured, not a terminal
    data = load_movielens(ML100K)
    films, profiles = len(set(data.items.text)), len(set(data.users.text))  # distinct texts are computed
    make_env(ML, encoder=tiny, user_context="profile", context_dim=DIM + 1)  # a context_dim not built yet
    done = re.findall(r": encoded ([\d,]+) of ([\d,]+) texts \(", capsys.readouterr().err)
    assert [a for a, b in done if a == b] == [f"{films:,}", f"{profiles:,}"]  # each call's last line
    make_env(ML, encoder=tiny, user_context="profile", context_dim=DIM + 2)  # the same texts again
    err = capsys.readouterr().err
    assert "1,682 of 1,682 texts from the cache" in err and "943 of 943 texts from the cache" in err
    assert "encoded" not in err


def test_context_benchmark_quick(tmp_path: Path) -> None:
    import subprocess
    import sys

    argv = [sys.executable, str(ROOT / "benchmarks" / "context.py"), "--quick", "--out", str(tmp_path)]
    argv += ["--contexts", "bow:16", "--context-agents", "linucb-shared", "--id-agents", "ucb1"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = (tmp_path / "summary.md").read_text()
    assert "| agent | bow | ids only |" in summary and "| linucb-shared | " in summary and "| ucb1 | " in summary
    assert "R² of the expected reward" in summary and "Reading it:" in summary
    assert (tmp_path / "regret.png").stat().st_size > 5000 and len(list(tmp_path.glob("context__*.json"))) == 4
