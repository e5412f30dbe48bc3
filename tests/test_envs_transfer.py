"""Cold-item transfer of contexts (``recbandit.envs.transfer``) and what the vocabulary shift does to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recbandit.envs.synthetic import make_config, synthetic_problem
from recbandit.envs.transfer import cold_transfer, r2, ridge_fit_predict, synthetic_item_contexts

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"n_items": 300, "n_users": 100, "seed": 0}


def test_item_contexts_are_the_envs() -> None:
    config = make_config(**SMALL, vocab_shift=1.0)
    ctx, cat, cost = synthetic_item_contexts(config, "bow:256")
    assert np.array_equal(ctx, synthetic_problem(config, "bow:256").item_contexts)
    assert cost["encoder"].startswith("bow") and cat.n_items == 300


def test_ridge_recovers_a_linear_truth() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 4.0
    pred = ridge_fit_predict(x[:150], y[:150], x[150:], l2=1e-9)
    assert np.allclose(pred, y[150:]) and r2(y[150:], pred) == pytest.approx(1.0)
    assert r2(y, np.full_like(y, y.mean())) == pytest.approx(0.0)
    # Multi-column targets are fitted column by column and R² is pooled.
    both = ridge_fit_predict(x, np.c_[y, -y], x, l2=1e-9)
    assert np.allclose(both[:, 1], -y)


def test_bag_of_words_transfers_without_the_shift_and_not_with_it() -> None:
    control = cold_transfer(make_config(**SMALL), "bow:256")
    shifted = cold_transfer(make_config(**SMALL, vocab_shift=1.0), "bow:256")
    assert control["n_cold"] == shifted["n_cold"] == 60
    assert control["topics_r2"] > 0.6 and control["top_topic_accuracy"] > 0.7
    assert shifted["topics_r2"] < 0.1 and shifted["top_topic_accuracy"] < 0.4
    # The warm items (what the regression saw) are the same texts either way.
    assert shifted["topics_r2_train"] == pytest.approx(control["topics_r2_train"], abs=0.05)


@pytest.mark.integration
def test_minilm_holds_under_the_shift() -> None:
    control = cold_transfer(make_config(**SMALL), "minilm")
    shifted = cold_transfer(make_config(**SMALL, vocab_shift=1.0), "minilm")
    bow = cold_transfer(make_config(**SMALL, vocab_shift=1.0), "bow:256")
    assert shifted["topics_r2"] > 0.5 and shifted["topics_r2"] > control["topics_r2"] - 0.15
    assert shifted["topics_r2"] > bow["topics_r2"] + 0.4


def test_vocab_shift_benchmark_runs_quick(tmp_path: Path) -> None:
    out = tmp_path / "vs.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "vocab_shift.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| 0 | bow:256 |" in proc.stdout and "| 1 | bow:256 |" in proc.stdout
    assert out.exists() and out.with_suffix(".md").exists()
