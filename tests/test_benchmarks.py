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
