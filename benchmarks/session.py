"""Session-v0: does deep RL (PPO, DQN, A2C) learn to avoid fatigue and churn better than a myopic bandit?

Users stay for sessions; showing a topic tires the user of it (fatigue), lost clicks lower
satisfaction and low satisfaction makes the user leave (see ``recbandit.envs.session``).
A recommender that maximises the click of each step is *myopic*; one that plans keeps
the user longer and collects more clicks per session.

1. Reference policies that read the env's true state (not agents, they cannot learn
   anything): the myopic oracle (argmax of the true click probabilities of the step) and a
   fatigue-aware oracle rule (argmax of ``logit p_t(i) - 0.5 <fatigue, topics_i>``). They
   show how much planning can win over the myopic optimum.
2. Agents trained online through the runner, B sessions side by side (``batch_size``):
   random, LinUCB and NeuralLinear on the same observation (user context + session
   features; myopic bandits), DQN, PPO and A2C (SB3 through ``recbandit.agents.sb3``), with
   the hand-picked settings below and, beside each, a "(tuned)" row with the setting
   ``recbandit tune`` chose on tuning seeds (>= 1000), read from ``--tuned``'s
   ``*/tune.json`` (``benchmarks/results/tune``): the benchmark's seeds 0, 1, 2 are
   held out from that selection.
3. Report: return (clicks) per completed session and session length, overall and over
   the last 20% of the decisions, the learning curves over decisions (plot), and, for
   the deep-RL agents, the budget their learning curve would need to reach the myopic
   bandit, extrapolated from the curve's second half.

Usage::

    nice python benchmarks/session.py            # -> benchmarks/results/session/ (about 30 min on 2 cores)
    python benchmarks/session.py --quick         # smoke run -> runs/session-quick/
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from recbandit.envs import make_env
from recbandit.evaluation import RunSpec, run_sweep, summary_table
from recbandit.evaluation.metrics import mean_ci, welch
from recbandit.evaluation.report import plot_band, save_png
from recbandit.evaluation.results import atomic_write_bytes, machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "session"
DEEP_RL = ("dqn", "ppo", "a2c")


@dataclass
class Args:
    """Session return of PPO and DQN against a myopic LinUCB and random on Session-v0."""

    env: str = "recbandit/Session-v0"
    """session env id"""
    horizon: int = 200_000
    """decisions per run (all sessions together)"""
    batch_size: int = 16
    """concurrent sessions B (the deep-RL agents see them as B parallel envs)"""
    seeds: int = 3
    """number of seeds (0 .. seeds-1)"""
    workers: int = 2
    """local worker processes (each run uses one thread)"""
    oracle_decisions: int = 64_000
    """decisions simulated for each reference (oracle) policy"""
    out: Path | None = None
    """results folder (default benchmarks/results/session; runs/session-quick with --quick)"""
    quick: bool = False
    """smoke run: horizon 3,200, 1 seed, 1 worker, small schedules, no tuned rows"""
    tuned: Path | None = ROOT / "benchmarks" / "results" / "tune"
    """folder of ``recbandit tune`` outputs (``*/tune.json``): a "(tuned)" row per agent tuned there"""


def shown_path(path: Path) -> str:
    """``path`` relative to the checkout when inside it (stored results name no machine's folders)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def agents(horizon: int, quick: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, registered name, params) of the compared agents."""
    # Settings picked by short pilot runs (80k decisions, one seed) among a few SB3-style ones.
    dqn = {
        "gamma": 0.9,
        "learning_rate": 5e-4,
        "batch_size": 128,
        "train_freq": 1,
        "learning_starts": 2000,
        "target_update_interval": 1000,
        "exploration_fraction": 0.1,
        "exploration_final_eps": 0.02,
        "total_timesteps": horizon,
    }
    ppo = {"gamma": 0.95, "learning_rate": 3e-3, "n_steps": 64, "batch_size": 256, "n_epochs": 4, "ent_coef": 0.01}
    # A2C: best of 7 settings at 100k decisions, one seed (Adam beat SB3's default RMSprop).
    a2c = {"gamma": 0.95, "learning_rate": 3e-3, "n_steps": 16, "ent_coef": 0.01, "use_rms_prop": False}
    if quick:
        dqn.update(learning_starts=200, target_update_interval=200)
        ppo.update(n_steps=16, batch_size=64)
        a2c.update(n_steps=4)
    return [
        ("random", "random", {}),
        ("linucb-myopic", "linucb-shared", {"alpha": 0.1}),
        ("neural-linear-myopic", "neural-linear", {}),
        ("dqn", "dqn", dqn),
        ("ppo", "ppo", ppo),
        ("a2c", "a2c", a2c),
    ]


def tuned_agents(
    base: list[tuple[str, str, dict[str, Any]]], folder: Path, env: str, batch_size: int, horizon: int
) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """A "(tuned)" row for every base agent that ``folder/*/tune.json`` chose a setting for on ``env``.

    The row keeps the base row's parameters and overrides them with the tuning run's fixed
    ones and the chosen ones; DQN's ``total_timesteps`` (its exploration schedule) is set to
    this benchmark's horizon, as for the hand-picked row. Returns the rows and, per row label,
    what the tuning found (for the tuning table).
    """
    rows, found = [], {}
    for path in sorted(folder.glob("*/tune.json")):
        tune = json.loads(path.read_text())
        chosen = tune.get("chosen")
        if tune.get("env") != env or tune.get("batch_size") != batch_size or chosen is None:
            continue
        for label, name, params in base:
            if name != tune["agent"] or label == "random":
                continue
            merged = {**params, **(tune.get("fixed") or {}), **chosen["params"]}
            if "total_timesteps" in merged:
                merged["total_timesteps"] = horizon
            rows.append((f"{label} (tuned)", name, merged))
            found[f"{label} (tuned)"] = {"base": label, "tune": tune, "path": shown_path(path)}
    return rows, found


def oracle(env_id: str, decisions: int, batch: int, fatigue_penalty: float, seed: int = 0) -> dict[str, Any]:
    """Return and length of completed sessions under a true-state policy.

    ``fatigue_penalty`` 0 is the myopic oracle (argmax of the true click probability);
    > 0 subtracts ``fatigue_penalty * <fatigue, topics_i>`` from each candidate's logit.
    """
    env = make_env(env_id, batch_size=batch)
    env.reset(seed=seed)
    core = env.core
    returns: list[float] = []
    lengths: list[int] = []
    for _ in range(decisions // batch):
        p = core.expected_rewards()
        score = np.log(p) - np.log1p(-p)
        score -= fatigue_penalty * np.einsum("bkt,bt->bk", core.topics[core.candidates], core.fatigue)
        _, _, _, _, info = env.step(score.argmax(axis=1))
        ended = info["terminated"] | info["truncated"]
        returns += info["session_return"][ended].tolist()
        lengths += info["session_length"][ended].tolist()
    r, half = mean_ci(np.array(returns))
    return {"sessions": len(returns), "return": float(r), "return_ci95": float(half), "length": float(np.mean(lengths))}


def window_means(records: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Curve ``t`` and mean / 95% half-width over seeds of a session curve (windows without sessions: NaN)."""
    t = np.array(records[0]["sessions"]["curve"]["t"])
    values = np.array([[np.nan if v is None else v for v in r["sessions"]["curve"][key]] for r in records])
    mean, half = mean_ci(values)
    return t, mean, half


def late(records: list[dict[str, Any]], key: str, share: float = 0.2) -> tuple[float, float]:
    """Mean / 95% CI over seeds of each seed's mean of ``key`` over the last ``share`` of the windows."""
    mean, half = mean_ci(np.array([late_seed(r, key, share) for r in records]))
    return float(mean), float(half)


def late_seed(record: dict[str, Any], key: str, share: float = 0.2) -> float:
    """One seed's mean of session curve ``key`` over the last ``share`` of its windows."""
    values = np.array([np.nan if v is None else v for v in record["sessions"]["curve"][key]], dtype=float)
    return float(np.nanmean(values[-max(1, int(round(share * len(values)))) :]))


def budget_estimate(t: np.ndarray, curve: np.ndarray, target: float) -> dict[str, Any]:
    """Decisions until ``curve`` reaches ``target``, extrapolated from its second half.

    Two fits over the second half of the windows: linear in t (optimistic: learning rarely
    keeps its pace) and linear in log t (learning that slows down). ``None`` when the fit
    does not rise.
    """
    half = len(t) // 2
    x, y = t[half:].astype(float), curve[half:]
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    out: dict[str, Any] = {"current": float(np.mean(y[-3:])), "target": float(target)}
    if len(x) < 3:
        return {**out, "linear": None, "log": None, "slope_per_100k": None}
    slope, icept = np.polyfit(x, y, 1)
    lslope, licept = np.polyfit(np.log(x), y, 1)
    out["slope_per_100k"] = float(slope * 1e5)
    out["linear"] = float(max((target - icept) / slope, x[-1])) if slope > 0 else None
    out["log"] = float(max(np.exp((target - licept) / lslope), x[-1])) if lslope > 0 else None
    return out


def budget_text(decisions: float) -> str:
    """An extrapolated budget for the report: beyond 1e10 decisions the fit barely rises, so no figure."""
    return f"{decisions:,.0f}" if decisions < 1e10 else "> 10^10 (the fit barely rises)"


def interval_over(source: dict[str, Any] | list[dict[str, Any]]) -> str:
    """What a table row's 95% interval is taken over: a reference's sessions (one seed) or an agent's seeds."""
    if isinstance(source, dict):
        return f"{source['sessions']:,} sessions of 1 seed"
    n = len(source)
    return f"{n} seeds" if n > 1 else "1 seed (no interval)"


def shout(label: str) -> str:
    """``"dqn (tuned)"`` -> ``"DQN (tuned)"``: the agent's name in capitals, the rest as it is."""
    name, _, rest = label.partition(" ")
    return f"{name.upper()} {rest}".rstrip()


def reading(by_agent: dict[str, list[dict[str, Any]]], refs: dict[str, dict[str, Any]], myopic_late: float) -> str:
    """One paragraph stating, from the numbers, whether deep RL beat the myopic bandit and kept users longer."""
    my_len, _ = late(by_agent["linucb-myopic"], "mean_length")
    gain = refs["fatigue-aware oracle rule"]["return"] / refs["myopic oracle"]["return"] - 1
    parts = [
        f"Reading: planning can pay on this env (the fatigue-aware rule gets {gain:+.0%} clicks per session over "
        f"the myopic oracle). Over the last 20% of the decisions the myopic LinUCB gets {myopic_late:.3f} clicks "
        f"per session in {my_len:.2f} steps."
    ]
    for agent in by_agent:
        if agent.split(" ")[0] not in DEEP_RL:
            continue
        (ret, half), (length, _) = late(by_agent[agent], "mean_return"), late(by_agent[agent], "mean_length")
        verdict = "beats" if ret - half > myopic_late else ("does not beat" if ret + half < myopic_late else "ties")
        longer = "longer" if length > my_len else "shorter"
        parts.append(
            f"{shout(agent)} {verdict} it ({ret:.3f} ± {half:.3f}), with {longer} sessions ({length:.2f} steps): "
            + (
                "it has not learned to avoid fatigue and churn better than the myopic bandit in this budget."
                if ret < myopic_late
                else "it keeps users engaged longer than the myopic bandit."
            )
        )
    return " ".join(parts)


def tuning_table(by_agent: dict[str, list[dict[str, Any]]], tuning: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown rows: each tuned agent's setting, its tuning-seed figure, and tuned vs hand-picked on held-out seeds."""
    lines = [
        "## Tuned against hand-picked settings",
        "",
        "Each tuned setting was chosen by `recbandit tune` on tuning seeds (>= 1000; the objective and its 95% "
        "interval over those seeds, at the tuning horizon, in the tune column); the other columns are this "
        "benchmark's held-out seeds. Differences: tuned minus hand-picked, Welch 95% interval over seeds.",
        "",
        "| agent | chosen setting | on tuning seeds | held-out return, whole run | held-out, last 20% | "
        "Δ whole run | Δ last 20% |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, found in tuning.items():
        tuned, base = by_agent.get(label), by_agent.get(found["base"])
        if not tuned or not base:
            continue
        tune, chosen = found["tune"], found["tune"]["chosen"]
        setting = ", ".join(f"{k}={_short(v)}" for k, v in chosen["params"].items())
        ci = "" if chosen.get("ci95") is None else f" ± {chosen['ci95']:.3f}"
        on_tuning = f"{chosen['objective']:.3f}{ci} ({tune['horizon']:,} dec., {chosen['seeds_done']} seeds)"
        whole = [np.array([r["sessions"]["mean_return"] for r in recs]) for recs in (tuned, base)]
        lates = [np.array([late_seed(r, "mean_return") for r in recs]) for recs in (tuned, base)]
        cells = []
        for a, b in (whole, lates):
            diff, half = welch(a, b)
            cells.append(f"{diff:+.3f} ± {half:.3f}" + (" (excludes 0)" if abs(diff) > half else " (within noise)"))
        (w, wh), (lt, lh) = mean_ci(whole[0]), mean_ci(lates[0])
        lines.append(
            f"| {found['base']} | {setting} | {on_tuning} | {w:.3f} ± {wh:.3f} | {lt:.3f} ± {lh:.3f} | "
            f"{cells[0]} | {cells[1]} |"
        )
    return lines


def _short(value: Any) -> str:
    """A setting's value for a table cell (floats to 3 significant digits)."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def plot_curves(by_agent: dict[str, list[dict[str, Any]]], refs: dict[str, dict[str, Any]], path: Path) -> None:
    """Two panels: return per session and session length over decisions, mean over seeds with a 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), dpi=110)
    for ax, key, ref_key, label in (
        (axes[0], "mean_return", "return", "clicks per session"),
        (axes[1], "mean_length", "length", "session length (steps)"),
    ):
        for agent, recs in by_agent.items():
            plot_band(ax, *window_means(recs, key), len(recs), agent, marker=".")
        for name, ref in refs.items():
            ax.axhline(ref[ref_key], linestyle="--", linewidth=1, color="grey" if "myopic" in name else "black")
            ax.annotate(name, (0.01, ref[ref_key]), xycoords=("axes fraction", "data"), fontsize=7, va="bottom")
        ax.set_xlabel("decisions (training steps x B)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    n = ", ".join(str(s) for s in sorted({len(r) for r in by_agent.values()}))
    fig.suptitle(f"Session-v0: sessions ending in each 1/20 of the run, mean over {n} seeds, 95% band")
    fig.tight_layout()
    save_png(fig, path)


def main(args: Args) -> None:
    # Seeding: every run is seeded by its spec; the oracles by their own seed. Nothing here
    # draws from the global generators, which are fixed all the same.
    random.seed(0)
    np.random.seed(0)
    if args.quick:
        args.horizon, args.seeds, args.workers, args.oracle_decisions = 3_200, 1, 1, 3_200
    out = args.out or (Path("runs") / "session-quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    # REFERENCES: true-state policies (upper references, not learners).
    refs = {
        "myopic oracle": oracle(args.env, args.oracle_decisions, args.batch_size, 0.0),
        "fatigue-aware oracle rule": oracle(args.env, args.oracle_decisions, args.batch_size, 0.5),
    }
    for name, ref in refs.items():
        print(
            f"{name}: {ref['return']:.3f} ± {ref['return_ci95']:.3f} clicks/session (95% CI over "
            f"{ref['sessions']:,} sessions of one seed), {ref['length']:.2f} steps"
        )

    # SWEEP: agents x seeds, resumable.
    compared = agents(args.horizon, args.quick)
    tuning: dict[str, dict[str, Any]] = {}
    if args.tuned is not None and not args.quick and args.tuned.is_dir():
        extra, tuning = tuned_agents(compared, args.tuned, args.env, args.batch_size, args.horizon)
        compared += extra
    specs = [
        RunSpec(
            env=args.env,
            agent=name,
            seed=seed,
            horizon=args.horizon,
            batch_size=args.batch_size,
            agent_params=params,
            benchmark="session",
            label=label,
        )
        for label, name, params in compared
        for seed in range(args.seeds)
    ]
    records = run_sweep(specs, out, workers=args.workers, show_progress=not args.quick)
    seconds = time.perf_counter() - start
    run_seconds = sum(r["cost"]["seconds"] for r in records)
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_agent.setdefault(rec["agent"], []).append(rec)

    # REPORT: session table, learning curves, budget estimate.
    myopic_late, _ = late(by_agent["linucb-myopic"], "mean_return")
    rows = [
        "| policy | seeds | decisions | interval over | return / session (95% CI) | length | return, last 20% | "
        "length, last 20% | CTR | cov / div / nov | decisions/s |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, ref in refs.items():
        rows.append(
            f"| {name} (true state) | 1 | {args.oracle_decisions:,} | {interval_over(ref)} | "
            f"{ref['return']:.3f} ± {ref['return_ci95']:.3f} | {ref['length']:.2f} | – | – | – | – | – |"
        )
    budgets = {}
    for agent, recs in by_agent.items():
        ret, ret_half = mean_ci(np.array([r["sessions"]["mean_return"] for r in recs]))
        length = np.mean([r["sessions"]["mean_length"] for r in recs])
        late_ret, late_half = late(recs, "mean_return")
        late_len, _ = late(recs, "mean_length")
        ctr = np.mean([r["mean_reward"] for r in recs])
        div = {k: np.mean([r["diversity"][k] for r in recs]) for k in ("coverage", "diversity", "novelty")}
        pm = "" if not np.isfinite(ret_half) else f" ± {ret_half:.3f}"
        late_pm = "" if not np.isfinite(late_half) else f" ± {late_half:.3f}"
        rows.append(
            f"| {agent} | {len(recs)} | {args.horizon:,} | {interval_over(recs)} | {ret:.3f}{pm} | {length:.2f} | "
            f"{late_ret:.3f}{late_pm} | "
            f"{late_len:.2f} | {ctr:.4f} | {div['coverage']:.2f} / {div['diversity']:.2f} / {div['novelty']:.2f} | "
            f"{np.mean([r['decisions_per_s'] for r in recs]):,.0f} |"
        )
        if agent.split(" ")[0] in DEEP_RL:
            t, curve, _ = window_means(recs, "mean_return")
            budgets[agent] = budget_estimate(t, curve, myopic_late)
    table = "\n".join(rows)
    plot_curves(by_agent, refs, out / "session_curves.png")

    lines = [
        f"# {args.env}: session return of deep RL vs a myopic bandit",
        "",
        f"{args.seeds} seeds x {args.horizon:,} decisions per agent, B = {args.batch_size} concurrent sessions "
        f"(batched: agents update after each step of B decisions). Return = clicks per completed session "
        f"(sessions still running at the horizon are left out); 'last 20%' = sessions ending in the last "
        f"20% of the decisions, the learned behaviour. Intervals are 95% CIs of different kinds, as the "
        f"'interval over' column says: an agent's is over its seeds' means (it covers what changes "
        f"between training runs); a reference policy's (it does not learn, one simulated seed) is over "
        f"the completed sessions of that seed. Machine: {machine()['processor']}, "
        f"{machine()['cpus']} CPUs, {args.workers} worker(s), one thread per run (under `nice`, on a shared "
        f"machine); the runs took {run_seconds:,.0f} s in all (sum over runs), this invocation {seconds:,.0f} s "
        "of wall time (finished runs are reused).",
        "",
        table,
        "",
        "Learning curves: `session_curves.png`. Budget the deep-RL curves would need to reach the myopic "
        f"bandit's late return ({myopic_late:.3f}), extrapolated from the second half of each curve:",
        "",
    ]
    for agent, b in budgets.items():
        slope = "–" if b["slope_per_100k"] is None else f"{b['slope_per_100k']:+.3f}"
        head = f"- {agent}: {b['current']:.3f} clicks/session at the end, slope {slope} per 100k decisions; "
        if b["current"] >= b["target"]:
            lines.append(head + "already at or above the myopic bandit.")
            continue
        lin = "not rising: no finite budget" if b["linear"] is None else budget_text(b["linear"]) + " decisions"
        log = "not rising: no finite budget" if b["log"] is None else budget_text(b["log"])
        lines.append(head + f"decisions to reach {b['target']:.3f}: linear fit {lin}; fit in log t {log}.")
    lines += ["", reading(by_agent, refs, myopic_late)]
    if tuning:
        lines += ["", *tuning_table(by_agent, tuning)]
    lines += ["", "Full summary (regret is per step against the myopic optimum):", "", summary_table(records), ""]
    lines.append(f"Command: `{' '.join(['python', 'benchmarks/session.py', *sys.argv[1:]])}`")
    atomic_write_bytes(out / "summary.md", "\n".join(lines).encode())
    summary = {
        "references": refs,
        "budgets": budgets,
        "seconds": seconds,
        "run_seconds": run_seconds,
        "tuned": {label: {"chosen": t["tune"]["chosen"], "tune_json": t["path"]} for label, t in tuning.items()},
        "args": {**vars(args), "out": shown_path(out), "tuned": None if args.tuned is None else shown_path(args.tuned)},
    }
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1, default=str).encode())
    print("\n".join(lines))
    print(f"\nwrote {out / 'summary.md'}, {out / 'session_curves.png'}")


if __name__ == "__main__":
    main(tyro.cli(Args))
