"""Neural bandits against shared LinUCB / LinTS on Synthetic-v0, non-linear and linear ground truth.

For each ground-truth setting (``nonlinearity`` eta of Synthetic-v0: eta > 0 is the
satiation model ``SatiationUserModel``, eta = 0 the default logistic-bilinear one), run
every agent for ``horizon`` decisions online (B = 1) over ``seeds`` seeds with
``recbandit.evaluation.run_sweep`` (resumable: finished runs are kept), then write one
folder per setting (result JSONs, regret plot) and ``summary.md`` with both tables and
the checks the issue asks for:

- non-linear truth (the ``headline`` eta, 1.5): NeuralLinear and NeuralTS cumulative regret
  below shared LinUCB's (other eta > 0 are reported, e.g. the milder 1.0);
- linear truth: every neural agent within 20% of shared LinUCB's.

Usage::

    python benchmarks/neural.py            # T = 20,000 x 5 seeds, eta in (1.5, 1, 0) -> benchmarks/results/neural/
    python benchmarks/neural.py --quick    # smoke run (T = 1,000, 2 seeds) -> runs/neural-quick/
"""

from __future__ import annotations

import os

# One OpenMP thread per worker process before anything imports torch: the networks are
# small, and two workers on two cores must not each start a pool of threads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import tyro  # noqa: E402

from recbandit.evaluation import make_specs, plot_regret, run_sweep, summary_rows, summary_table  # noqa: E402
from recbandit.evaluation.results import atomic_write_bytes, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "neural"
AGENTS = ("linucb-shared", "lints-shared", "neural-linear", "neural-ts", "neural-ucb", "neural-ensemble")
BASELINE = "linucb-shared"
#: (agents that must beat the baseline on a non-linear truth, ratio bound on the linear truth)
BEAT_ON_NONLINEAR = ("neural-linear", "neural-ts")
LINEAR_MARGIN = 1.2


@dataclass
class Args:
    """Neural agents vs shared linear agents on Synthetic-v0 with a non-linear and a linear ground truth."""

    nonlinearity: tuple[float, ...] = (1.5, 1.0, 0.0)
    """ground-truth settings: Synthetic-v0's satiation strength eta (0 = the linear default)"""
    headline: float = 1.5
    """the non-linear setting on which the issue's target (neural below LinUCB) is checked"""
    agents: tuple[str, ...] = AGENTS
    """agents to run (registered names, default hyper-parameters)"""
    seeds: int = 5
    """number of seeds (0 .. seeds-1)"""
    horizon: int = 20_000
    """decisions per run"""
    workers: int = 2
    """local worker processes for the sweep"""
    out: Path | None = None
    """results folder (default benchmarks/results/neural; runs/neural-quick with --quick)"""
    quick: bool = False
    """smoke run: horizon 1,000, 2 seeds, one worker"""


def setting_name(eta: float) -> str:
    """Folder of a ground-truth setting."""
    return "linear" if eta == 0 else f"nonlinear-eta{eta:g}"


def checks(rows: list[dict[str, Any]], eta: float, headline: float) -> list[str]:
    """Markdown lines: each neural agent's regret relative to the baseline, with the issue's target."""
    by_agent = {r["agent"]: r for r in rows}
    if BASELINE not in by_agent:
        return []
    base = by_agent[BASELINE]["regret"]
    lines = []
    for agent, row in by_agent.items():
        if not agent.startswith("neural"):
            continue
        ratio = row["regret"] / base
        if eta > 0:
            target = "< 1 (must)" if agent in BEAT_ON_NONLINEAR and eta == headline else "-"
            ok = ratio < 1.0
        else:
            target = f"<= {LINEAR_MARGIN:g}"
            ok = ratio <= LINEAR_MARGIN
        verdict = ("met" if ok else "NOT met") if target != "-" else ("below" if ok else "above")
        lines.append(
            f"| {agent} | {row['regret']:.1f} ± {row['regret_ci95']:.1f} | {base:.1f} | {ratio:.3f} | {target} | "
            f"{verdict} |"
        )
    header = [
        f"| agent | regret | {BASELINE} | ratio | target | |",
        "|---|---:|---:|---:|---|---|",
    ]
    return header + lines


def main(args: Args) -> None:
    # Seeding: every run is seeded by its spec (env and agent streams from the run seed);
    # nothing here draws from the global generators, which are fixed all the same.
    random.seed(0)
    np.random.seed(0)
    if args.quick:
        args.horizon, args.seeds, args.workers = 1_000, 2, 1
    out = args.out or (Path("runs") / "neural-quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    mach = machine()
    summary = [
        "# Neural bandits vs shared linear bandits on Synthetic-v0",
        "",
        f"{len(args.agents)} agents x {args.seeds} seeds x {args.horizon:,} decisions, online (B = 1: the agent "
        f"updates after every decision), default hyper-parameters. Machine: {mach['processor']}, {mach['cpus']} CPUs "
        f"({mach['system']}), {args.workers} worker process(es), one torch / BLAS thread each. Regret is against "
        "the user model's expected rewards; ± is the 95% CI over seeds.",
        "",
        "Ground truth: `nonlinearity` eta of Synthetic-v0. eta = 0: `p = sigmoid(4 <prefs_u, topics_i> + "
        "quality_i - 2.5)` (logistic-bilinear, the default). eta > 0: the affinity a = <prefs_u, topics_i> enters "
        "as `4 (a - eta a^2) / max_[0,1](a - eta a^2)` (a satiation curve peaking at a = 1 / (2 eta)), "
        "which no model bilinear in the user and item contexts can rank right.",
        "",
    ]
    for eta in args.nonlinearity:
        name = setting_name(eta)
        folder = out / name
        env_kwargs = {"nonlinearity": eta} if eta > 0 else {}
        specs = make_specs(
            "recbandit/Synthetic-v0",
            list(args.agents),
            list(range(args.seeds)),
            args.horizon,
            env_kwargs=env_kwargs,
            benchmark=f"neural-{name}",
        )
        start = time.perf_counter()
        records = run_sweep(specs, folder, workers=args.workers, show_progress=not args.quick)
        seconds = time.perf_counter() - start
        table = summary_table(records)
        print(f"\n{name} (eta = {eta:g}): cumulative regret after {args.horizon:,} decisions ({seconds:.0f} s):")
        print(table)
        plots = plot_regret(records, folder)
        check = checks(summary_rows(records), eta, args.headline)
        agent_s = {a: np.mean([r["cost"]["agent_seconds"] for r in records if r["agent"] == a]) for a in args.agents}
        summary += [
            f"## {'Linear' if eta == 0 else 'Non-linear'} ground truth (eta = {eta:g})",
            "",
            table,
            "",
            *check,
            "",
            "Agent seconds per run (act + update, mean over seeds): "
            + ", ".join(f"{a} {s:.1f}" for a, s in agent_s.items())
            + ".",
            "",
            f"Plot: `{plots[0].relative_to(out)}`. Results: `{folder.name}/*.json`.",
            "",
        ]
    summary += [f"Command: `{' '.join(['python', 'benchmarks/neural.py', *sys.argv[1:]])}`", ""]
    atomic_write_bytes(out / "summary.md", "\n".join(summary).encode())
    print(f"\nwrote {out / 'summary.md'}")


if __name__ == "__main__":
    main(tyro.cli(Args))
