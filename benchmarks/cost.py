"""Effect versus cost: cold-item regret reduction against compute, and what a bigger encoder costs.

Part 1, the frontier (reads ``benchmarks/results/coldstart/summary.json``, runs no agent):
for each env of the cold-start benchmark and each context (one point per (encoder, tuning
mode)), the reduction of ``--agent``'s cold-item regret against the bag-of-words context of
the same env (``bow``; ``bow+ov`` on MovieLens), with its Welch 95% interval, against the
compute that produced the contexts: the cache-cold encode of the env's texts (FLOPs counted
with ``FlopCounterMode``, wall seconds) plus, for tuned encoders, the fine-tune's FLOPs and
seconds from the tuned encoder's saved report. A point is on the Pareto set when no other
point of its env has at least its reduction at no more compute (FLOPs), one of them strictly.

Part 2, encoder size as an axis of cost alone: randomly initialised BERT configurations
(``transformers.BertConfig``; weights do not change FLOPs or time) from mini to large,
measured on this machine's CPU with ``recbandit.encoders.accounting``: encode cost per 1,000
texts (Synthetic-v0 item texts padded to ``max_length`` tokens, so every text costs the same
FLOPs and time whatever its words, and the count scales exactly from the ``texts`` measured), and one
fine-tuning step (forward, backward, AdamW) of ``step_batch`` texts in top-k (last layer) and
LoRA (rank 8 on query/value) mode. Seconds are measured on the few texts of each config and
scaled per 1,000 (a rate, measured, not a FLOP-based estimate). GPU columns: "not measured"
where ``torch.cuda.is_available()`` is False.

Usage::

    nice python benchmarks/cost.py              # -> benchmarks/results/cost/
    python benchmarks/cost.py --quick           # mini and small only, 4 texts; runs/cost-quick/
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tyro
from _data import use_shared_data

from recbandit.evaluation.results import atomic_write_bytes, machine

use_shared_data()  # the frontier's tuned encoders were built from the shared data

ROOT = Path(__file__).resolve().parent
COLDSTART = ROOT / "results" / "coldstart" / "summary.json"
RESULTS = ROOT / "results" / "cost"
#: name -> (layers, hidden, heads, intermediate): BERT mini / small / medium / base / large.
SIZES: dict[str, tuple[int, int, int, int]] = {
    "mini (L4/H256)": (4, 256, 4, 1024),
    "small (L4/H512)": (4, 512, 8, 2048),
    "medium (L8/H512)": (8, 512, 8, 2048),
    "base (L12/H768)": (12, 768, 12, 3072),
    "large (L24/H1024)": (24, 1024, 16, 4096),
}


@dataclass
class Args:
    """Cold-item regret reduction vs compute (frontier), and BERT size vs encode / fine-tune cost."""

    coldstart: Path = COLDSTART
    """summary.json of benchmarks/coldstart.py"""
    agent: str = "linucb-shared"
    """agent whose cold-item regret the frontier reads (run on every context)"""
    sizes: tuple[str, ...] = tuple(SIZES)
    """BERT configurations to measure"""
    texts: int = 32
    """texts encoded per configuration (large: a quarter of it, base: half)"""
    step_batch: int = 4
    """texts per fine-tuning step (large: half of it)"""
    max_length: int = 64
    """tokens per text (padded)"""
    threads: int = 1
    """torch CPU threads (the machine is shared)"""
    out: Path | None = None
    """results folder (default benchmarks/results/cost; runs/cost-quick with --quick)"""
    reuse_sizes: bool = False
    """keep the size measurements already in OUT/cost.json (redraw the frontier only)"""
    quick: bool = False
    """smoke run: mini and small, 4 texts, batch 2; the frontier only when the coldstart summary exists"""


def pareto(points: list[dict[str, Any]]) -> None:
    """Mark ``pareto`` on each point: no other point has >= reduction at <= FLOPs (one strictly)."""
    for p in points:
        p["pareto"] = not any(
            q is not p
            and q["reduction"] >= p["reduction"]
            and q["flops"] <= p["flops"]
            and (q["reduction"] > p["reduction"] or q["flops"] < p["flops"])
            for q in points
        )


def frontier(args: Args) -> dict[str, list[dict[str, Any]]]:
    """Per env, one point per context: cold-item regret reduction vs bag of words, and compute."""
    from recbandit.evaluation.metrics import welch

    summary = json.loads(args.coldstart.read_text())
    cells, contexts = summary["cells"], summary["contexts"]
    out: dict[str, list[dict[str, Any]]] = {}
    for key, info in contexts.items():
        env, ctx = key.split(" | ")
        base_ctx = "bow+ov" if f"{env} | bow+ov" in contexts else "bow"
        mine, base = cells.get(f"{env} | {ctx} | {args.agent}"), cells.get(f"{env} | {base_ctx} | {args.agent}")
        if mine is None or base is None or "encode_cold" not in info:
            continue
        d, h = welch(np.array(base["cold"]), np.array(mine["cold"]))
        enc, tune = info["encode_cold"], info.get("fine_tune")
        out.setdefault(env, []).append(
            {
                "context": ctx,
                "encoder": info["encoder"],
                "baseline": base_ctx,
                "reduction": d,
                "half": h,
                "encode_flops": enc["flops"],
                "encode_s": enc["seconds"],
                "tune_flops": tune["flops"] if tune else 0,
                "tune_s": tune["seconds"] if tune else 0.0,
                "flops": enc["flops"] + (tune["flops"] if tune else 0),
                "seconds": enc["seconds"] + (tune["seconds"] if tune else 0.0),
            }
        )
    for points in out.values():
        pareto(points)
    return out


def texts(n: int) -> list[str]:
    """``n`` item texts of Synthetic-v0's catalogue (padded to ``max_length``, the content does not change the cost)."""
    from recbandit.data.synthetic import SyntheticConfig, make_catalogue

    return list(make_catalogue(SyntheticConfig(n_items=max(n, 10), n_users=10)).item_text[:n])


def measure_size(name: str, n: int, args: Args, tok: Any, sample: list[str]) -> dict[str, Any]:
    """Encode and one fine-tune step (top-k, LoRA) of a randomly initialised BERT config, on CPU."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertModel

    from recbandit.encoders.accounting import ComputeMeter, count_flops

    layers, hidden, heads, inter = SIZES[name]
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=inter,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    model = BertModel(cfg).eval()
    params = sum(p.numel() for p in model.parameters())
    batch = tok(sample[:n], padding="max_length", truncation=True, max_length=args.max_length, return_tensors="pt")
    row: dict[str, Any] = {"config": name, "params": params, "texts_measured": n}
    with torch.no_grad():
        _, flops = count_flops(model, **{k: v[:1] for k, v in batch.items()})  # one text: the exact per-text count
        model(**{k: v[:2] for k, v in batch.items()})  # warm-up
        with ComputeMeter("encode", "cpu") as meter:
            model(**batch)
    rec = meter.record
    assert rec is not None
    row["encode"] = {
        "flops_per_1000": flops * 1000,
        "seconds_per_1000": rec.seconds * 1000 / n,
        "peak_rss_bytes": rec.peak_rss_bytes,
    }
    b = {k: v[: max(1, args.step_batch // 2) if "large" in name else args.step_batch] for k, v in batch.items()}
    for mode in ("top-k", "lora"):
        m = BertModel(cfg)
        if mode == "top-k":
            for p in m.parameters():
                p.requires_grad_(False)
            for p in m.encoder.layer[-1].parameters():
                p.requires_grad_(True)
        else:
            m = get_peft_model(m, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"]))
        m.train()
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)

        def step(model: Any = m, optim: Any = opt) -> None:
            loss = model(**b).last_hidden_state.mean(dim=1).pow(2).mean()
            loss.backward()
            optim.step()
            optim.zero_grad()

        _, step_flops = count_flops(step)  # forward + backward (+ the optimiser's few FLOPs)
        with ComputeMeter("fine-tune", "cpu") as meter:
            step()
        rec = meter.record
        assert rec is not None
        row[mode] = {
            "trainable": sum(p.numel() for p in m.parameters() if p.requires_grad),
            "step_flops": step_flops,
            "step_seconds": rec.seconds,
            "step_texts": int(b["input_ids"].shape[0]),
            "peak_rss_bytes": rec.peak_rss_bytes,
        }
        del m, opt
    return row


def plot_frontier(points: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Reduction vs FLOPs and vs seconds, per env; Pareto points ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recbandit.evaluation.report import save_png

    fig, axes = plt.subplots(len(points), 2, figsize=(11, 3.6 * len(points)), dpi=100, squeeze=False)
    for row, (env, pts) in zip(axes, points.items(), strict=True):
        for ax, key, unit in ((row[0], "flops", "FLOPs (encode + fine-tune)"), (row[1], "seconds", "CPU seconds")):
            for p in pts:
                x = max(p[key], 1.0)
                ax.errorbar([x], [p["reduction"]], yerr=[[p["half"]], [p["half"]]], fmt="o", capsize=3)
                if p["pareto"]:
                    ax.scatter([x], [p["reduction"]], s=200, facecolors="none", edgecolors="k")
                ax.annotate(p["context"], (x, p["reduction"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_xscale("log")
            ax.set_xlabel(unit + " (log; bag of words drawn at 1)")
            ax.set_ylabel(f"cold-item regret reduction vs {pts[0]['baseline']}")
            ax.set_title(env, fontsize=9)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)


def main(args: Args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.quick:
        args.sizes, args.texts, args.step_batch = tuple(list(SIZES)[:2]), 4, 2
    out = args.out or (Path("runs") / "cost-quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.is_available()
    doc = ["# Effect versus cost", ""]
    result: dict[str, Any] = {"machine": machine(), "gpu": torch.cuda.get_device_name(0) if gpu else None}
    if args.coldstart.exists():
        pts = frontier(args)
        result["frontier"] = pts
        plot_frontier(pts, out / "frontier.png")
        doc += [
            f"## Frontier: cold-item regret reduction of `{args.agent}` against compute",
            "",
            "| env | context | reduction vs baseline (Welch 95%) | encode GFLOP | encode s | fine-tune GFLOP "
            "| fine-tune s | Pareto (point estimates) | reduction's interval excludes 0 |",
            "|---|---|---:|---:|---:|---:|---:|---|---|",
        ]
        for env, ps in pts.items():
            for p in sorted(ps, key=lambda q: q["flops"]):
                doc.append(
                    f"| {env} | {p['context']} (vs {p['baseline']}) | {p['reduction']:+,.1f} ± {p['half']:,.1f} | "
                    f"{p['encode_flops'] / 1e9:,.1f} | {p['encode_s']:.1f} | {p['tune_flops'] / 1e9:,.0f} | "
                    f"{p['tune_s']:.0f} | {'yes' if p['pareto'] else ''} | "
                    f"{'yes' if abs(p['reduction']) > p['half'] else 'no'} |"
                )
        doc.append("")
    from transformers import AutoTokenizer

    from recbandit.encoders.registry import ENCODERS, parse_spec

    folder = ENCODERS["minilm"].local_folder(parse_spec("minilm"))  # type: ignore[misc]
    tok = AutoTokenizer.from_pretrained(str(folder))
    sample = texts(args.texts)
    rows: list[dict[str, Any]] = []
    previous = out / "cost.json"
    if args.reuse_sizes and previous.exists():
        rows = json.loads(previous.read_text())["sizes"]
    for name in [s for s in args.sizes if s not in {r["config"] for r in rows}]:
        n = max(2, args.texts // (4 if "large" in name else 2 if "base" in name else 1))
        t0 = time.perf_counter()
        rows.append(measure_size(name, n, args, tok, sample))
        print(f"{name}: measured in {time.perf_counter() - t0:.1f} s", flush=True)
    result["sizes"] = rows
    doc += [
        f"## Encoder size: randomly initialised BERT, CPU ({args.threads} thread(s), texts padded to "
        f"{args.max_length} tokens)",
        "",
        "| config | params (M) | encode GFLOP / 1,000 texts | encode s / 1,000 texts (CPU) | top-k fine-tune GFLOP "
        "/ 1,000 texts | top-k s / 1,000 texts (CPU) | LoRA fine-tune GFLOP / 1,000 texts | LoRA s / 1,000 texts "
        "(CPU) | GPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        per = {m: 1000 / r[m]["step_texts"] for m in ("top-k", "lora")}
        doc.append(
            f"| {r['config']} | {r['params'] / 1e6:.1f} | {r['encode']['flops_per_1000'] / 1e9:,.0f} | "
            f"{r['encode']['seconds_per_1000']:,.0f} (from {r['texts_measured']}) | "
            + " | ".join(
                f"{r[m]['step_flops'] * per[m] / 1e9:,.0f} | {r[m]['step_seconds'] * per[m]:,.0f} "
                f"(steps of {r[m]['step_texts']})"
                for m in ("top-k", "lora")
            )
            + f" | {'measured: ' + result['gpu'] if gpu else 'not measured (no GPU on this machine)'} |"
        )
    doc += [
        "",
        "Fine-tuning: one training step (forward, backward, AdamW) of a few texts, scaled to 1,000 texts (one "
        "epoch over 1,000 texts; FLOPs exactly proportional to the texts at a fixed length). Seconds are single "
        "measurements on a machine shared with other jobs: compare orders of magnitude, not percentages. Machine: "
        f"{result['machine']['processor']}, {result['machine']['cpus']} CPUs shared with other jobs.",
        "",
        f"Command: `{' '.join(['python', 'benchmarks/cost.py', *sys.argv[1:]])}`",
        "",
    ]
    atomic_write_bytes(out / "cost.json", json.dumps(result, indent=1, default=float).encode())
    atomic_write_bytes(out / "summary.md", "\n".join(doc).encode())
    print("\n".join(doc))


if __name__ == "__main__":
    main(tyro.cli(Args))
