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


def test_coldstart_and_cost_run_quick(tmp_path: Path) -> None:
    cold = tmp_path / "coldstart"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "coldstart.py"), "--quick", "--out", str(cold)],
        capture_output=True,
        text=True,
        timeout=300,
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
        timeout=300,
    )
    assert again.returncode == 0 and "sweep 0 s" in again.stdout
    out = tmp_path / "cost"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cost.py"), "--quick", "--coldstart", str(cold / "summary.json")]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
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
