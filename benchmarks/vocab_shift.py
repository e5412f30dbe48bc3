"""Does Synthetic-v0's vocabulary shift do what it says? Cold-item transfer of each encoder's contexts.

For each catalogue seed, vocabulary shift and encoder: build the item contexts exactly as
Synthetic-v0 does (encoder -> PCA ``context_dim``), fit a ridge regression on the warm
items (arrival 0) from contexts to the truth, and score it on the cold items
(``recbandit.envs.transfer.cold_transfer``): R² of the true topic mixtures, accuracy of
the top topic, R² of the item's mean click probability over all users. No agent runs.

Expected if the knob works: at shift 0 (the control) bag of words and MiniLM transfer
about equally; at shift 1 the bag of words falls to chance (its cold items share no word
with the warm ones) and MiniLM holds. The table gives means over catalogue seeds with 95%
Student-t intervals and the paired difference MiniLM minus bag of words per shift.

Usage::

    python benchmarks/vocab_shift.py            # 5 seeds, shifts 0 and 1, bow:256 and minilm
    python benchmarks/vocab_shift.py --quick    # smoke run: small catalogue, 2 seeds, bow only
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from recbandit.envs.synthetic import make_config
from recbandit.envs.transfer import cold_transfer
from recbandit.evaluation.metrics import mean_ci
from recbandit.evaluation.results import atomic_write_bytes, machine, versions

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "vocab_shift.json"
METRICS = ("topics_r2", "top_topic_accuracy", "ctr_r2")


@dataclass
class Args:
    """Cold-item transfer (R², accuracy) of bag-of-words vs MiniLM contexts with and without the vocabulary shift."""

    seeds: int = 5
    """catalogue seeds 0 .. seeds-1"""
    shifts: tuple[float, ...] = (0.0, 1.0)
    """vocab_shift values"""
    encoders: tuple[str, ...] = ("bow:256", "minilm")
    """encoder specs (the first is the baseline of the differences)"""
    n_items: int = 1000
    """catalogue items (20% arrive late: the cold items)"""
    n_users: int = 2000
    """catalogue users (the mean click rate is over all of them)"""
    l2: float = 1.0
    """ridge penalty"""
    quick: bool = False
    """smoke run: 200 items, 100 users, 2 seeds, bow:256 only; writes nothing unless --out"""
    out: Path | None = None
    """JSON results file (default benchmarks/results/vocab_shift.json; none with --quick)"""


def run(args: Args) -> dict[str, Any]:
    """Every (shift, encoder, seed) cell; returns the JSON document."""
    cells = []
    for shift in args.shifts:
        for spec in args.encoders:
            for seed in range(args.seeds):
                config = make_config(n_items=args.n_items, n_users=args.n_users, seed=seed, vocab_shift=shift)
                t0 = time.perf_counter()
                res = cold_transfer(config, spec, l2=args.l2)
                res.update(shift=shift, spec=spec, seed=seed, seconds=time.perf_counter() - t0)
                cells.append(res)
                print(f"shift {shift:g} {spec:8s} seed {seed}: " + ", ".join(f"{m} {res[m]:.3f}" for m in METRICS))
    return {
        "benchmark": "vocab_shift",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(args).items()},
        "cells": cells,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
    }


def table(doc: dict[str, Any]) -> str:
    """Markdown: mean ± 95% half-width over seeds per (shift, encoder), then paired differences."""
    cells = doc["cells"]
    shifts = sorted({c["shift"] for c in cells})
    specs = list(dict.fromkeys(c["spec"] for c in cells))
    n = len({c["seed"] for c in cells})

    def values(shift: float, spec: str, metric: str) -> np.ndarray:
        rows = sorted((c for c in cells if c["shift"] == shift and c["spec"] == spec), key=lambda c: c["seed"])
        return np.array([c[metric] for c in rows])

    def fmt(v: np.ndarray) -> str:
        mean, half = mean_ci(v)
        return f"{float(mean):.3f}" + ("" if np.isnan(half) else f" ± {float(half):.3f}")

    lines = [
        f"Cold-item transfer on Synthetic-v0 ({n} catalogue seeds, mean ± 95% t-interval; ridge fitted on warm items)",
        "",
        "| vocab_shift | encoder | topics R² (cold) | top-topic accuracy (cold) | mean CTR R² (cold) "
        "| topics R² (warm, fit) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for shift in shifts:
        for spec in specs:
            row = [fmt(values(shift, spec, m)) for m in (*METRICS, "topics_r2_train")]
            lines.append(f"| {shift:g} | {spec} | " + " | ".join(row) + " |")
    if len(specs) > 1:
        base = specs[0]
        lines += ["", f"Paired difference (encoder minus {base}, same catalogue seeds):", ""]
        lines += [
            "| vocab_shift | encoder | Δ topics R² | Δ top-topic accuracy | Δ mean CTR R² |",
            "| --- | --- | --- | --- | --- |",
        ]
        for shift in shifts:
            for spec in specs[1:]:
                row = [fmt(values(shift, spec, m) - values(shift, base, m)) for m in METRICS]
                lines.append(f"| {shift:g} | {spec} | " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = tyro.cli(Args)
    if args.quick:
        args.seeds, args.n_items, args.n_users = 2, 200, 100
        if args.encoders == Args.encoders:
            args.encoders = ("bow:256",)
    t0 = time.perf_counter()
    doc = run(args)
    doc["seconds"] = time.perf_counter() - t0
    text = table(doc)
    print()
    print(text)
    print(f"\n{len(doc['cells'])} cells in {doc['seconds']:.0f} s")
    out = args.out if (args.out is not None or args.quick) else DEFAULT_OUT
    if out is not None:
        atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
        atomic_write_bytes(out.with_suffix(".md"), (text + "\n").encode())
