"""Does language-model context help? Regret on MovieLens100K-v0 with MiniLM, bag-of-words and no context.

Columns (one env per column; the user model, the ground truth, is the same in all of them,
fitted with the default bag-of-words item features, see ``MovieLensEnvConfig.truth_encoder``):

- ``minilm``: contexts from frozen all-MiniLM-L6-v2 (film "Title (year) — genres", user
  profile "A 24-year-old male technician.", each beside the genre / demographic features,
  PCA to ``context_dim``);
- ``bow``: the same texts through the hashed bag of words (no language model);
- ``lora`` (only with ``--lora SPEC``): a fine-tuned encoder, e.g. a merged model folder
  or ``tuned:FOLDER`` once ``recbandit.encoders.finetune`` registers that kind;
- ``ids only``: UCB1 and Thompson sampling, which ignore contexts (one model per film).

Steps:

1. Build each column's env once in this process (the encode runs once and fills the
   embedding cache; every worker reads it back) and record what the contexts cost.
2. Diagnostics, no agent involved: how much of the ground truth each context can express.
   On 20,000 simulated decisions (K candidates each, users in the env's arrival order) fit
   the best linear model of the expected reward on the shared agents' features
   ``(user, 1) ⊗ (item, 1)`` (ridge, half the decisions), and on the other half report
   its R², and the regret per decision of acting greedily on it (the floor a shared
   linear agent approaches with unlimited data), beside the best context-free policy
   (one score per film: the floor of UCB1/TS) and uniform random choice. The same floors
   under a ground truth fitted with MiniLM item features show whether the conclusion
   depends on the truth's own text encoder; and the held-out AUC of each truth says how
   well each text representation predicts real ratings.
3. Sweep (``run_sweep``, resumable, ``workers`` processes): context agents on every
   context column, ID-only agents once, ``seeds`` seeds x ``horizon`` online decisions.
4. ``summary.md`` (tables) and ``regret.png`` in the output folder.

Usage::

    nice python benchmarks/context.py                      # -> benchmarks/results/context/
    nice python benchmarks/context.py --lora /path/to/tuned-folder   # adds the "lora" column
    python benchmarks/context.py --quick --contexts bow:32 bow     # smoke run -> runs/context-quick/
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
from _data import use_shared_data

from recbandit.envs import make_env
from recbandit.envs.problem import BanditProblem
from recbandit.evaluation import RunSpec, run_sweep, summary_table
from recbandit.evaluation.metrics import mean_ci, t_quantile
from recbandit.evaluation.report import encode_cost, format_encode_cost, group, plot_band, save_png
from recbandit.evaluation.results import atomic_write_bytes, machine

use_shared_data()  # the registered envs find ../shared/data by name (library code never looks there)

RESULTS = Path(__file__).resolve().parent / "results" / "context"
ID_ONLY = "ids only"


@dataclass
class Args:
    """Regret of shared linear bandits on MiniLM vs bag-of-words contexts vs ID-only bandits, MovieLens 100K."""

    env: str = "recbandit/MovieLens100K-v0"
    """env id (a MovieLens env)"""
    path: str | None = None
    """MovieLens folder (default: the env finds MovieLens 100K itself)"""
    contexts: tuple[str, ...] = ("minilm", "bow")
    """encoder specs of the context columns (the column is named after the spec's kind)"""
    lora: str | None = None
    """encoder spec of a fine-tuned encoder (a merged model folder, or tuned:FOLDER once registered): adds 'lora'"""
    context_agents: tuple[str, ...] = ("linucb-shared", "lints-shared")
    """agents run on every context column"""
    id_agents: tuple[str, ...] = ("ucb1", "ts")
    """context-free agents, run once"""
    seeds: int = 5
    """number of seeds (0 .. seeds-1)"""
    horizon: int = 50_000
    """decisions per run (online: the agent updates after every decision)"""
    user_arrival: str = "log"
    """"log" (evaluation-period users in log order) or "activity" """
    workers: int = 2
    """local worker processes for the sweep"""
    diagnostic_decisions: int = 20_000
    """simulated decisions for the linear-fit diagnostics (half to fit, half to score)"""
    truth_check: tuple[str, ...] = ("minilm",)
    """other truth encoders under which the diagnostics are repeated (empty: none)"""
    out: Path | None = None
    """results folder (default benchmarks/results/context; runs/context-quick with --quick)"""
    quick: bool = False
    """smoke run: horizon 2,000, 2 seeds, one worker, 2,000 diagnostic decisions, no truth check"""


def column_names(specs: list[str], lora: str | None) -> dict[str, str]:
    """Column name -> spec: "lora" for the --lora spec, the kind where unique ("minilm", "bow"), else the spec."""
    kinds = [s.split(":")[0] for s in specs]
    out = {}
    for spec, kind in zip(specs, kinds, strict=True):
        if lora is not None and spec == lora:
            out["lora"] = spec
        else:
            out[kind if kinds.count(kind) == 1 and kind in ("minilm", "bow") else spec] = spec
    return out


def outer_features(user: np.ndarray, items: np.ndarray) -> np.ndarray:
    """float64[N, K, (d_u + 1)(d_i + 1)]: the shared agents' ``(user, 1) ⊗ (item, 1)`` for N users x K items."""
    n, k, _ = items.shape
    u = np.concatenate([user, np.ones((n, 1))], axis=1)
    v = np.concatenate([items, np.ones((n, k, 1))], axis=2)
    return np.einsum("np,nkq->nkpq", u, v).reshape(n, k, -1)


def linear_floor(problem: BanditProblem, decisions: int, seed: int = 0, ridge: float = 1.0) -> dict[str, float]:
    """How well the best linear model on the shared features expresses the ground truth.

    Draws ``decisions`` decisions spread over the env's timeline (users in its arrival
    order, K available candidates each), fits ridge regression of the expected reward on
    ``(user, 1) ⊗ (item, 1)`` on half of them and scores the other half.

    Returns:
        ``r2`` (held-out R² of the expected reward), ``linear_regret`` (mean regret per
        decision of the greedy policy on the fitted model), ``item_regret`` (the same for
        the best one-score-per-film policy, fitted on the same half), ``random_regret``,
        ``item_r2`` (R² of the per-film scores), ``taste_r2`` (R² of the linear model fitted
        to what the per-film scores leave: the user-specific part of the expected reward).
    """
    rng = np.random.default_rng(seed)
    horizon = len(problem.user_schedule) if problem.user_schedule is not None else 20_000
    ts = np.sort(rng.integers(0, horizon, size=decisions))
    users = np.empty(decisions, np.int64)
    cands = np.empty((decisions, problem.k), np.int64)
    for j, t in enumerate(ts):  # one draw per decision time: the candidate pool depends on t
        u, c = problem.draw(rng, int(t), 1)
        users[j], cands[j] = u[0], c[0]
    p = problem.user_model.expected_reward(users, cands)  # float64[D, K]
    obs = problem.observe(users, cands)
    x = outer_features(obs["user"].astype(np.float64), obs["items"].astype(np.float64))
    half = decisions // 2
    tr, te = slice(0, half), slice(half, decisions)
    xt = x[tr].reshape(-1, x.shape[2])
    a = xt.T @ xt + ridge * np.eye(x.shape[2])
    theta = np.linalg.solve(a, xt.T @ p[tr].reshape(-1))
    pred = x[te] @ theta
    rows = np.arange(decisions - half)
    best = p[te].max(axis=1)
    # One score per film: its mean expected reward over the fitting half's (user, film) pairs.
    n_items = problem.n_items
    sums = np.bincount(cands[tr].reshape(-1), weights=p[tr].reshape(-1), minlength=n_items)
    counts = np.bincount(cands[tr].reshape(-1), minlength=n_items)
    item_score = np.where(counts > 0, sums / np.maximum(counts, 1), p[tr].mean())
    item_pred = item_score[cands[te]]
    # The user-specific part: expected reward minus the film's score, fitted on the same features.
    theta_taste = np.linalg.solve(a, xt.T @ (p[tr] - item_score[cands[tr]]).reshape(-1))
    taste_pred = x[te] @ theta_taste
    taste = p[te] - item_pred

    def r2(pred_: np.ndarray) -> float:
        resid = p[te] - pred_
        return float(1 - resid.var() / p[te].var())

    return {
        "r2": r2(pred),
        "linear_regret": float((best - p[te][rows, pred.argmax(axis=1)]).mean()),
        "item_r2": r2(item_pred),
        "taste_r2": float(1 - (taste - taste_pred).var() / taste.var()),
        "item_regret": float((best - p[te][rows, item_pred.argmax(axis=1)]).mean()),
        "random_regret": float((best - p[te].mean(axis=1)).mean()),
    }


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean difference ``a - b`` of two seed samples and its 95% half-width (Welch, conservative df)."""
    n = min(len(a), len(b))
    half = t_quantile(n) * float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))) if n > 1 else float("nan")
    return float(a.mean() - b.mean()), half


def reading(
    regrets: dict[tuple[str, str], np.ndarray],
    columns: list[str],
    args: Args,
    info: dict[str, dict[str, Any]],
) -> list[str]:
    """Sentences that read the tables (computed from them, so they never go stale)."""
    out = []
    same = True
    for agent in args.context_agents:
        for col in columns[1:]:
            if col == ID_ONLY or (agent, columns[0]) not in regrets or (agent, col) not in regrets:
                continue
            d, h = compare(regrets[(agent, columns[0])], regrets[(agent, col)])
            differs = np.isfinite(h) and abs(d) > h
            same = same and not differs
            verdict = ("lower" if d < 0 else "higher") if differs else "no difference at 95%"
            out.append(f"- {agent}: regret on `{columns[0]}` minus on `{col}` = {d:,.0f} ± {h:,.0f} (95%): {verdict}.")
    ctx = [(float(np.mean(v)), f"{a} [{c}]") for (a, c), v in regrets.items() if c != ID_ONLY]
    ids = [(float(np.mean(v)), a) for (a, c), v in regrets.items() if c == ID_ONLY]
    ids_win = False
    if ctx and ids:
        (bc, bcn), (bi, bin_) = min(ctx), min(ids)
        ids_win = bi < bc
        out.append(
            f"- Best context agent, {bcn}: {bc:,.0f}; best ID-only agent, {bin_}: {bi:,.0f} "
            f"(the context agent ends {'above' if ids_win else 'below'} it)."
        )
    f = info[next(iter(info))]["floor"]
    r2s = ", ".join(f"{c} {info[c]['floor']['r2']:.2f}" for c in info)
    taste = ", ".join(f"{c} {info[c]['floor']['taste_r2']:.3f}" for c in info)
    floors = ", ".join(f"{c} {info[c]['floor']['linear_regret'] * args.horizon:,.0f}" for c in info)
    out.append(
        f"- Why: one score per film explains {f['item_r2']:.0%} of the variance of the expected reward; the "
        f"best linear model on the shared agents' features (user, 1) ⊗ (item, 1) explains {r2s}, and of the "
        f"user-specific rest (expected reward minus the film's score) {taste}. Acting greedily on that best "
        f"linear model would still cost {floors} regret over {args.horizon:,} decisions, against "
        f"{f['item_regret'] * args.horizon:,.0f} for the best one-score-per-film policy: a shared linear agent "
        "on low-dimensional text contexts cannot express which film is good, whatever encoder made them"
        + (", so the encoder makes no measurable difference to it here" if same else "")
        + (", while per-film agents learn exactly that from ratings." if ids_win else ".")
    )
    return out


def plot(records: list[dict[str, Any]], names: dict[str, str], path: Path, title: str) -> None:
    """Mean cumulative regret with a 95% band per (agent, context column)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    entries = sorted(group(records).items(), key=lambda kv: -np.mean([r["cumulative_regret"] for r in kv[1]]))
    for (_, _, label), recs in entries:
        t = np.array(recs[0]["curve"]["t"])
        curves = np.array([r["curve"]["cumulative_regret"] for r in recs])
        plot_band(ax, t, *mean_ci(curves), len(curves), names[label])
    ax.set_xlabel("decisions")
    ax.set_ylabel("cumulative regret (vs. expected reward)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def main(args: Args) -> None:
    # Seeding: runs are seeded by their specs, the diagnostics by seed 0; global generators fixed all the same.
    random.seed(0)
    np.random.seed(0)
    if args.quick:
        args.horizon, args.seeds, args.workers = 2_000, 2, 1
        args.diagnostic_decisions = min(args.diagnostic_decisions, 2_000)
        args.truth_check = ()
    out = args.out or (Path("runs") / "context-quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {"user_arrival": args.user_arrival}
    if args.path is not None:
        common["path"] = str(Path(args.path).resolve())
    specs_by_column = column_names([*args.contexts, *([args.lora] if args.lora else [])], args.lora)

    # CONTEXTS: build each column's env once (fills the embedding cache), its cost and diagnostics.
    info: dict[str, dict[str, Any]] = {}
    for column, enc in specs_by_column.items():
        start = time.perf_counter()
        env = make_env(args.env, batch_size=1, encoder=enc, **common)
        ctx = env.problem.contexts_info
        floor = linear_floor(env.problem, args.diagnostic_decisions)
        info[column] = {
            "spec": ctx["spec"],
            "encoder": ctx["encoder"],
            "encode": ctx["encode"],
            "build_s": time.perf_counter() - start,
            "floor": floor,
            "fit_report": env.fit_report,
        }
        print(
            f"{column:8s} {ctx['encoder']}: built in {info[column]['build_s']:.1f} s; "
            f"linear R² {floor['r2']:.3f}, floor regret/decision {floor['linear_regret']:.4f} "
            f"(per-film scores {floor['item_regret']:.4f}, random {floor['random_regret']:.4f})"
        )
    # TRUTH CHECK: the same diagnostics under a ground truth fitted with another text encoder.
    truth: dict[str, dict[str, Any]] = {}
    for truth_spec in args.truth_check:
        per_column = {}
        for column, enc in specs_by_column.items():
            env = make_env(args.env, batch_size=1, encoder=enc, truth_encoder=truth_spec, **common)
            per_column[column] = linear_floor(env.problem, args.diagnostic_decisions)
        truth[truth_spec] = {"fit_report": env.fit_report, "floor": per_column}
        print(f"truth fitted with {truth_spec}: " + ", ".join(f"{c} R² {f['r2']:.3f}" for c, f in per_column.items()))

    # SWEEP: context agents x context columns, ID-only agents once; online, resumable.
    specs: list[RunSpec] = []
    names: dict[str, str] = {}
    for column, enc in specs_by_column.items():
        for agent in args.context_agents:
            label = f"{agent} [{column}]"
            names[label] = label
            specs += [
                RunSpec(args.env, agent, seed, args.horizon, 1, {**common, "encoder": enc}, {}, "context", label)
                for seed in range(args.seeds)
            ]
    id_env = {**common, "encoder": specs_by_column.get("bow", args.contexts[0])}  # contexts unused
    for agent in args.id_agents:
        names[agent] = f"{agent} [{ID_ONLY}]"
        specs += [RunSpec(args.env, agent, seed, args.horizon, 1, id_env, {}, "context") for seed in range(args.seeds)]
    start = time.perf_counter()
    records = run_sweep(specs, out, workers=args.workers, show_progress=not args.quick)
    seconds = time.perf_counter() - start

    # REPORT: agents x columns table, diagnostics, full summary, plot.
    columns = [*specs_by_column, ID_ONLY]
    cell: dict[tuple[str, str], str] = {}
    regrets: dict[tuple[str, str], np.ndarray] = {}
    for (_, _, label), recs in group(records).items():
        values = np.array([r["cumulative_regret"] for r in recs])
        regret, half = mean_ci(values)
        agent, _, col = label.partition(" [")
        column = col.rstrip("]") if col else ID_ONLY
        regrets[(agent, column)] = values
        cell[(agent, column)] = f"{regret:,.0f} ± {half:,.0f}" if len(recs) > 1 else f"{regret:,.0f}"
    header = "| agent | " + " | ".join(columns) + " |"
    lines = [header, "|---|" + "---:|" * len(columns)]
    for agent in [*args.context_agents, *args.id_agents]:
        lines.append(f"| {agent} | " + " | ".join(cell.get((agent, c), "") for c in columns) + " |")
    cost_cells = []
    for column in specs_by_column:
        cost = encode_cost({"cost": {"encode": info[column]["encode"]}})
        assert cost is not None
        cell_text = format_encode_cost({**cost, "cached": False})
        cost_cells.append(f"{cell_text} ({cost['items']:,} texts, {cost['device']})")
    lines.append("| *context encode, s / GFLOP* | " + " | ".join(cost_cells) + " | – |")
    regret_table = "\n".join(lines)

    diag = [
        "| diagnostic (ground truth fitted with bow item text) | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        "| R² of the expected reward, best linear model on (user,1)⊗(item,1) | "
        + " | ".join(f"{info[c]['floor']['r2']:.3f}" for c in specs_by_column)
        + f" | {info[next(iter(info))]['floor']['item_r2']:.3f} (per-film score) |",
        "| R² of the user-specific part (expected reward minus the film's score) | "
        + " | ".join(f"{info[c]['floor']['taste_r2']:.3f}" for c in specs_by_column)
        + " | 0 (by construction) |",
        f"| regret floor over {args.horizon:,} decisions (greedy on that model) | "
        + " | ".join(f"{info[c]['floor']['linear_regret'] * args.horizon:,.0f}" for c in specs_by_column)
        + f" | {info[next(iter(info))]['floor']['item_regret'] * args.horizon:,.0f} |",
    ]
    for truth_spec, t in truth.items():
        diag.append(
            f"| R² under a truth fitted with {truth_spec} item text | "
            + " | ".join(f"{t['floor'][c]['r2']:.3f}" for c in specs_by_column)
            + " | – |"
        )
        diag.append(
            "| regret floor under that truth | "
            + " | ".join(f"{t['floor'][c]['linear_regret'] * args.horizon:,.0f}" for c in specs_by_column)
            + " | – |"
        )
    rand = info[next(iter(info))]["floor"]["random_regret"] * args.horizon
    fits = [("bow (the env's truth)", info[next(iter(info))]["fit_report"])] + [
        (s, t["fit_report"]) for s, t in truth.items()
    ]
    fit_lines = [
        "| user model's item text encoder | held-out AUC | per-user AUC | log loss | cold-film AUC (rows) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rep in fits:
        m, cold = rep["model"], rep["cold_items"]
        fit_lines.append(
            f"| {name} | {m['auc']:.4f} | {m['user_auc']:.4f} | {m['log_loss']:.4f} | "
            f"{cold['model_auc']:.4f} ({cold['rows']:,}) |"
        )
    mach = machine()
    doc = [
        f"# Language-model context on {args.env}",
        "",
        f"Cumulative regret after {args.horizon:,} online decisions, mean ± 95% CI over {args.seeds} seeds "
        f"(user_arrival={args.user_arrival!r}). Columns are the agents' contexts; the ground truth is the same "
        "user model in every column.",
        "",
        regret_table,
        "",
        "Diagnostics (no agent): how much of the ground truth each context can express at all "
        f"({args.diagnostic_decisions:,} simulated decisions, half to fit, half to score; random choice: "
        f"{rand:,.0f} regret over the horizon).",
        "",
        "\n".join(diag),
        "",
        "Held-out fit of the user model (evaluation period) with each encoder's film text as side features:",
        "",
        "\n".join(fit_lines),
        "",
        "Reading it:",
        "",
        *reading(regrets, columns, args, info),
        "",
        "All runs:",
        "",
        summary_table(records),
        "",
        f"Sweep: {len(specs)} runs, {sum(r['cost']['seconds'] for r in records):,.0f} s of run time in total "
        f"(sum over runs; this invocation ran the unfinished ones in {seconds:.0f} s); machine {mach['processor']}, "
        f"{mach['cpus']} CPUs ({mach['system']}) shared with other jobs, {args.workers} worker(s), so decisions/s "
        "are low and only comparable within this table. Encoders: "
        + "; ".join(f"{c} = `{info[c]['encoder']}`" for c in specs_by_column)
        + ".",
        "",
        f"Command: `{' '.join(['python', 'benchmarks/context.py', *sys.argv[1:]])}`",
        "",
    ]
    plot(records, names, out / "regret.png", f"{args.env}: mean over {args.seeds} seeds, 95% band")
    atomic_write_bytes(out / "summary.md", "\n".join(doc).encode())
    atomic_write_bytes(
        out / "diagnostics.json",
        json.dumps(
            {c: {k: v for k, v in i.items() if k != "fit_report"} for c, i in info.items()}
            | {"truth_check": {s: t["floor"] for s, t in truth.items()}},
            indent=1,
            default=float,
        ).encode(),
    )
    print(f"\ncumulative regret after {args.horizon:,} decisions, {args.seeds} seeds ({seconds:.0f} s):")
    print(regret_table)
    print("\n".join(diag))
    print(f"\nwrote {out / 'summary.md'}, {out / 'regret.png'}")


if __name__ == "__main__":
    main(tyro.cli(Args))
