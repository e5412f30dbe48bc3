"""Summary tables, regret plots and cold-start plots from result records."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._io import atomic_write_bytes
from recbandit.evaluation.metrics import loglog_slope, mean_ci


def context_of(record: dict[str, Any]) -> str:
    """The encoder spec of a record's contexts ("" for records written before it was recorded)."""
    return str((record.get("encoder") or {}).get("spec") or "")


def short_context(spec: str) -> str:
    """A spec for a table cell: a model folder by its name ("/a/b/tuned-minilm" -> ".../tuned-minilm")."""
    kind, sep, rest = spec.partition(":")
    if spec.startswith(("/", "~")) or (len(spec) > 2 and spec[1] == ":" and spec[2] in "\\/"):
        return ".../" + Path(spec).name
    if sep and rest.startswith(("/", "~")):
        return f"{kind}:.../{Path(rest.split(':')[0]).name}"
    return spec


def group(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Records grouped by (env, context encoder spec, agent display name), seeds sorted."""
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        out[(rec["env"], context_of(rec), rec["agent"])].append(rec)
    return {key: sorted(recs, key=lambda r: r["seed"]) for key, recs in out.items()}


def encode_cost(record: dict[str, Any]) -> dict[str, Any] | None:
    """What a record's contexts cost to compute, from ``cost["encode"]``; None if not recorded.

    A build served from the embedding cache carries the computing build's record as
    ``computed``; otherwise its own record is the computation. The result has ``seconds``,
    ``flops`` (None when not counted), ``device``, ``peak_rss_bytes``, ``items`` and
    ``cached`` (the record's own build read every vector from the cache).
    """
    own = (record.get("cost") or {}).get("encode")
    if not own:
        return None
    cached = own.get("cache_hits", 0) > 0 and own.get("cache_misses", 0) == 0
    comp = own.get("computed", own) if "computed" in own else own
    if comp is None:  # read from the cache, and the computation was not recorded
        comp = own
    return {
        "seconds": float(comp["seconds"]),
        "flops": None if comp.get("flops_method", "none") == "none" else int(comp["flops"]),
        "device": comp.get("device", "cpu"),
        "peak_rss_bytes": comp.get("peak_rss_bytes"),
        "items": comp.get("items"),
        "cached": cached,
    }


def format_encode_cost(cost: dict[str, Any] | None) -> str:
    """Compact "seconds / GFLOP" cell, e.g. "53.3 / 2,364 (cached)"; "–" where unknown."""
    if cost is None:
        return "–"
    gflop = "–" if cost["flops"] is None else f"{cost['flops'] / 1e9:,.{0 if cost['flops'] >= 1e10 else 2}f}"
    return f"{cost['seconds']:.3g} / {gflop}" + (" (cached)" if cost["cached"] else "")


def summary_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (env, context, agent): seeds, horizon, regret mean and 95% CI, CTR, slope, speed, encode cost."""
    rows = []
    for (env, context, agent), recs in group(records).items():
        regret, half = mean_ci(np.array([r["cumulative_regret"] for r in recs]))
        ctr, ctr_half = mean_ci(np.array([r["mean_reward"] for r in recs]))
        curves = [r["curve"] for r in recs if r["curve"]["t"] == recs[0]["curve"]["t"]]
        mean_curve = np.mean([c["cumulative_regret"] for c in curves], axis=0)
        rows.append(
            {
                "env": env,
                "context": context,
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
                "encode": encode_cost(recs[0]),
                "encode_cached": all((c := encode_cost(r)) is not None and c["cached"] for r in recs),
                **exploration_means(recs),
                **cold_means(recs),
            }
        )
    return sorted(rows, key=lambda r: (r["env"], r["regret"]))


def _mean_of(values: Sequence[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def exploration_means(recs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Seed means of a group's diversity metrics and (episodic envs) session return and length.

    Records written before these metrics existed give None.
    """
    div = [r.get("diversity") or {} for r in recs]
    out: dict[str, Any] = {key: _mean_of([d.get(key) for d in div]) for key in ("coverage", "diversity", "novelty")}
    sessions = [r["sessions"] for r in recs if r.get("sessions") and r["sessions"].get("mean_return") is not None]
    if sessions:
        ret, half = mean_ci(np.array([s["mean_return"] for s in sessions]))
        out.update(
            session_return=float(ret),
            session_return_ci95=float(half),
            session_length=_mean_of([s["mean_length"] for s in sessions]),
        )
    else:
        out.update(session_return=None, session_return_ci95=None, session_length=None)
    return out


def cold_means(recs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Seed means of a group's cold-start metrics (``record["cold"]``, see ``evaluation.cold``).

    ``cold_regret`` (95% CI): regret on decisions whose candidate set held a cold item;
    ``cold_decisions``: their mean count; ``cold_share``: share of impressions that went
    to cold items; ``new_user_regret`` (95% CI): regret over new users' first N decisions.
    None where no record of the group has them (records written before they existed, envs
    without new users).
    """
    colds = [r["cold"] for r in recs if (r.get("cold") or {}).get("candidates")]
    out: dict[str, Any] = dict.fromkeys(("cold_regret", "cold_regret_ci95", "cold_decisions", "cold_share"))
    if colds:
        regret, half = mean_ci(np.array([c["candidates"]["regret"] for c in colds]))
        out.update(
            cold_regret=float(regret),
            cold_regret_ci95=float(half),
            cold_decisions=_mean_of([c["candidates"]["decisions"] for c in colds]),
            cold_share=_mean_of([c["share"] for c in colds]),
        )
    users = [c["new_users"] for c in colds if c.get("new_users")]
    out.update(new_user_regret=None, new_user_regret_ci95=None)
    if users:
        regret, half = mean_ci(np.array([u["regret"] for u in users]))
        out.update(new_user_regret=float(regret), new_user_regret_ci95=float(half))
    return out


def format_cold(row: dict[str, Any]) -> str:
    """Compact "cold regret ± CI / share" cell, e.g. "415.2 ± 20.1 / 0.008"; "–" where unknown."""
    if row.get("cold_regret") is None:
        return "–"
    return f"{_fmt_pm(row['cold_regret'], row['cold_regret_ci95'], 1)} / {row['cold_share']:.3f}"


def format_exploration(row: dict[str, Any]) -> str:
    """Compact "coverage / diversity / novelty" cell, e.g. "0.42 / 0.81 / 0.97"; "–" where unknown."""
    return " / ".join("–" if row.get(k) is None else f"{row[k]:.2f}" for k in ("coverage", "diversity", "novelty"))


def _fmt_pm(mean: float, half: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if not np.isfinite(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def summary_table(records: Sequence[dict[str, Any]]) -> str:
    """Markdown table of ``summary_rows`` (also what the CLI prints).

    ``context`` is the encoder spec of the env's contexts (ID-only agents ignore it);
    ``encode s / GFLOP`` what computing those contexts cost (seconds, and GFLOP where the
    encoder counts them), "(cached)" when every run of the row read them from the
    embedding cache instead. ``cov / div / nov``: catalogue coverage, intra-list diversity
    (mean pairwise cosine distance of item contexts per session, or per user without
    sessions) and novelty (share of first-time user-item pairs), seed means. With
    episodic envs a ``session return (len)`` column gives the mean clicks per completed
    session (95% CI) and its mean length; regret there is per-step against the myopic optimum.
    Where some run offered cold items, ``cold regret (95% CI) / share`` gives the regret on
    decisions whose candidates held a cold item and the share of impressions that went to
    cold items; where an env has new users, ``new-user regret (95% CI)`` the regret over
    their first N decisions (``recbandit.evaluation.cold`` defines both).
    """
    rows = summary_rows(records)
    episodic = any(r["session_return"] is not None for r in rows)
    cold = any((r["cold_decisions"] or 0) > 0 for r in rows)
    new_users = any(r["new_user_regret"] is not None for r in rows)
    lines = [
        "| env | agent | seeds | horizon | mode | cumulative regret (95% CI) | CTR (95% CI) | slope | "
        "decisions/s | cov / div / nov | "
        + ("session return (len) | " if episodic else "")
        + ("cold regret (95% CI) / share | " if cold else "")
        + ("new-user regret (95% CI) | " if new_users else "")
        + "context | encode s / GFLOP |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"
        + "---:|" * (int(episodic) + int(cold) + int(new_users))
        + "---|---:|",
    ]
    for r in rows:
        cost = None if r["encode"] is None else {**r["encode"], "cached": r["encode_cached"]}
        session = ""
        if episodic and r["session_return"] is None:
            session = "– | "
        elif episodic:
            session = f"{_fmt_pm(r['session_return'], r['session_return_ci95'], 2)} ({r['session_length']:.1f}) | "
        if cold:
            session += f"{format_cold(r)} | "
        if new_users:
            nu = r["new_user_regret"]
            session += "– | " if nu is None else f"{_fmt_pm(nu, r['new_user_regret_ci95'], 1)} | "
        lines.append(
            f"| {r['env']} | {r['agent']} | {r['seeds']} | {r['horizon']:,} | {r['mode']} | "
            f"{_fmt_pm(r['regret'], r['regret_ci95'], 1)} | {_fmt_pm(r['ctr'], r['ctr_ci95'], 4)} | "
            f"{r['slope']:.2f} | {r['decisions_per_s']:,.0f} | {format_exploration(r)} | {session}"
            f"{short_context(r['context']) or '–'} | {format_encode_cost(cost)} |"
        )
    return "\n".join(lines)


def plot_band(ax: Any, t: np.ndarray, mean: np.ndarray, half: np.ndarray, n: int, label: str, **kw: Any) -> None:
    """Plot ``mean`` [T] over ``t`` [T] on ``ax`` with its 95% band ``mean ± half`` (the band only when n > 1)."""
    (line,) = ax.plot(t, mean, label=f"{label} (n={n})", **kw)
    if n > 1:
        ax.fill_between(t, mean - half, mean + half, color=line.get_color(), alpha=0.2, linewidth=0)


def save_png(fig: Any, path: Path) -> None:
    """Write a matplotlib figure to ``path`` as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _by_env(records: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, list[dict[str, Any]]]]]:
    """Records by env: [(legend label, the group's records)]; a label names the context if the env has several."""
    by_env: dict[str, list[tuple[str, list[dict[str, Any]]]]] = defaultdict(list)
    contexts: dict[str, set[str]] = defaultdict(set)
    for env, context, _ in group(records):
        contexts[env].add(context)
    for (env, context, agent), recs in group(records).items():
        by_env[env].append((f"{agent} [{context}]" if len(contexts[env]) > 1 else agent, recs))
    return by_env


def plot_regret(records: Sequence[dict[str, Any]], out_dir: Path | str, log_scale: bool = False) -> list[Path]:
    """One PNG per env: mean cumulative regret over seeds with a 95% band per agent.

    Returns:
        The written files (``regret_<env>.png`` in ``out_dir``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    for env, entries in _by_env(records).items():
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
        seeds = set()
        for agent, recs in sorted(entries, key=lambda e: -e[1][0]["cumulative_regret"]):
            t = np.array(recs[0]["curve"]["t"])
            curves = np.array([r["curve"]["cumulative_regret"] for r in recs if len(r["curve"]["t"]) == len(t)])
            plot_band(ax, t, *mean_ci(curves), len(curves), agent)
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
        save_png(fig, path)
        written.append(path)
    return written


def _cold_curves(recs: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Checkpoints and float[n_seeds, n_t] of ``record["cold"]["curve"][key]`` (seeds that have it); None if none."""
    curves = [(r.get("cold") or {}).get("curve") or {} for r in recs]
    curves = [c for c in curves if c.get(key) is not None]
    if not curves:
        return None
    t = curves[0]["t"]
    return np.array(t), np.array([c[key] for c in curves if c["t"] == t], dtype=np.float64)


def plot_cold(records: Sequence[dict[str, Any]], out_dir: Path | str, log_scale: bool = False) -> list[Path]:
    """One PNG per env whose runs offered cold items: cold-start curves, mean over seeds with a 95% band.

    Panels: cumulative regret on decisions whose candidate set held a cold item; the
    share of impressions that went to cold items (over decisions 1..t), with the share a
    uniformly random choice would give (dashed, mean over all the env's runs); and, where
    the env has new users, cumulative regret over their first N decisions. Definitions in
    ``recbandit.evaluation.cold``. Records without cold curves (older ones) are skipped.

    Returns:
        The written files (``cold_<env>.png`` in ``out_dir``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    for env, entries in _by_env(records).items():
        recs_of_env = [r for _, recs in entries for r in recs]
        offered = [((r.get("cold") or {}).get("candidates") or {}).get("decisions", 0) for r in recs_of_env]
        if not any(offered):
            continue
        panels = [("candidates_regret", "cumulative regret, decisions with a cold candidate"), ("share", "")]
        if any(_cold_curves(recs, "new_user_regret") for _, recs in entries):
            first_n = next(
                r["cold"]["new_users"]["first_n"] for r in recs_of_env if (r.get("cold") or {}).get("new_users")
            )
            panels.append(("new_user_regret", f"cumulative regret, new users' first {first_n} decisions"))
        fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), dpi=110, squeeze=False)
        seeds = set()
        for ax, (key, ylabel) in zip(axes[0], panels, strict=True):
            for agent, recs in sorted(entries, key=lambda e: -e[1][0]["cumulative_regret"]):
                curves = _cold_curves(recs, key)
                if curves is not None:
                    plot_band(ax, curves[0], *mean_ci(curves[1]), len(curves[1]), agent)
                    seeds.add(len(curves[1]))
            if key == "share":
                uniform = _cold_curves(recs_of_env, "share_offered")
                if uniform is not None:
                    ax.plot(uniform[0], uniform[1].mean(axis=0), "k--", lw=1, label="uniformly random choice")
                ylabel = "share of impressions to cold items"
            ax.set_xlabel("decisions")
            ax.set_ylabel(ylabel)
            if log_scale:
                ax.set_xscale("log")
                if key != "share":
                    ax.set_yscale("log", nonpositive="mask")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        n = ", ".join(str(s) for s in sorted(seeds))
        fig.suptitle(f"{env}: cold start, mean over {n} seeds, 95% band")
        fig.tight_layout()
        path = out_dir / f"cold_{env.replace('/', '_')}.png"
        save_png(fig, path)
        written.append(path)
    return written
