"""Regret of the registered agents on MovieLens100K-v0, after the user model's held-out fit.

1. Build the env once and print how faithful its ground truth is (``recbandit.envs.fidelity``:
   the truth chosen on validation, fitted on each user's first 80% of ratings, measured on
   their last 20% plus 4 sampled unrated films per held-out rating — AUC, per-user AUC, log
   loss, calibration error, like-among-rated AUC, per segment) next to like-count popularity
   and the per-film like-rate.
2. Run every agent for ``horizon`` decisions online (B = 1) over ``seeds`` seeds with
   ``recbandit.evaluation.run_sweep`` (resumable: finished runs are kept), then write the
   summary table (``summary.md``, with the fit report) and the regret plot.

Usage::

    python benchmarks/movielens.py            # T = 50,000 x 5 seeds -> benchmarks/results/movielens/
    python benchmarks/movielens.py --quick    # smoke run (T = 2,000, 2 seeds) -> runs/movielens-quick/
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro
from _data import use_shared_data

from recbandit.envs import make_env
from recbandit.envs.fidelity import format_report, targets
from recbandit.evaluation import make_specs, plot_regret, run_sweep, summary_table
from recbandit.evaluation.results import atomic_write_bytes, machine

use_shared_data()  # the registered envs find ../shared/data by name (library code never looks there)

RESULTS = Path(__file__).resolve().parent / "results" / "movielens"
AGENTS = ("random", "ucb1", "ts", "eps-greedy", "linucb-shared", "linucb-disjoint", "lints-shared", "lints-disjoint")


@dataclass
class Args:
    """Held-out fit of the MovieLens 100K user model, then the agents' regret on MovieLens100K-v0."""

    env: str = "recbandit/MovieLens100K-v0"
    """env id (a MovieLens env)"""
    path: str | None = None
    """MovieLens folder (default: the env finds MovieLens 100K itself)"""
    user_arrival: str = "log"
    """"log" (held-out rows' users in time order) or "activity" (users drawn by number of ratings)"""
    protocol: str = "per-user"
    """the truth's split: "per-user" (each user's last 20% held out) or "global" (last 20% by time)"""
    agents: tuple[str, ...] = AGENTS
    """agents to run (registered names)"""
    seeds: int = 5
    """number of seeds (0 .. seeds-1)"""
    horizon: int = 50_000
    """decisions per run"""
    batch_size: int = 1
    """users per step (1 = online: the agent updates after every decision)"""
    workers: int = 2
    """local worker processes for the sweep"""
    out: Path | None = None
    """results folder (default benchmarks/results/movielens; runs/movielens-quick with --quick)"""
    quick: bool = False
    """smoke run: horizon 2,000, 2 seeds, one worker"""


def main(args: Args) -> None:
    # Seeding: every run is seeded by its spec (env and agent streams from the run seed);
    # nothing here draws from the global generators, which are fixed all the same.
    random.seed(0)
    np.random.seed(0)
    if args.quick:
        args.horizon, args.seeds, args.workers = 2_000, 2, 1
    out = args.out or (Path("runs") / "movielens-quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    env_kwargs: dict = {"user_arrival": args.user_arrival, "protocol": args.protocol}
    if args.path is not None:
        env_kwargs["path"] = str(Path(args.path).resolve())

    # USER MODEL: how real is the simulation? Held-out fit on the evaluation period.
    start = time.perf_counter()
    env = make_env(args.env, batch_size=1, **env_kwargs)
    report = env.fit_report
    print(f"{args.env}: built in {time.perf_counter() - start:.1f} s")
    print(format_report(report))
    print(f"targets (issue 10): {targets(report)}")
    sim = report["simulation"]
    print(
        f"simulation: {sim['timeline_decisions']:,} decisions on the evaluation timeline, "
        f"{sim['items_at_start']} films at decision 0, {sim['items_arriving']} arriving later; "
        f"users '{sim['user_arrival']}', {sim['known_user_share']:.1%} of arrivals have fitting ratings, "
        f"{report['zero_context_share']:.1%} of decisions show an all-zero user context"
    )
    atomic_write_bytes(out / "fit_report.json", json.dumps(report, indent=2, default=float).encode())

    # SWEEP: agents x seeds, online, resumable.
    specs = make_specs(
        args.env,
        list(args.agents),
        list(range(args.seeds)),
        args.horizon,
        batch_size=args.batch_size,
        env_kwargs=env_kwargs,
        benchmark="movielens",
    )
    start = time.perf_counter()
    records = run_sweep(specs, out, workers=args.workers, show_progress=not args.quick)
    seconds = time.perf_counter() - start

    # REPORT: table (stdout + summary.md) and regret plot.
    table = summary_table(records)
    print(f"\ncumulative regret after {args.horizon:,} decisions, {args.seeds} seeds ({seconds:.0f} s):")
    print(table)
    plots = plot_regret(records, out)
    mach = machine()
    lines = [
        f"# {args.env}: ground-truth fidelity and agents' regret",
        "",
        "Fidelity (`recbandit data fit` prints the same table; `fit_report.json` has everything):",
        "",
        "```",
        format_report(report),
        "```",
        "",
        f"Regret: {len(args.agents)} agents x {args.seeds} seeds x {args.horizon:,} decisions, "
        f"batch size {args.batch_size}, user_arrival={args.user_arrival!r}, "
        f"{sim['known_user_share']:.1%} of arrivals by users with fitting ratings. "
        f"Machine: {mach['processor']}, {mach['cpus']} CPUs ({mach['system']}), {args.workers} worker(s).",
        "",
        table,
        "",
        f"Command: `{' '.join(['python', 'benchmarks/movielens.py', *sys.argv[1:]])}`",
        "",
    ]
    atomic_write_bytes(out / "summary.md", "\n".join(lines).encode())
    print(f"\nwrote {out / 'summary.md'}, {', '.join(str(p) for p in plots)}")


if __name__ == "__main__":
    main(tyro.cli(Args))
