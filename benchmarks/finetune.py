"""Fine-tuning all-MiniLM-L6-v2 on MovieLens 100K: frozen vs top-k vs LoRA, cost and held-out AUC.

The log is cut at the ``split_quantile`` time quantile of its ratings: the earlier part is
the training period, the later part the held-out (evaluation) period, never read by the
fits. A like is a rating >= 4. Item text is MovieLens' "Title (year) — Genre, Genre" (as
``recbandit.data.movielens.load_movielens`` produces it), user text the profile sentence
("A 24-year-old male technician.").

For each mode, :func:`recbandit.encoders.finetune.fine_tune` fits the two-tower like model
(item tower = the encoder on item text + a linear head; user tower = id embedding + mean
of liked training items + profile text; user and item biases) with early stopping on the
last ``max_validation_rows`` rows of the training period: first ``probe_epochs`` heads-only
passes over every earlier row (the frozen vectors are computed once, so this is cheap and
identical in every mode), then the mode's own training on a seeded sample of
``max_train_rows`` of those rows. Same seed, rows, heads and hyper-parameters in every mode; only what the encoder may
change in the second phase differs:

- ``frozen``: nothing (the heads alone are fitted: the baseline);
- ``top-k``: the last ``top_k`` transformer layers;
- ``lora``: rank-``lora_r`` adapters on the attention query and value projections.

Reported per mode: fit wall seconds, FLOPs (FlopCounterMode per distinct step shape, see
the finetune module), peak RSS, steps, validation AUC before/after, and the held-out AUC
and log loss of the two-tower model on every later-period rating (and on the ratings of
items first rated in the later period: cold items), with the seconds that scoring took.

Usage::

    nice python benchmarks/finetune.py            # writes benchmarks/results/finetune.json
    python benchmarks/finetune.py --quick         # smoke run (small slices); writes nothing unless --out
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import tyro

from recbandit.data.movielens import load_movielens
from recbandit.encoders.finetune import fine_tune, log_loss, roc_auc
from recbandit.encoders.text import TextEncoder
from recbandit.evaluation.results import atomic_write_bytes, machine, versions

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "finetune.json"


@dataclass
class Args:
    """Fit cost and held-out AUC of frozen, top-k and LoRA fine-tuning of MiniLM on MovieLens 100K."""

    data: Path | None = None
    """MovieLens 100K folder (default: $RECBANDIT_DATA/ml-100k, then ../shared/data/ml-100k)"""
    modes: tuple[str, ...] = ("frozen", "top-k", "lora")
    """fine-tuning modes to run"""
    split_quantile: float = 0.8
    """the training period is the ratings before this time quantile"""
    probe_epochs: int = 2
    """heads-only passes over the whole fit period before each mode's own training (same in every mode)"""
    probe_batch_size: int = 256
    """rows per heads-only step"""
    probe_lr: float = 5e-3
    """learning rate of the heads in the heads-only phase"""
    max_train_rows: int = 3000
    """fit rows (a seeded sample of the training period before validation) of each mode's own training"""
    max_validation_rows: int = 1000
    """latest training-period rows held out for early stopping"""
    max_length: int = 32
    """tokens per text (MovieLens titles with genres: 13 on average, 31 at most)"""
    epochs: int = 1
    """passes over the fit rows"""
    batch_size: int = 32
    """fit rows per step"""
    eval_every: int = 20
    """steps between validations (early stopping)"""
    patience: int = 3
    """validations without improvement before stopping"""
    lr_top_k: float = 5e-5
    """learning rate of the trained layers in top-k mode"""
    lr_lora: float = 5e-4
    """learning rate of the LoRA adapters"""
    head_lr: float = 5e-4
    """learning rate of the two-tower heads in each mode's own training (after the probe)"""
    top_k: int = 1
    """layers trained in top-k mode"""
    lora_r: int = 8
    """LoRA rank"""
    lora_alpha: float = 16.0
    """LoRA alpha"""
    projection_dim: int = 64
    """two-tower output size"""
    seed: int = 0
    """seed of every fit"""
    num_threads: int | None = None
    """torch CPU threads (default: torch's default, the number of physical cores)"""
    quick: bool = False
    """smoke run: 256 fit rows, 128 validation rows, 1 epoch; writes nothing unless --out is given"""
    save_dir: Path | None = None
    """also save each tuned encoder to SAVE_DIR/MODE (safetensors + manifest; usable as encoder=tuned:SAVE_DIR/MODE)"""
    out: Path | None = None
    """results JSON (default benchmarks/results/finetune.json; none with --quick)"""


def find_movielens(explicit: Path | None) -> Path:
    candidates = [explicit] if explicit is not None else []
    if os.environ.get("RECBANDIT_DATA"):
        candidates.append(Path(os.environ["RECBANDIT_DATA"]) / "ml-100k")
    candidates += [ROOT.parent / "shared" / "data" / "ml-100k", ROOT / "shared" / "data" / "ml-100k"]
    for folder in candidates:
        if (folder / "u.data").is_file() and (folder / "u.item").is_file():
            return folder
    raise SystemExit(f"MovieLens 100K not found (tried {', '.join(map(str, candidates))}); pass --data")


def main(args: Args) -> dict[str, Any]:
    if args.quick:
        args.max_train_rows, args.max_validation_rows, args.epochs, args.eval_every = 256, 128, 1, 4
        args.probe_epochs = min(args.probe_epochs, 1)
    # Seeding: every draw of a fit comes from its seed (fine_tune uses its own generators).
    folder = find_movielens(args.data)
    data = load_movielens(folder)
    split = data.time_quantile(args.split_quantile)
    ts = data.interactions.timestamp
    test = np.flatnonzero(ts >= split)
    inter = data.interactions
    liked = data.binary_reward()
    seen_items = np.unique(inter.item[ts < split])
    seen_users = np.unique(inter.user[ts < split])
    cold = test[~np.isin(inter.item[test], seen_items)]
    known_users = np.isin(inter.user[test], seen_users)
    # Context: each item's training like-rate (shrunk to the global rate with 5 pseudo-ratings).
    train = ts < split
    likes = np.bincount(inter.item[train], weights=liked[train], minlength=len(data.items))
    counts = np.bincount(inter.item[train], minlength=len(data.items))
    popularity = (likes + 5.0 * liked[train].mean()) / (counts + 5.0)
    pop_scores = popularity[inter.item[test]]
    baseline = {
        "auc": roc_auc(liked[test], pop_scores),
        "auc_known_users": roc_auc(liked[test][known_users], pop_scores[known_users]),
        "auc_new_users": roc_auc(liked[test][~known_users], pop_scores[~known_users]),
    }
    if args.quick:
        test = test[:: max(1, len(test) // 2000)]
    print(
        f"popularity baseline: held-out AUC {baseline['auc']:.4f} (known users {baseline['auc_known_users']:.4f}, "
        f"new users {baseline['auc_new_users']:.4f})",
        flush=True,
    )
    base = TextEncoder(max_length=args.max_length, num_threads=args.num_threads)
    settings = {
        "probe_epochs": args.probe_epochs,
        "probe_batch_size": args.probe_batch_size,
        "probe_lr": args.probe_lr,
        "max_train_rows": args.max_train_rows,
        "max_validation_rows": args.max_validation_rows,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "eval_every": args.eval_every,
        "patience": args.patience,
        "head_lr": args.head_lr,
        "top_k": args.top_k,
        "lora_r": args.lora_r,
        "lora_alpha": args.lora_alpha,
        "projection_dim": args.projection_dim,
    }
    results = []
    for mode in args.modes:
        load0 = os.getloadavg()[0]
        lr = args.lr_lora if mode == "lora" else args.lr_top_k
        enc, report = fine_tune(base, data, mode=mode, split_time=split, seed=args.seed, lr=lr, **settings)
        assert report.max_timestamp_seen < split
        if args.save_dir is not None:
            enc.save(args.save_dir / mode, overwrite=True)
        t0 = time.perf_counter()
        p_test = enc.predict(data, inter.user[test], inter.item[test], rows=test)
        scoring_s = time.perf_counter() - t0
        y_test = liked[test]
        held = {
            "auc": roc_auc(y_test, p_test),
            "log_loss": log_loss(y_test, p_test),
            "auc_known_users": roc_auc(y_test[known_users], p_test[known_users]),
            "auc_new_users": roc_auc(y_test[~known_users], p_test[~known_users]),
        }
        cold_auc = None
        if len(cold) and not args.quick:
            cold_auc = roc_auc(y_test[np.isin(test, cold)], p_test[np.isin(test, cold)])
        cost = report.cost
        row = {
            "mode": mode,
            "encoder": enc.name,
            "fit_seconds": cost.seconds,
            "flops": cost.flops,
            "flops_breakdown": report.flops,
            "peak_rss_bytes": cost.peak_rss_bytes,
            "device": cost.device,
            "gpu_seconds": cost.gpu_seconds,
            "steps": report.steps,
            "epochs": report.epochs,
            "best_step": report.best_step,
            "stopped_early": report.stopped_early,
            "parameters": report.parameters,
            "val_initial": report.initial,
            "val_best": report.best,
            "held_out": {**held, "cold_item_rows": len(cold), "cold_item_auc": cold_auc},
            "scoring_seconds": scoring_s,
            "rows": {
                "fit": int(report.train_rows.size),
                "validation": int(report.validation_rows.size),
                "history": int(report.history_rows.size),
                "max_timestamp_seen": report.max_timestamp_seen,
                "items_encoded": int(report.items_encoded.size),
            },
            "adapter_fingerprint": report.adapter_fingerprint,
            "curve": report.curve,
            "load_avg_1m": [load0, os.getloadavg()[0]],
        }
        results.append(row)
        print(
            f"{mode:7s} fit {cost.seconds:7.1f} s  {cost.flops / 1e12:7.2f} TFLOP  steps {report.steps:4d}  "
            f"val AUC {report.initial['val_auc']:.3f} -> {report.best['val_auc']:.3f}  "
            f"held-out AUC {held['auc']:.4f} (known users {held['auc_known_users']:.4f}, new users "
            f"{held['auc_new_users']:.4f})  log loss {held['log_loss']:.4f}"
            + ("" if cold_auc is None else f"  cold-item AUC {cold_auc:.4f} ({len(cold)} rows)"),
            flush=True,
        )
    return {
        "benchmark": "finetune",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(args).items()},
        "machine": {**machine(), "torch_threads": args.num_threads or torch.get_num_threads()},
        "versions": versions(("recbandit", "numpy", "torch", "transformers", "peft", "safetensors")),
        "data": {
            "source": str(folder),
            "ratings": len(data.interactions),
            "split_time": split,
            "training_period_rows": int((ts < split).sum()),
            "held_out_rows": int((ts >= split).sum()),
            "held_out_rows_scored": len(test),
            "held_out_rows_of_known_users": int(known_users.sum()),
            "held_out_rows_of_cold_items": len(cold),
            "like": f"rating >= {data.rating_threshold:g}",
        },
        "base_model": {"label": base.model_label, "fingerprint": base.fingerprint, "max_length": base.max_length},
        "popularity_baseline": baseline,
        "results": results,
    }


if __name__ == "__main__":
    args = tyro.cli(Args)
    doc = main(args)
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    if out is not None:
        atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
        print(f"wrote {out}")
