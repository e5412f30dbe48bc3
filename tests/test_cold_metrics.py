"""Cold-start metrics: hand-computed cases, a loop reference on random logs, None cases, end to end."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recbandit.agents import make_agent
from recbandit.envs import make_env
from recbandit.envs.bandit import BanditEnv
from recbandit.envs.problem import BanditProblem
from recbandit.envs.user_models import LatentFactorUserModel
from recbandit.evaluation import RunSpec, execute, plot_cold, run, summary_rows, summary_table
from recbandit.evaluation.cold import cold_metrics, first_rows
from recbandit.evaluation.metrics import checkpoints
from recbandit.evaluation.runlog import RunLog
from recbandit.evaluation.runner import EnvFacts

ENV = "recbandit/Synthetic-v0"
SMALL = {"n_items": 200, "n_users": 100}


def make_log(**arrays: Any) -> RunLog:
    log = RunLog.empty(len(arrays["regret"]))
    for name, values in arrays.items():
        getattr(log, name)[:] = values
    return log


# A 10-decision log. Items: 0, 1 initial; 2 arrives at 2 (never shown), 3 at 1, 4 at 4, 5 at 20
# (after the run: not new). Users: 0 initial, 1 arrives at 1, 2 at 4, 3 at 50 (not new).
HAND = {
    "items": [0, 3, 3, 1, 4, 3, 4, 0, 3, 4],
    "users": [0, 1, 0, 1, 2, 2, 1, 2, 2, 0],
    "regret": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    "rewards": [0, 0, 1, 0, 0, 1, 1, 0, 0, 0],
    "cold": [0, 1, 1, 0, 1, 0, 1, 0, 0, 0],  # item 3 cold for decisions 1-3, item 4 for 4-6
    "cold_offered": [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0, 0],  # K = 2
}
ITEM_ARRIVAL = np.array([0, 0, 2, 1, 4, 20])
USER_ARRIVAL = np.array([0, 1, 4, 50])


@pytest.fixture
def hand() -> dict[str, Any]:
    return cold_metrics(make_log(**HAND), ITEM_ARRIVAL, USER_ARRIVAL, item_first_n=2, user_first_n=2)


def test_cold_impressions_and_share_by_hand(hand: dict[str, Any]) -> None:
    # Decisions 1, 2, 4, 6 chose a cold item.
    assert hand["decisions"] == 4
    assert hand["regret"] == pytest.approx(0.2 + 0.3 + 0.5 + 0.7)
    assert hand["mean_regret"] == pytest.approx(1.7 / 4)
    assert hand["share"] == pytest.approx(0.4)
    assert hand["share_offered"] == pytest.approx(0.3)


def test_decisions_with_a_cold_candidate_by_hand(hand: dict[str, Any]) -> None:
    cand = hand["candidates"]  # decisions 1..6; the others are 0, 7, 8, 9
    assert cand["decisions"] == 6
    assert cand["regret"] == pytest.approx(2.7)
    assert cand["mean_regret"] == pytest.approx(2.7 / 6)
    assert cand["ctr"] == pytest.approx(3 / 6)
    assert cand["other_mean_regret"] == pytest.approx(2.8 / 4)
    assert cand["other_ctr"] == 0.0


def test_new_items_by_hand(hand: dict[str, Any]) -> None:
    new = hand["new_items"]
    # New items 2, 3, 4; item 3 is shown at 1, 2, 5, 8 and item 4 at 4, 6, 9: first two of each.
    assert (new["arrived"], new["shown"], new["first_n"], new["impressions"]) == (3, 2, 2, 4)
    assert new["regret"] == pytest.approx(0.2 + 0.3 + 0.5 + 0.7)
    assert new["mean_regret"] == pytest.approx(1.7 / 4)
    assert new["ctr"] == pytest.approx(2 / 4)
    # Shown at arrival (3: 1 - 1, 4: 4 - 4); item 2 never: censored at 10 - 2.
    assert new["first_shown"] == {"mean": pytest.approx(8 / 3), "median": 0.0, "censored": 1}
    # First clicks: item 3 at 2 (1 after arrival), item 4 at 6 (2 after); item 2 censored at 8.
    assert new["first_clicked"] == {"mean": pytest.approx(11 / 3), "median": 2.0, "censored": 1}


def test_new_users_by_hand(hand: dict[str, Any]) -> None:
    new = hand["new_users"]
    # User 1 is served at 1, 3, 6 and user 2 at 4, 5, 7, 8: first two of each.
    assert (new["arrived"], new["seen"], new["first_n"], new["decisions"]) == (2, 2, 2, 4)
    assert new["regret"] == pytest.approx(0.2 + 0.4 + 0.5 + 0.6)
    assert new["mean_regret"] == pytest.approx(1.7 / 4)
    assert new["ctr"] == pytest.approx(1 / 4)


def test_curves_by_hand_and_their_last_points_are_the_totals(hand: dict[str, Any]) -> None:
    curve = hand["curve"]
    assert curve["t"] == list(range(1, 11))  # checkpoints of 10 decisions: every one
    regret = np.array(HAND["regret"])
    np.testing.assert_allclose(curve["candidates_regret"], np.cumsum(regret * (np.array(HAND["cold_offered"]) > 0)))
    np.testing.assert_allclose(curve["new_item_regret"], np.cumsum(regret * np.isin(np.arange(10), [1, 2, 4, 6])))
    np.testing.assert_allclose(curve["new_user_regret"], np.cumsum(regret * np.isin(np.arange(10), [1, 3, 4, 5])))
    np.testing.assert_allclose(curve["share"], np.cumsum(HAND["cold"]) / np.arange(1, 11))
    np.testing.assert_allclose(curve["share_offered"], np.cumsum(HAND["cold_offered"]) / np.arange(1, 11), rtol=1e-6)
    assert curve["candidates_regret"][-1] == hand["candidates"]["regret"]
    assert curve["new_item_regret"][-1] == hand["new_items"]["regret"]
    assert curve["new_user_regret"][-1] == hand["new_users"]["regret"]
    assert curve["share"][-1] == hand["share"]
    assert curve["share_offered"][-1] == hand["share_offered"]


def test_first_n_larger_than_any_count_keeps_every_impression() -> None:
    out = cold_metrics(make_log(**HAND), ITEM_ARRIVAL, USER_ARRIVAL, item_first_n=50, user_first_n=20)
    assert out["new_items"]["impressions"] == 7  # 4 of item 3, 3 of item 4
    assert out["new_users"]["decisions"] == 7  # 3 of user 1, 4 of user 2
    assert out["new_items"]["first_n"] == 50 and out["new_users"]["first_n"] == 20


def test_no_new_items_or_users_gives_none_and_the_record_stays_strict_json() -> None:
    quiet = {**HAND, "cold": [0] * 10, "cold_offered": [0] * 10}
    for item_arrival in (None, np.zeros(6, np.int64), np.array([0, 0, 10, 10, 11, 20])):  # none, all at 0, after
        out = cold_metrics(make_log(**quiet), item_arrival, None)
        assert out["new_items"] is None and out["new_users"] is None
        assert out["curve"]["new_item_regret"] is None and out["curve"]["new_user_regret"] is None
        assert (out["decisions"], out["regret"], out["mean_regret"], out["share"]) == (0, 0.0, None, 0.0)
        cand = out["candidates"]
        assert (cand["decisions"], cand["regret"], cand["mean_regret"], cand["ctr"]) == (0, 0.0, None, None)
        assert cand["other_mean_regret"] == pytest.approx(np.mean(HAND["regret"]))
        json.dumps(out, allow_nan=False)
    # New items that no decision ever showed: every one censored, no impressions.
    out = cold_metrics(make_log(**quiet), np.array([0, 0, 0, 0, 0, 3]), np.zeros(4, np.int64))
    new = out["new_items"]
    assert (new["arrived"], new["shown"], new["impressions"], new["mean_regret"], new["ctr"]) == (1, 0, 0, None, None)
    assert new["first_shown"] == {"mean": 7.0, "median": 7.0, "censored": 1} == new["first_clicked"]
    assert out["new_users"] is None
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_first_n_must_be_a_positive_integer(n: Any) -> None:
    with pytest.raises(ValueError, match=r"^item_first_n must be an integer >= 1"):
        cold_metrics(make_log(**HAND), ITEM_ARRIVAL, None, item_first_n=n)
    with pytest.raises(ValueError, match=r"^user_first_n must be an integer >= 1"):
        cold_metrics(make_log(**HAND), ITEM_ARRIVAL, None, user_first_n=n)


def test_first_rows_of_nothing() -> None:
    within, keys, first = first_rows(np.array([3, 1, 2]), np.array([], np.int64), 5)
    assert within.shape == keys.shape == first.shape == (0,)


def reference(log: RunLog, item_arrival: np.ndarray, user_arrival: np.ndarray, n_item: int, n_user: int) -> dict:
    """The metrics by a plain loop over decisions (what the vectorised code must equal)."""
    horizon = len(log.regret)
    seen: dict[str, dict[int, int]] = {"item": {}, "user": {}}
    first_shown: dict[int, int] = {}
    first_click: dict[int, int] = {}
    item_regret = user_regret = 0.0
    for t in range(horizon):
        item, user = int(log.items[t]), int(log.users[t])
        if 0 < item_arrival[item] < horizon:
            seen["item"][item] = seen["item"].get(item, 0) + 1
            if seen["item"][item] <= n_item:
                item_regret += log.regret[t]
            first_shown.setdefault(item, t)
            if log.rewards[t] > 0:
                first_click.setdefault(item, t)
        if 0 < user_arrival[user] < horizon:
            seen["user"][user] = seen["user"].get(user, 0) + 1
            if seen["user"][user] <= n_user:
                user_regret += log.regret[t]
    new = [i for i in range(len(item_arrival)) if 0 < item_arrival[i] < horizon]
    shown = [first_shown.get(i, horizon) - item_arrival[i] for i in new]
    clicked = [first_click.get(i, horizon) - item_arrival[i] for i in new]
    return {
        "item_impressions": sum(min(c, n_item) for c in seen["item"].values()),
        "item_regret": item_regret,
        "user_decisions": sum(min(c, n_user) for c in seen["user"].values()),
        "user_regret": user_regret,
        "shown": len(seen["item"]),
        "seen": len(seen["user"]),
        "first_shown": (np.mean(shown), np.median(shown), sum(i not in first_shown for i in new)),
        "first_clicked": (np.mean(clicked), np.median(clicked), sum(i not in first_click for i in new)),
    }


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_metrics_equal_a_loop_over_decisions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    horizon, n_items, n_users = 2000, 40, 30
    item_arrival = np.where(rng.random(n_items) < 0.5, 0, rng.integers(1, horizon + 200, n_items))
    user_arrival = np.where(rng.random(n_users) < 0.5, 0, rng.integers(1, horizon + 200, n_users))
    log = make_log(
        items=rng.integers(n_items, size=horizon),
        users=rng.integers(n_users, size=horizon),
        regret=rng.random(horizon),
        rewards=(rng.random(horizon) < 0.05).astype(float),
    )
    n_item, n_user = int(rng.integers(1, 60)), int(rng.integers(1, 80))
    out = cold_metrics(log, item_arrival, user_arrival, n_item, n_user)
    ref = reference(log, item_arrival, user_arrival, n_item, n_user)
    new_items, new_users = out["new_items"], out["new_users"]
    assert new_items["impressions"] == ref["item_impressions"] and new_items["shown"] == ref["shown"]
    assert new_items["regret"] == pytest.approx(ref["item_regret"])
    assert new_users["decisions"] == ref["user_decisions"] and new_users["seen"] == ref["seen"]
    assert new_users["regret"] == pytest.approx(ref["user_regret"])
    for key in ("first_shown", "first_clicked"):
        got = new_items[key]
        assert (got["mean"], got["median"], got["censored"]) == pytest.approx(ref[key])


# --------------------------------------------------------------------------- through the runner


def test_new_users_through_the_runner_on_a_hand_built_env() -> None:
    """A problem with a user schedule and a user arrival schedule set by hand: user 2 arrives at 6, user 3 never."""
    rng = np.random.default_rng(0)
    model = LatentFactorUserModel(rng.normal(size=(4, 2)), rng.normal(size=(8, 2)), np.zeros(8))
    problem = BanditProblem(
        user_model=model,
        user_contexts=np.eye(4, dtype=np.float32),
        item_contexts=rng.normal(size=(8, 3)).astype(np.float32),
        k=3,
        item_arrival=np.array([0, 0, 0, 0, 0, 4, 8, 100]),
        cold_window=5,
        user_schedule=np.array([0, 1, 0, 1, 0, 1, 2, 2, 0, 2, 1, 2]),
    )
    problem.user_arrival = np.array([0, 0, 6, 100])  # type: ignore[attr-defined]
    env = BanditEnv(problem)
    facts = EnvFacts.of(env)
    assert facts.user_arrival is problem.user_arrival  # type: ignore[attr-defined]
    np.testing.assert_array_equal(facts.item_arrival, problem.item_arrival)  # type: ignore[arg-type]
    horizon = 24
    metrics, log = run(env, make_agent("random"), horizon, seed=3)
    cold = metrics["cold"]
    users = cold["new_users"]
    served = np.flatnonzero(log.users == 2)  # the schedule serves user 2 at 6, 7, 9, 11, 18, ...
    np.testing.assert_array_equal(served, [6, 7, 9, 11, 18, 19, 21, 23])
    assert (users["arrived"], users["seen"], users["decisions"]) == (1, 1, 8)
    assert users["regret"] == pytest.approx(log.regret[served].sum())
    # Items 5 (at 4) and 6 (at 8) are new; item 7 arrives after the run.
    assert cold["new_items"]["arrived"] == 2
    # The env's cold flags: the candidates of decisions 4..8 (item 5) and 8..12 (item 6), when offered.
    assert cold["candidates"]["decisions"] == int((log.cold_offered > 0).sum()) > 0
    assert not (log.cold_offered[:4] > 0).any() and not (log.cold_offered[13:] > 0).any()
    assert cold["decisions"] == int(log.cold.sum())


def test_synthetic_v0_record_has_consistent_cold_metrics() -> None:
    horizon = 6000
    spec = RunSpec(ENV, "random", 0, horizon, batch_size=100, env_kwargs=SMALL)
    record = execute(spec)
    cold = record["cold"]
    env = make_env(ENV, batch_size=100, **SMALL)
    arrival = env.unwrapped.item_arrival  # type: ignore[attr-defined]
    arrived = int(((arrival > 0) & (arrival < horizon)).sum())
    assert arrived > 0
    assert cold["new_items"]["arrived"] == arrived and cold["new_users"] is None
    assert 0 < cold["candidates"]["decisions"] <= horizon
    assert 0 <= cold["candidates"]["regret"] <= record["cumulative_regret"] + 1e-9
    assert 0 <= cold["regret"] <= cold["candidates"]["regret"] + 1e-9  # a cold choice had a cold candidate
    assert 0.0 <= cold["share"] <= 1.0 and 0.0 < cold["share_offered"] <= 1.0
    assert cold["share"] == pytest.approx(cold["decisions"] / horizon)
    # A uniformly random agent shows cold items as often as they are offered (to sampling noise).
    assert cold["share"] == pytest.approx(cold["share_offered"], abs=0.02)
    new = cold["new_items"]
    assert new["impressions"] <= new["first_n"] * new["shown"] and new["shown"] <= new["arrived"]
    assert new["first_shown"]["censored"] <= new["first_clicked"]["censored"] <= new["arrived"]
    assert new["first_shown"]["mean"] <= new["first_clicked"]["mean"]
    curve = cold["curve"]
    assert curve["t"] == record["curve"]["t"] == checkpoints(horizon).tolist()
    assert curve["candidates_regret"][-1] == cold["candidates"]["regret"]
    assert curve["new_item_regret"][-1] == new["regret"]
    assert curve["share"][-1] == cold["share"] and curve["new_user_regret"] is None
    assert np.all(np.diff(curve["candidates_regret"]) >= 0) and np.all(np.diff(curve["new_item_regret"]) >= 0)
    json.dumps(record, allow_nan=False)


# --------------------------------------------------------------------------- table and plot


@pytest.fixture(scope="module")
def synthetic_records() -> list[dict[str, Any]]:
    return [execute(RunSpec(ENV, "random", seed, 3000, batch_size=100, env_kwargs=SMALL)) for seed in (0, 1)]


def table_cells(table: str, header: str) -> list[str]:
    lines = table.splitlines()
    heads = [c.strip() for c in lines[0].strip("|").split("|")]
    return [[c.strip() for c in line.strip("|").split("|")][heads.index(header)] for line in lines[2:]]


def test_summary_table_has_the_cold_column(synthetic_records: list[dict[str, Any]]) -> None:
    table = summary_table(synthetic_records)
    (cell,) = table_cells(table, "cold regret (95% CI) / share")
    regret, share = cell.split(" / ")
    mean = np.mean([r["cold"]["candidates"]["regret"] for r in synthetic_records])
    assert regret.startswith(f"{mean:.1f} ± ")
    assert float(share) == pytest.approx(np.mean([r["cold"]["share"] for r in synthetic_records]), abs=5e-4)
    assert "new-user regret" not in table  # Synthetic-v0 has no new users
    (row,) = summary_rows(synthetic_records)
    assert row["new_user_regret"] is None and row["cold_decisions"] > 0


def test_records_without_cold_candidates_have_no_cold_column_or_plot(
    synthetic_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    old = [copy.deepcopy(r) for r in synthetic_records]
    for r in old:  # what records held before the cold metrics
        r["cold"] = {k: r["cold"][k] for k in ("decisions", "regret", "mean_regret")}
    assert "cold regret" not in summary_table(old)
    assert summary_rows(old)[0]["cold_regret"] is None
    assert plot_cold(old, tmp_path) == []


@pytest.mark.parametrize("log_scale", [False, True])
def test_plot_cold_with_and_without_new_users(
    synthetic_records: list[dict[str, Any]], tmp_path: Path, log_scale: bool
) -> None:
    (path,) = plot_cold(synthetic_records, tmp_path / "a", log_scale=log_scale)
    assert path == tmp_path / "a" / "cold_recbandit_Synthetic-v0.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Records that have new users (made up here: the table and plot only read them) get their column and panel.
    with_users = [copy.deepcopy(r) for r in synthetic_records]
    for i, r in enumerate(with_users):
        users = {"arrived": 3, "seen": 3, "first_n": 20, "decisions": 60, "regret": 10.0 + i, "mean_regret": 0.2}
        r["cold"]["new_users"] = {**users, "ctr": 0.1}
        r["cold"]["curve"]["new_user_regret"] = np.linspace(0, 10.0 + i, len(r["cold"]["curve"]["t"])).tolist()
    (wide,) = plot_cold(with_users, tmp_path / "b", log_scale=log_scale)
    assert wide.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _png_width(wide) > _png_width(path)  # a third panel
    (cell,) = table_cells(summary_table(with_users), "new-user regret (95% CI)")
    assert cell.startswith("10.5 ± ")


def _png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")
