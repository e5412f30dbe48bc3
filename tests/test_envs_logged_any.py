"""Logged-v0 on a plain-format folder (graded rewards, feature columns) and ``recbandit data fit``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from recbandit.cli import main
from recbandit.envs import make_env
from recbandit.envs.logged import like_rule, load_log

ENV = "recbandit/Logged-v0"
GENRES = ("jazz", "rock", "folk", "techno")


def write_plain_log(folder: Path, seed: int = 0, n_users: int = 120, n_items: int = 50, per_user: int = 24) -> Path:
    """A music-listening log: play counts (graded) of tracks chosen by taste; user and item feature columns."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    genre = rng.integers(len(GENRES), size=n_items)
    energy = rng.random(n_items)
    age = rng.integers(18, 70, size=n_users)
    fav = rng.integers(len(GENRES), size=n_users)
    with open(folder / "items.csv", "w") as f:
        f.write("item,text,energy," + ",".join(GENRES) + "\n")
        for i in range(n_items):
            onehot = ",".join("1" if g == genre[i] else "0" for g in range(len(GENRES)))
            f.write(f't{i},"Track {i}, a {GENRES[genre[i]]} tune",{energy[i]:.3f},{onehot}\n')
    with open(folder / "users.csv", "w") as f:
        f.write("user,text,age,night_owl\n")
        for u in range(n_users):
            f.write(f"u{u},listens to {GENRES[fav[u]]},{age[u]},{int(rng.random() < 0.5)}\n")
    rows = []
    for u in range(n_users):
        affinity = 2.0 * (genre == fav[u]) - 0.03 * np.abs(age[u] - 40) * energy + rng.normal(0, 0.5, n_items)
        p = np.exp(affinity) / np.exp(affinity).sum()
        chosen = rng.choice(n_items, size=per_user, replace=False, p=p)
        plays = rng.poisson(np.exp(0.8 * affinity[chosen] + 0.5))
        t0 = 1_600_000_000 + rng.integers(0, 10_000_000)
        for k, (i, c) in enumerate(zip(chosen, plays, strict=True)):
            rows.append((t0 + 3600 * k, f"u{u}", f"t{i}", int(c)))
    rows.sort()
    with open(folder / "interactions.csv", "w") as f:
        f.write("user,item,reward,timestamp\n")
        for t, u, i, c in rows:
            f.write(f"{u},{i},{c},{t}\n")
    return folder


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plain_log(tmp_path_factory.mktemp("plain") / "my-music")


def test_graded_rewards_become_likes_by_a_documented_rule(plain: Path) -> None:
    data = load_log(plain)
    median = float(np.median(data.interactions.reward))
    assert data.reward_kind == "rating" and data.rating_threshold == median
    assert "median" in data.meta["like_rule"]
    np.testing.assert_array_equal(data.binary_reward(), data.interactions.reward >= median)
    assert load_log(plain, like_threshold=5).rating_threshold == 5.0
    assert like_rule(data, 3)[1] == "reward >= 3 is a like (like_threshold)"
    with pytest.raises(ValueError, match="every reward is a non-like; give like_threshold="):
        load_log(plain, like_threshold=1e6)


def test_logged_env_contract_and_report(plain: Path) -> None:
    env = make_env(ENV, path=str(plain), k=5, context_dim=6)
    rep = env.fit_report
    assert rep["dataset"] == "plain/my-music" and rep["protocol"]["name"] == "per-user"
    assert rep["simulation"]["format"] == "plain" and rep["simulation"]["user_context"] == "profile"
    assert rep["zero_context_share"] < 0.1
    assert rep["model"]["user_auc"] > rep["popularity"]["user_auc"]  # tastes by genre are personal
    assert "median" in rep["like_rule"]
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"user", "items", "item_ids"}  # contexts only: no truth parameters, no labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    with pytest.raises(ValueError, match="k must be at most the number of items"):
        make_env(ENV, path=str(plain), k=500)
    with pytest.raises(ValueError, match="Logged-v0 needs path="):
        make_env(ENV)
    with pytest.raises(ValueError, match="like_threshold=, not rating_threshold="):
        make_env(ENV, path=str(plain), rating_threshold=3)


def test_run_end_to_end_through_the_cli(plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "runs"
    argv = ["run", "--env", ENV, "--env-arg", f"path={plain}", "--env-arg", "like_threshold=3",
            "--horizon", "300", "--agents", "random,linucb-shared", "--seeds", "2", "--out", str(out),
            "--quiet", "--no-plot"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "linucb-shared" in text and "random" in text
    # The fidelity line comes before the runs' table, and names the log.
    first = text.splitlines()[0]
    assert first.startswith("fidelity of plain/my-music's truth") and "vs popularity" in first
    records = [json.loads(p.read_text()) for p in out.rglob("*.json") if p.name != "sweep.json"]
    records = [r for r in records if "cumulative_regret" in r]
    assert len(records) == 4 and all(r["env"] == ENV for r in records)
    # The full report is in every record, the same one the line summarises.
    assert all(r["fit_report"]["model"]["auc"] == records[0]["fit_report"]["model"]["auc"] for r in records)
    assert f"AUC {records[0]['fit_report']['model']['auc']:.3f}" in first


def test_data_fit_prints_the_table(plain: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "fit", str(plain), "--model", "mf", "--like-threshold", "3"]) == 0
    text = capsys.readouterr().out
    assert "plain/my-music: truth 'mf'" in text and "| model |" in text and "| popularity |" in text
    assert "| item_rate |" in text and "| cold items |" in text
    assert "like rule: reward >= 3 is a like (like_threshold)" in text
    assert main(["data", "fit", str(plain), "--model", "mf", "--protocol", "global", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"]["name"] == "global" and report["split_time"] is not None


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--model", "deep"], "unknown model 'deep'"),
        (["--protocol", "random"], "unknown protocol 'random'"),
        (["--holdout", "1.5"], "holdout must be a finite number"),
        (["--like-threshold", "1000"], "every reward is a non-like"),
    ],
)
def test_data_fit_bad_arguments_exit_2(plain: Path, args: list, match: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "fit", str(plain), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("recbandit data: error: ") and match in err and len(err.splitlines()) == 1


def test_data_fit_bad_folder_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "fit", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    bad = write_plain_log(tmp_path / "bad", n_users=10)
    lines = (bad / "interactions.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",yesterday"
    (bad / "interactions.csv").write_text("\n".join(lines) + "\n")
    assert main(["data", "fit", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "interactions.csv line 4" in err and "timestamp" in err and len(err.strip().splitlines()) == 1


def test_data_fit_on_obd_refuses_a_per_user_split(capsys: pytest.CaptureFixture) -> None:
    from recbandit.data.fetch import DatasetNotFoundError, find_data_folder

    try:
        folder = find_data_folder(None, "obd-sample")
    except DatasetNotFoundError as exc:
        pytest.skip(f"OBD data not found: {exc}")
    assert main(["data", "fit", str(folder), "--protocol", "per-user"]) == 2
    assert "split by time only" in capsys.readouterr().err
