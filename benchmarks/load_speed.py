"""Load time and peak memory of the MovieLens loaders: a generated 25M-row CSV dataset and ML-100K.

A child process writes a dataset in the MovieLens CSV format (the layout of ml-25m:
``ratings.csv`` userId,movieId,rating,timestamp with half-star ratings, sorted by user
as GroupLens ships it; ``movies.csv`` with RFC 4180-quoted titles) into a temporary
folder. This process then loads it with ``recbandit.data.movielens.load_movielens`` and
reports wall seconds and its own peak resident memory (``getrusage`` ``ru_maxrss``, which
covers the Python process, imports included, but not the generator child). The default
sizes match ml-25m: 25,000,095 ratings in the GroupLens file, 162,541 users, 62,423 movies.

Budgets (issue 3): 25M rows in under 120 s and 4 GB; ML-100K in under 2 s. The script
exits with status 1 if a budget is missed.

Usage::

    python benchmarks/load_speed.py                  # 25M rows (needs ~1 GB of temp disk)
    python benchmarks/load_speed.py --rows 20000     # smoke run
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

ROOT = Path(__file__).resolve().parents[1]
GENRES = (
    "Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir Horror IMAX "
    "Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


@dataclass
class Args:
    """Load speed of the MovieLens CSV loader on a generated dataset, and of ML-100K."""

    rows: int = 25_000_000
    """ratings to generate (ml-25m has 25,000,095)"""
    users: int = 162_541
    """distinct users (ml-25m: 162,541)"""
    items: int = 62_423
    """movies in movies.csv (ml-25m: 62,423)"""
    seed: int = 0
    """seed of the generator"""
    workdir: str | None = None
    """folder for the generated dataset (default: the system temp folder); it is deleted afterwards"""
    keep: bool = False
    """keep the generated dataset and print where it is"""
    ml100k: str | None = None
    """ML-100K folder (default: $RECBANDIT_SHARED_DATA/ml-100k or ../shared/data/ml-100k); skipped if absent"""
    max_seconds: float = 120.0
    """budget for the generated dataset's load"""
    max_gb: float = 4.0
    """budget for peak resident memory"""
    max_ml100k_seconds: float = 2.0
    """budget for the ML-100K load"""
    out: str | None = None
    """also write the figures as JSON here"""


def generate(folder: str, rows: int, users: int, items: int, seed: int) -> None:
    """Write ratings.csv and movies.csv in the MovieLens CSV format (runs in a child process)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    out = Path(folder)
    # movies.csv: ids with gaps like GroupLens' (1..~209k), quoted titles, some without a year.
    movie_ids = np.sort(rng.choice(np.arange(1, 4 * items), size=items, replace=False))
    with open(out / "movies.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write("movieId,title,genres\n")
        for k, mid in enumerate(movie_ids):
            if k % 10 == 3:
                title = f'"Movie {mid}, The ({1900 + k % 120})"'
            elif k % 10 == 7:
                title = f'"Movie ""{mid}"" Returns"'
            else:
                title = f"Movie {mid} ({1900 + k % 120})"
            n_genres = int(rng.integers(0, 4))
            genres = "|".join(rng.choice(GENRES, size=n_genres, replace=False)) if n_genres else "(no genres listed)"
            fh.write(f"{mid},{title},{genres}\n")
    # ratings.csv: per-user counts from a heavy-tailed law (every user >= 1), popularity-skewed items.
    weights = rng.lognormal(0.0, 1.0, size=users)
    counts = 1 + rng.multinomial(rows - users, weights / weights.sum()) if rows >= users else np.ones(rows, dtype=int)
    n_users = len(counts)
    pop = rng.zipf(1.3, size=items).astype(np.float64)
    pop /= pop.sum()
    half_stars = np.arange(1, 11) / 2
    star_p = np.array([1.5, 3, 2, 7, 5, 20, 13, 27, 9, 14.5])
    star_p /= star_p.sum()
    chunk_users = max(1, n_users // 50)
    with open(out / "ratings.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write("userId,movieId,rating,timestamp\n")
        for start in range(0, n_users, chunk_users):
            c = counts[start : start + chunk_users]
            n = int(c.sum())
            user = np.repeat(np.arange(start + 1, start + 1 + len(c)), c)
            first = rng.integers(789_652_009, 1_574_327_703, size=len(c))
            ts = np.repeat(first, c) + rng.integers(0, 86_400 * 30, size=n)
            frame = pd.DataFrame(
                {
                    "userId": user,
                    "movieId": movie_ids[rng.choice(items, size=n, p=pop)],
                    "rating": rng.choice(half_stars, size=n, p=star_p),
                    "timestamp": ts,
                }
            )
            frame.sort_values(["userId", "timestamp"], kind="stable").to_csv(
                fh, header=False, index=False, float_format="%.1f", lineterminator="\n"
            )


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far, GB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024**3 if sys.platform == "darwin" else 1024**2)


def default_ml100k() -> Path:
    base = os.environ.get("RECBANDIT_SHARED_DATA")
    return (Path(base) if base else ROOT.parent / "shared" / "data") / "ml-100k"


def main(args: Args) -> int:
    from recbandit.data.movielens import load_movielens

    results: dict[str, object] = {"machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}"}
    ok = True

    # ML-100K (the real files)
    ml100k = Path(args.ml100k) if args.ml100k else default_ml100k()
    if (ml100k / "u.data").is_file():
        t0 = time.perf_counter()
        data = load_movielens(ml100k)
        sec = time.perf_counter() - t0
        results["ml100k"] = {"seconds": sec, "interactions": len(data.interactions)}
        good = sec < args.max_ml100k_seconds
        ok &= good
        print(
            f"ML-100K   {len(data.interactions):>11,} ratings  {sec:7.2f} s  (budget {args.max_ml100k_seconds:g} s: "
            f"{'ok' if good else 'MISSED'})  {ml100k}"
        )
        del data
    else:
        print(f"ML-100K   skipped: {ml100k} has no u.data")

    # Generated MovieLens CSV dataset
    tmp = Path(tempfile.mkdtemp(prefix="recbandit-load-speed-", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        # spawn: the generator's memory is not this process's peak RSS.
        proc = mp.get_context("spawn").Process(
            target=generate, args=(str(tmp), args.rows, args.users, args.items, args.seed)
        )
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"generator failed with exit code {proc.exitcode}")
        size = (tmp / "ratings.csv").stat().st_size
        print(f"generated {args.rows:,} ratings ({size / 1e6:,.0f} MB) in {time.perf_counter() - t0:.1f} s: {tmp}")
        rss_before = peak_rss_gb()
        t0 = time.perf_counter()
        data = load_movielens(tmp)
        sec = time.perf_counter() - t0
        peak = peak_rss_gb()
        n = len(data.interactions)
        if n != args.rows:
            raise SystemExit(f"loaded {n} rows, generated {args.rows}")
        good = sec < args.max_seconds and peak < args.max_gb
        ok &= good
        results["generated"] = {
            "rows": n,
            "users": len(data.users),
            "items": len(data.items),
            "file_mb": size / 1e6,
            "seconds": sec,
            "rows_per_s": n / sec,
            "peak_rss_gb": peak,
            "peak_rss_gb_before_load": rss_before,
        }
        print(
            f"generated {n:>11,} ratings  {sec:7.2f} s  ({n / sec / 1e6:.2f} M rows/s)  peak RSS {peak:.2f} GB "
            f"(before load {rss_before:.2f} GB)  (budget {args.max_seconds:g} s, {args.max_gb:g} GB: "
            f"{'ok' if good else 'MISSED'})"
        )
        print(f"          {len(data.users):,} users, {len(data.items):,} items")
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        from recbandit.evaluation.results import atomic_write_bytes

        atomic_write_bytes(Path(args.out), (json.dumps(results, indent=1) + "\n").encode())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(tyro.cli(Args)))
