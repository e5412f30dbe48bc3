"""Smoke-run every benchmark script with a tiny budget (CleanRL's habit): they must not rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["throughput.py"])
def test_benchmark_script_runs_quick(script: str, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
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
        timeout=300,
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
    assert len(list(out.glob("session__*.json"))) == 5  # random, linucb, dqn, ppo, a2c


def test_loop_benchmark_runs_quick_and_tabulates(tmp_path: Path) -> None:
    out = tmp_path / "loop.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "loop.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
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
        timeout=60,
    )
    assert table.returncode == 0, table.stderr[-2000:]
    assert "| Synthetic-v0 | 64 | linucb-shared |" in table.stdout and "before |" in table.stdout
