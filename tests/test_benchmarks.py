"""Smoke-run every benchmark script with a tiny budget (CleanRL's habit): they must not rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["throughput.py"])
def test_benchmark_script_runs_quick(script: str, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "decisions/s" in proc.stdout
    assert out.exists() and out.stat().st_size > 0


def test_session_benchmark_runs_quick(tmp_path: Path) -> None:
    out = tmp_path / "session"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "session.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| myopic oracle (true state) | 1 | 3,200 |" in proc.stdout and "| ppo | 1 | 3,200 |" in proc.stdout
    assert "| a2c | 1 | 3,200 |" in proc.stdout
    # Each row names what its interval is over: the references' sessions of one seed, the agents' seeds.
    refs = json.loads((out / "summary.json").read_text())["references"]
    n = refs["myopic oracle"]["sessions"]
    assert n > 1 and f"| myopic oracle (true state) | 1 | 3,200 | {n:,} sessions of 1 seed |" in proc.stdout
    assert "| ppo | 1 | 3,200 | 1 seed (no interval) |" in proc.stdout
    assert (out / "summary.md").stat().st_size > 0 and (out / "session_curves.png").stat().st_size > 5000
    assert len(list(out.glob("session__*.json"))) == 6  # random, linucb, neural-linear, dqn, ppo, a2c


def test_fidelity_benchmark_runs_quick(tmp_path: Path) -> None:
    """Both faithfulness checks end to end on a tiny known world (and OBD when the sample is there)."""
    from _data import SHARED

    out = tmp_path / "fidelity"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fidelity.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,  # the quick logs go to ./runs
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((out / "summary.json").read_text())
    policies = record["known_world"]["policies"]
    assert set(policies) == {"uniform", "skewed"}
    for entry in policies.values():
        scores = entry["sizes"]["20000"]
        # The true probabilities rank the fresh clicks better than chance; the fitted ones learned something.
        assert 0.6 < scores["true"]["auc"] < 1 and 0.55 < scores["fitted"]["auc"] < 1
        assert scores["auc_gap"] == scores["fitted"]["auc"] - scores["true"]["auc"]
        assert scores["rows_per_user"] == 100 and scores["truth"] in ("mf", "two-tower", "logistic-mf")
        tau = entry["tau"]
        assert -1 <= tau["tau_means"] <= 1 and len(tau["seed_pairs"]["values"]) == 4  # 2 seeds x 2 seeds
        assert np.array(entry["regret"]["fitted"]).shape == (3, 2) and np.array(entry["regret"]["true"]).min() > 0
    assert len(list((out / "runs").glob("fidelity-*.json"))) == 3 * 2 * 3  # agents x seeds x (true + 2 fitted)
    md = (out / "summary.md").read_text()
    assert "| uniform | 20,000 |" in md and "Kendall tau" in md
    obd = record["obd_bts_ctr"]
    if obd is None:  # only where no copy of the sample is found
        assert "(b) skipped" in proc.stdout and not (SHARED / "obd").is_dir()
        return
    for name in ("bts", "random"):
        observed, predicted = obd["observed"][name], obd["predicted"][name]
        assert observed["ctr"] == observed["clicks"] / observed["rows"]
        assert observed["wilson95"][0] < observed["ctr"] < observed["wilson95"][1]
        lo, hi = predicted["visitor_bootstrap95_pooled_over_fit_seeds"]
        assert 0 < lo <= predicted["mean_over_fit_seeds"] <= hi < 0.1
    # BTS's distribution averaged over positions is a distribution over the campaign's items.
    assert abs(sum(obd["position_shares_bts"]) - 1) < 1e-12
    assert "Bernoulli TS's CTR predicted" in md


def test_loop_benchmark_runs_quick_and_tabulates(tmp_path: Path) -> None:
    out = tmp_path / "loop.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "loop.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "decisions/s" in proc.stdout
    result = json.loads(out.read_text())
    cells = {(c["batch"], c["agent"]): c for c in result["cells"]}
    assert set(cells) == {(1, "random"), (1, "linucb-shared"), (64, "random"), (64, "linucb-shared")}
    for cell in cells.values():
        # The split adds up to the loop: env + agent + bookkeeping = 1e6 / decisions_per_s.
        total = cell["env_us"] + cell["agent_us"] + cell["bookkeeping_us"]
        assert total == pytest.approx(1e6 / cell["decisions_per_s"], rel=1e-6) or cell["bookkeeping_us"] == 0
        assert cell["bound_us"] > 0 and cell["fraction"] > 0
    variants = {r["variant"] for r in result["raw_env"]}
    assert {"single env (make_env, unwrapped)", "single env (gym.make, wrappers)", "batched env B=64"} <= variants
    table = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "loop.py"), "--table", str(out), "--before", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert table.returncode == 0, table.stderr[-2000:]
    assert "| Synthetic-v0 | 64 | linucb-shared |" in table.stdout and "before |" in table.stdout


def test_coldstart_and_cost_run_quick(tmp_path: Path) -> None:
    cold = tmp_path / "coldstart"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "coldstart.py"), "--quick", "--out", str(cold)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Two envs x (2 contexts x 3 agents + TS once) x 2 seeds, each record with its cold metrics.
    records = [json.loads(p.read_text()) for p in cold.glob("coldstart__*.json")]
    assert len(records) == 28
    assert all(r["cold"]["candidates"]["decisions"] > 0 and r["cold"]["new_users"]["arrived"] > 0 for r in records)
    assert "| item id only | ts |" in proc.stdout and "| bow:64 − bow |" in proc.stdout
    summary = json.loads((cold / "summary.json").read_text())
    assert {d["versus"] for d in summary["hybrid_minus_best"]} == {"better of ts, linucb-shared", "best other agent"}
    assert (cold / "cold_regret.png").stat().st_size > 5000
    # Resuming runs nothing again.
    again = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "coldstart.py"), "--quick", "--out", str(cold)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert again.returncode == 0 and "sweep 0 s" in again.stdout
    out = tmp_path / "cost"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cost.py"), "--quick", "--coldstart", str(cold / "summary.json")]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((out / "cost.json").read_text())
    points = result["frontier"]["synthetic, vocab shift"]
    assert {p["context"] for p in points} == {"bow", "bow:64"}
    assert next(p for p in points if p["context"] == "bow")["reduction"] == 0.0
    sizes = result["sizes"]
    assert [s["config"] for s in sizes] == ["mini (L4/H256)", "small (L4/H512)"]
    # FLOPs grow with size; LoRA trains fewer weights than the top layer of the same model.
    assert sizes[0]["encode"]["flops_per_1000"] < sizes[1]["encode"]["flops_per_1000"]
    assert all(s["lora"]["trainable"] < s["top-k"]["trainable"] for s in sizes)
    assert "not measured" in proc.stdout


def test_session_tuned_rows_take_the_chosen_setting_from_tune_json(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import session  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    base = session.agents(200_000, quick=False)
    tune = {
        "env": "recbandit/Session-v0",
        "agent": "dqn",
        "batch_size": 16,
        "horizon": 50_000,
        "fixed": {"total_timesteps": 50_000, "learning_starts": 2000},
        "chosen": {"params": {"learning_rate": 1e-3, "gamma": 0.99}, "objective": 5.0, "ci95": 0.2, "seeds_done": 2},
    }
    other_env = {**tune, "env": "recbandit/SessionMovieLens100K-v0"}
    not_chosen = {**tune, "agent": "ppo", "chosen": None}
    for name, content in (("dqn", tune), ("ml", other_env), ("ppo", not_chosen)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tune.json").write_text(json.dumps(content))
    rows, found = session.tuned_agents(base, tmp_path, "recbandit/Session-v0", 16, 200_000)
    assert [(label, name) for label, name, _ in rows] == [("dqn (tuned)", "dqn")]
    params = rows[0][2]
    hand_picked = next(p for label, _, p in base if label == "dqn")
    # the chosen values win, the base row's other settings stay, the schedule follows this horizon
    assert params["learning_rate"] == 1e-3 and params["gamma"] == 0.99
    assert params["batch_size"] == hand_picked["batch_size"] and params["total_timesteps"] == 200_000
    assert found["dqn (tuned)"]["base"] == "dqn"
    assert session.shout("dqn (tuned)") == "DQN (tuned)" and session.shout("ppo") == "PPO"
