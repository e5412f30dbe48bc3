"""Summary tables and regret plots from result records."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recbandit.evaluation.metrics import loglog_slope, mean_ci
from recbandit.evaluation.results import atomic_write_bytes


def group(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Records grouped by (env, agent display name), seeds sorted."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        out[(rec["env"], rec["agent"])].append(rec)
    return {key: sorted(recs, key=lambda r: r["seed"]) for key, recs in out.items()}


def summary_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (env, agent): seeds, horizon, regret mean and 95% CI, CTR, slope, speed."""
    rows = []
    for (env, agent), recs in group(records).items():
        regret, half = mean_ci(np.array([r["cumulative_regret"] for r in recs]))
        ctr, ctr_half = mean_ci(np.array([r["mean_reward"] for r in recs]))
        curves = [r["curve"] for r in recs if r["curve"]["t"] == recs[0]["curve"]["t"]]
        mean_curve = np.mean([c["cumulative_regret"] for c in curves], axis=0)
        rows.append(
            {
                "env": env,
                "agent": agent,
                "seeds": len(recs),
                "horizon": recs[0]["horizon"],
                "mode": recs[0].get("mode", ""),
                "regret": float(regret),
                "regret_ci95": float(half),
                "ctr": float(ctr),
                "ctr_ci95": float(ctr_half),
                "slope": loglog_slope(np.array(curves[0]["t"]), mean_curve),
                "decisions_per_s": float(np.mean([r["decisions_per_s"] for r in recs])),
            }
        )
    return sorted(rows, key=lambda r: (r["env"], r["regret"]))


def _fmt_pm(mean: float, half: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if not np.isfinite(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def summary_table(records: Sequence[dict[str, Any]]) -> str:
    """Markdown table of ``summary_rows`` (also what the CLI prints)."""
    lines = [
        "| env | agent | seeds | horizon | mode | cumulative regret (95% CI) | CTR (95% CI) | slope | decisions/s |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in summary_rows(records):
        lines.append(
            f"| {r['env']} | {r['agent']} | {r['seeds']} | {r['horizon']:,} | {r['mode']} | "
            f"{_fmt_pm(r['regret'], r['regret_ci95'], 1)} | {_fmt_pm(r['ctr'], r['ctr_ci95'], 4)} | "
            f"{r['slope']:.2f} | {r['decisions_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def plot_regret(records: Sequence[dict[str, Any]], out_dir: Path | str, log_scale: bool = False) -> list[Path]:
    """One PNG per env: mean cumulative regret over seeds with a 95% band per agent.

    Returns:
        The written files (``regret_<env>.png`` in ``out_dir``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    by_env: dict[str, list[tuple[str, list[dict[str, Any]]]]] = defaultdict(list)
    for (env, agent), recs in group(records).items():
        by_env[env].append((agent, recs))
    written = []
    for env, entries in by_env.items():
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
        seeds = set()
        for agent, recs in sorted(entries, key=lambda e: -e[1][0]["cumulative_regret"]):
            t = np.array(recs[0]["curve"]["t"])
            curves = np.array([r["curve"]["cumulative_regret"] for r in recs if len(r["curve"]["t"]) == len(t)])
            mean, half = mean_ci(curves)
            (line,) = ax.plot(t, mean, label=f"{agent} (n={len(curves)})")
            if len(curves) > 1:
                ax.fill_between(t, mean - half, mean + half, color=line.get_color(), alpha=0.2, linewidth=0)
            seeds.add(len(curves))
        ax.set_xlabel("decisions")
        ax.set_ylabel("cumulative regret (vs. expected reward)")
        if log_scale:
            ax.set_xscale("log")
            ax.set_yscale("log")
        n = ", ".join(str(s) for s in sorted(seeds))
        ax.set_title(f"{env}: mean over {n} seeds, 95% band")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"regret_{env.replace('/', '_')}.png"
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written
