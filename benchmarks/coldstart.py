"""Cold start: does language-model context lower regret on new items and new users, and at what cost?

Grid (envs x contexts x agents x seeds, online: the agent updates after every decision):

- envs: Synthetic-v0 with the vocabulary shift (``vocab_shift=1``: cold items are described
  with synonyms no warm item uses) and without it (``vocab_shift=0``, the control), both with
  30% of the items arriving over the first ``syn_arrival`` decisions and 30% of the users
  arriving over the same span; MovieLens100K-v0 on its fitted truth (per-user split), films
  arriving at their first availability in the held-out timeline.
- contexts: ``bow`` (hashed bag of words), ``minilm`` (frozen all-MiniLM-L6-v2); on MovieLens
  the film text with TMDb plot overviews (``+ov``: ``bow+ov``, ``minilm+ov``), ``minilm`` on
  the plain "Title (year) — genres" text, and MiniLM fine-tuned (``tuned-top-k+ov``,
  ``tuned-lora+ov``, ``recbandit.encoders.finetune``) on the truth's fitting part only: the
  rows the per-user split does not hold out, of films there at decision 0 (so the encoder
  never reads a rating of a film that is cold in the run, nor any held-out row).
  Fine-tuning needs logged ratings, so Synthetic-v0 has no fine-tuned columns.
- agents: per context ``linucb-disjoint``, ``linucb-shared``, ``linucb-shared+ids``
  (``item_id_features=True``: text plus a per-id bias), ``lints-shared``, ``linucb-hybrid``,
  ``neural-linear`` and ``neural-linear+ids`` (text plus a learned per-id embedding; the two
  neural ones on MovieLens not on the plain ``minilm`` column, for the time budget; the
  tuned columns run ``tuned_agents``, by default all seven);
  the context-free ``ts`` (item id only: one Beta posterior per item) once per env.

Measured per run (``record["cold"]``, ``recbandit.evaluation.cold``): overall cumulative
regret; cold-item regret = regret of the decisions whose candidate set holds a cold item
(one that arrived within ``cold_window`` decisions); new-user regret = regret over each new
user's first 20 decisions. Tables give means with 95% t-intervals over seeds; differences
(language model minus bag of words, hybrid minus the best other agent) Welch intervals.

Cost: every record carries ``cost`` (decisions) and ``cost["encode"]`` (its contexts' build,
which reads the embedding cache when warm); ``contexts.json`` adds, per context, the
cache-cold encode cost of the env's texts (measured once, with no cache) and the fine-tune
cost from the tuned encoder's saved report. ``benchmarks/cost.py`` draws the frontier.

Usage::

    nice python benchmarks/coldstart.py            # -> benchmarks/results/coldstart/ (resumable)
    python benchmarks/coldstart.py --quick         # smoke run: small synthetic envs, bow only -> runs/coldstart-quick/
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import tyro
from _data import use_shared_data

from recbandit.evaluation import RunSpec, run_sweep
from recbandit.evaluation.metrics import mean_ci, welch
from recbandit.evaluation.report import plot_band, save_png
from recbandit.evaluation.results import atomic_write_bytes, machine

use_shared_data()  # the registered envs find ../shared/data by name (library code never looks there)

RESULTS = Path(__file__).resolve().parent / "results" / "coldstart"
SYN = "recbandit/Synthetic-v0"
ML = "recbandit/MovieLens100K-v0"
ID_ONLY = "item id only"
SHIFT, CONTROL = "synthetic, vocab shift", "synthetic, no shift (control)"
CONTEXT_AGENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "linucb-disjoint": ("linucb-disjoint", {}),
    "linucb-shared": ("linucb-shared", {}),
    "linucb-shared+ids": ("linucb-shared", {"item_id_features": True}),
    "lints-shared": ("lints-shared", {}),
    "linucb-hybrid": ("linucb-hybrid", {}),
    "neural-linear": ("neural-linear", {}),
    "neural-linear+ids": ("neural-linear", {"item_id_features": True}),
}


@dataclass
class Args:
    """Cold-item and new-user regret of bandits on bag-of-words, MiniLM and fine-tuned MiniLM contexts."""

    seeds: int = 5
    """seeds 0 .. seeds-1 per cell"""
    syn_horizon: int = 6_000
    """decisions per Synthetic-v0 run"""
    syn_items: int = 500
    """Synthetic-v0 catalogue items (30% arrive during the run)"""
    syn_users: int = 1_000
    """Synthetic-v0 users (30% arrive during the run)"""
    syn_arrival: int = 5_000
    """decisions over which Synthetic-v0's new items and new users arrive"""
    ml_horizon: int = 10_000
    """decisions per MovieLens100K-v0 run (of its 20,000-decision held-out timeline)"""
    movielens: bool = True
    """run the MovieLens100K-v0 part"""
    tuned: tuple[str, ...] = ("top-k", "lora")
    """fine-tuning modes of MiniLM on MovieLens (empty: none)"""
    tuned_dir: Path = Path("runs") / "coldstart-tuned"
    """where the tuned encoders are saved (reused when present: the fit runs once)"""
    tune_max_length: int = 64
    """tokens per film text for the tuned encoders (overviews are cut there)"""
    tuned_agents: tuple[str, ...] = tuple(CONTEXT_AGENTS)
    """context agents on the tuned columns (a subset of ``agents``; fewer to save time)"""
    tune_rows: int = 3_000
    """fit rows of each fine-tuning mode's own training (a seeded sample of the fitting part)"""
    workers: int = 2
    """local worker processes for the sweep"""
    contexts: tuple[str, ...] = ("bow:256", "minilm")
    """Synthetic-v0 context encoders: baseline first (the differences are against it)"""
    out: Path | None = None
    """results folder (default benchmarks/results/coldstart; runs/coldstart-quick with --quick)"""
    quick: bool = False
    """smoke run: 300 items, 1,500 decisions, 2 seeds, bow:256 vs bow:64, three agents, no MovieLens"""
    agents: tuple[str, ...] = field(default_factory=lambda: tuple(CONTEXT_AGENTS))
    """context agents (keys of CONTEXT_AGENTS)"""


@dataclass
class Column:
    """One (env, context) cell of the grid: what the agents see."""

    env_label: str
    env: str
    horizon: int
    context: str
    kwargs: dict[str, Any]
    agents: tuple[str, ...]
    tuned: str | None = None


def syn_kwargs(args: Args, shift: float) -> dict[str, Any]:
    """Synthetic-v0 arguments: cold items and new users arriving over ``syn_arrival`` decisions."""
    return {
        "n_items": args.syn_items,
        "n_users": args.syn_users,
        "cold_fraction": 0.3,
        "arrival_span": args.syn_arrival,
        "new_user_fraction": 0.3,
        "user_arrival_span": args.syn_arrival,
        "vocab_shift": shift,
        "cold_window": 1000,
    }


def label_of(spec: str) -> str:
    """Column name of an encoder spec: its kind ("bow", "minilm"), or the spec when it has options."""
    return spec.split(":")[0] if spec in ("bow:256", "minilm") else spec


def tune(args: Args, mode: str) -> Path:
    """Fine-tune MiniLM on MovieLens 100K's fitting part (warm films only); return the saved folder.

    The rows: those the truth's per-user split does not hold out (``make_split`` with the
    env's protocol, holdout and validation share), restricted to films available at decision
    0 of the env. ``split_time`` is after the last of them, so ``fine_tune`` reads them all
    and nothing else: no held-out row, no rating of a film that is cold in the run.
    """
    folder = args.tuned_dir / mode
    if (folder / "manifest.json").exists():
        return folder
    from recbandit.data.fetch import find_dataset
    from recbandit.data.movielens import load_movielens
    from recbandit.encoders.finetune import fine_tune
    from recbandit.encoders.text import TextEncoder
    from recbandit.envs import make_env
    from recbandit.envs.fidelity import make_split
    from recbandit.envs.movielens import find_movielens_100k

    env = make_env(ML, batch_size=1, encoder="bow:256", overviews="the-movies-dataset")
    prot = env.fit_report["protocol"]
    data = load_movielens(find_movielens_100k(), rating_threshold=4.0, overviews=find_dataset("the-movies-dataset"))
    inter = data.interactions
    split = make_split(inter.user, inter.timestamp, prot["name"], prot["holdout"], prot["val_share"])
    warm = env.problem.item_arrival == 0
    rows = np.flatnonzero(split.fit & warm[inter.item])
    part = replace(data, interactions=inter.take(rows))
    split_time = float(part.interactions.timestamp.max()) + 1.0
    lr = 5e-4 if mode == "lora" else 5e-5
    enc, report = fine_tune(
        TextEncoder(max_length=args.tune_max_length),
        part,
        mode=mode,
        split_time=split_time,
        seed=0,
        lr=lr,
        probe_epochs=2,
        max_train_rows=args.tune_rows,
        max_validation_rows=1000,
        epochs=1,
        batch_size=32,
        eval_every=20,
        patience=3,
        head_lr=5e-4,
        top_k=1,
        lora_r=8,
        lora_alpha=16.0,
        projection_dim=64,
    )
    enc.save(folder, overwrite=True)
    cost = report.cost
    print(
        f"fine-tuned {mode} on {len(rows):,} fitting-part rows of warm films "
        f"(of {int(split.fit.sum()):,} fitting rows): {cost.seconds:.0f} s, {cost.flops / 1e12:.2f} TFLOP",
        flush=True,
    )
    return folder


def columns(args: Args) -> list[Column]:
    """The grid's (env, context) cells."""
    agents = tuple(args.agents)
    out = []
    for shift, name in ((1.0, SHIFT), (0.0, CONTROL)):
        for spec in args.contexts:
            out.append(
                Column(
                    name, SYN, args.syn_horizon, label_of(spec), {**syn_kwargs(args, shift), "encoder": spec}, agents
                )
            )
    if args.movielens:
        ov = {"overviews": "the-movies-dataset"}
        light = tuple(a for a in agents if CONTEXT_AGENTS[a][0] != "neural-linear")
        ml = "MovieLens100K"
        out += [
            Column(ml, ML, args.ml_horizon, "bow+ov", {**ov, "encoder": "bow:256"}, agents),
            Column(ml, ML, args.ml_horizon, "minilm+ov", {**ov, "encoder": "minilm"}, agents),
            Column(ml, ML, args.ml_horizon, "minilm", {"encoder": "minilm"}, light),
        ]
        for mode in args.tuned:
            tuned_agents = tuple(a for a in agents if a in args.tuned_agents)
            out.append(Column(ml, ML, args.ml_horizon, f"tuned-{mode}+ov", {**ov}, tuned_agents, tuned=mode))
    return out


def measure_encode(col: Column, spec: str) -> dict[str, Any]:
    """Cache-cold encode cost of the env's texts (item and user), measured once with no embedding cache."""
    from recbandit.encoders.registry import make_encoder
    from recbandit.envs.contexts import ContextEncoding

    if col.env == SYN:
        from recbandit.data.synthetic import make_catalogue
        from recbandit.envs.synthetic import make_config

        kw = {k: v for k, v in col.kwargs.items() if k != "encoder"}
        cat = make_catalogue(make_config(**kw).catalogue)
        texts = [list(cat.item_text), list(cat.user_text)]
    else:
        from recbandit.data.fetch import find_dataset
        from recbandit.data.movielens import load_movielens
        from recbandit.envs.movielens import find_movielens_100k

        ov = find_dataset("the-movies-dataset") if "overviews" in col.kwargs else None
        data = load_movielens(find_movielens_100k(), rating_threshold=4.0, overviews=ov)
        texts = [list(data.items.text), list(data.users.text or [])]
    enc = ContextEncoding(make_encoder(spec, cache=False), spec)
    for part in texts:
        if part:
            enc.encode(part)
    return enc.to_dict()


def prepare(args: Args, out: Path) -> tuple[list[Column], dict[str, Any]]:
    """Fine-tune (once), build every column's env (fills the cache), measure cache-cold encode costs once."""
    from recbandit.envs import make_env

    cols = columns(args)
    info_path = out / "contexts.json"
    info: dict[str, Any] = json.loads(info_path.read_text()) if info_path.exists() else {}
    for col in cols:
        key = f"{col.env_label} | {col.context}"
        entry = info.get(key, {})
        if col.tuned is not None:
            folder = tune(args, col.tuned)
            col.kwargs["encoder"] = f"tuned:{folder.resolve()}"
            from recbandit.encoders.finetune import TunedTextEncoder

            rep = TunedTextEncoder.load(str(folder)).report
            entry["fine_tune"] = None if rep is None else rep.cost.to_dict()
            entry["tune_mode"] = col.tuned
        start = time.perf_counter()
        env = make_env(col.env, batch_size=1, **col.kwargs)
        ctx = env.problem.contexts_info
        entry.update({"encoder": ctx["encoder"], "spec": ctx["spec"], "build_s": time.perf_counter() - start})
        entry.setdefault("env_kwargs", {k: v for k, v in col.kwargs.items() if k != "encoder"})
        if "encode_cold" not in entry:  # the build's own record when it computed every vector, else measured
            enc = ctx["encode"]
            computed = enc if not enc.get("cache_hits") else enc.get("computed")
            entry["encode_cold"] = computed or measure_encode(col, ctx["spec"])
        info[key] = entry
        print(f"{key}: {ctx['encoder']} (built in {entry['build_s']:.1f} s)", flush=True)
        atomic_write_bytes(info_path, json.dumps(info, indent=1, default=float).encode())
    return cols, info


def specs_of(cols: list[Column], args: Args) -> list[RunSpec]:
    """Context agents per column; the context-free TS once per env (on its first column's env)."""
    specs = []
    seen: set[str] = set()
    for col in cols:
        for name in col.agents:
            agent, params = CONTEXT_AGENTS[name]
            label = f"{name} [{col.env_label} | {col.context}]"
            specs += [
                RunSpec(col.env, agent, s, col.horizon, 1, col.kwargs, params, "coldstart", label)
                for s in range(args.seeds)
            ]
        if col.env_label not in seen:
            seen.add(col.env_label)
            label = f"ts [{col.env_label} | {ID_ONLY}]"
            specs += [
                RunSpec(col.env, "ts", s, col.horizon, 1, col.kwargs, {}, "coldstart", label) for s in range(args.seeds)
            ]
    return specs


def metric(rec: dict[str, Any], name: str) -> float:
    """Regret: ``overall``, ``cold`` (cold-candidate decisions) or ``new_users`` (first 20 each); NaN if absent."""
    if name == "overall":
        return float(rec["cumulative_regret"])
    cold = rec.get("cold") or {}
    part = cold.get("candidates") if name == "cold" else cold.get("new_users")
    return float("nan") if not part else float(part["regret"])


def cell(values: np.ndarray) -> str:
    """ "mean ± half" over seeds (the 95% t half-width); "–" where the metric does not exist."""
    if np.all(np.isnan(values)):
        return "–"
    m, h = mean_ci(values)
    return f"{float(m):,.1f} ± {float(h):,.1f}" if len(values) > 1 else f"{float(m):,.1f}"


def diff_cell(d: float, h: float) -> str:
    """A difference with its interval and whether the interval excludes zero."""
    if np.isnan(d):
        return "–"
    verdict = "excludes 0" if np.isfinite(h) and abs(d) > h else "within noise"
    return f"{d:+,.1f} ± {h:,.1f} ({verdict})"


def tables(records: list[dict[str, Any]], args: Args) -> tuple[list[str], dict[str, Any]]:
    """Markdown tables: per env, (context, agent) rows of overall, cold-item and new-user regret; differences."""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        name, _, rest = rec["agent"].partition(" [")
        env_label, _, ctx = rest.rstrip("]").partition(" | ")
        by.setdefault((env_label, ctx, name), []).append(rec)
    vals = {
        k: {m: np.array([metric(r, m) for r in v]) for m in ("overall", "cold", "new_users")} for k, v in by.items()
    }
    lines: list[str] = []
    summary: dict[str, Any] = {"cells": {}, "lm_minus_bow": [], "hybrid_minus_best": []}
    for env_label in dict.fromkeys(k[0] for k in by):
        horizon = by[next(k for k in by if k[0] == env_label)][0]["horizon"]
        lines += [
            f"### {env_label} ({horizon:,} decisions, {args.seeds} seeds)",
            "",
            "| context | agent | overall regret | cold-item regret | new-user regret |",
            "|---|---|---:|---:|---:|",
        ]
        for (e, ctx, name), v in vals.items():
            if e != env_label:
                continue
            lines.append(f"| {ctx} | {name} | {cell(v['overall'])} | {cell(v['cold'])} | {cell(v['new_users'])} |")
            summary["cells"][f"{e} | {ctx} | {name}"] = {m: x.tolist() for m, x in v.items()}
        lines.append("")
    # Language model minus bag of words, same env and agent.
    pairs = [(label_of(c), label_of(args.contexts[0])) for c in args.contexts[1:]] + [
        (c, "bow+ov") for c in ("minilm+ov", "tuned-top-k+ov", "tuned-lora+ov")
    ]
    pairs.append(("minilm+ov", "minilm"))
    rows = [
        "| env | agent | contexts | Δ overall regret | Δ cold-item regret | Δ new-user regret |",
        "|---|---|---|---:|---:|---:|",
    ]
    for (e, ctx, name), v in vals.items():
        for lm, base in pairs:
            if ctx != lm or (e, base, name) not in vals:
                continue
            b = vals[(e, base, name)]
            ds = {m: welch(v[m], b[m]) for m in v}
            summary["lm_minus_bow"].append(
                {"env": e, "agent": name, "lm": lm, "base": base, **{m: list(d) for m, d in ds.items()}}
            )
            rows.append(
                f"| {e} | {name} | {lm} − {base} | {diff_cell(*ds['overall'])} | {diff_cell(*ds['cold'])} "
                f"| {diff_cell(*ds['new_users'])} |"
            )
    # The shift's own effect: (LM - bow under the shift) - (LM - bow without it), per agent.
    did = [
        "| agent | contexts | Δ cold-item regret, shift | Δ, control | shift minus control |",
        "|---|---|---:|---:|---:|",
    ]
    shifted = {(d["agent"], d["lm"], d["base"]): d for d in summary["lm_minus_bow"] if d["env"] == SHIFT}
    for d in summary["lm_minus_bow"]:
        s1 = shifted.get((d["agent"], d["lm"], d["base"]))
        if d["env"] != CONTROL or s1 is None:
            continue
        (m1, h1), (m0, h0) = s1["cold"], d["cold"]
        both = (m1 - m0, float(np.hypot(h1, h0)))
        summary.setdefault("shift_minus_control", []).append({"agent": d["agent"], "cold": list(both)})
        did.append(
            f"| {d['agent']} | {d['lm']} − {d['base']} | {diff_cell(m1, h1)} | {diff_cell(m0, h0)} "
            f"| {diff_cell(*both)} |"
        )
    # Hybrid minus the better of per-item TS and shared LinUCB on its context, and minus the best other agent.
    hyb = [
        "| env | context | hybrid overall regret | compared with | Δ overall regret | Δ cold-item regret |",
        "|---|---|---:|---|---:|---:|",
    ]
    for (e, ctx, name), v in vals.items():
        if name != "linucb-hybrid":
            continue
        pair = {k: w for k, w in vals.items() if k[0] == e and (k[2] == "ts" or k == (e, ctx, "linucb-shared"))}
        others = {k: w for k, w in vals.items() if k[0] == e and k[2] != "linucb-hybrid"}
        for what, pool in (("better of ts, linucb-shared", pair), ("best other agent", others)):
            if not pool:
                continue
            best = min(pool, key=lambda k, p=pool: float(np.mean(p[k]["overall"])))
            do, dc = welch(v["overall"], pool[best]["overall"]), welch(v["cold"], pool[best]["cold"])
            summary["hybrid_minus_best"].append(
                {"env": e, "context": ctx, "versus": what, "best": list(best), "overall": list(do), "cold": list(dc)}
            )
            hyb.append(
                f"| {e} | {ctx} | {cell(v['overall'])} | {what}: {best[2]} [{best[1]}], {cell(pool[best]['overall'])} "
                f"| {diff_cell(*do)} | {diff_cell(*dc)} |"
            )
    lines += ["### Language model minus bag of words (same env and agent; Welch 95%)", "", *rows, ""]
    if len(did) > 2:
        lines += [
            "### Vocabulary shift minus control: the part of the language model's gain the shift creates",
            "",
            "(half-width: root sum of squares of the two Welch half-widths, approximate)",
            "",
            *did,
            "",
        ]
    lines += ["### Hybrid LinUCB minus the best other agent of its env (Welch 95%)", "", *hyb, ""]
    return lines, summary


def plot(records: list[dict[str, Any]], path: Path) -> None:
    """Cold-item regret curves (mean, 95% band) per env: linucb-shared+ids and linucb-hybrid per context, and TS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rec in records:
        name, _, rest = rec["agent"].partition(" [")
        env_label, _, ctx = rest.rstrip("]").partition(" | ")
        if name in ("linucb-shared+ids", "linucb-hybrid", "ts"):
            groups.setdefault(env_label, {}).setdefault(f"{name} [{ctx}]", []).append(rec)
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), dpi=100, squeeze=False)
    for ax, (env_label, lines) in zip(axes[0], groups.items(), strict=True):
        for label, recs in sorted(lines.items()):
            t = np.array(recs[0]["cold"]["curve"]["t"])
            curves = np.array([r["cold"]["curve"]["candidates_regret"] for r in recs], dtype=np.float64)
            plot_band(ax, t, *mean_ci(curves), len(curves), label, linestyle="--" if "hybrid" in label else "-")
        ax.set_title(env_label)
        ax.set_xlabel("decisions")
        ax.set_ylabel("cumulative regret on cold-item decisions")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    save_png(fig, path)


def main(args: Args) -> None:
    # Seeding: runs are seeded by their specs, fine-tuning by seed 0; global generators fixed all the same.
    random.seed(0)
    np.random.seed(0)
    if args.quick:
        args.seeds, args.syn_horizon, args.syn_items, args.syn_users, args.syn_arrival = 2, 1_500, 300, 300, 1_200
        args.movielens, args.workers, args.contexts = False, 1, ("bow:256", "bow:64")
        args.agents = ("linucb-shared", "linucb-shared+ids", "linucb-hybrid")
    out = args.out or (Path("runs") / "coldstart-quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cols, info = prepare(args, out)
    prep_s = time.perf_counter() - t0
    specs = specs_of(cols, args)
    t1 = time.perf_counter()
    records = run_sweep(specs, out, workers=args.workers, show_progress=not args.quick)
    sweep_s = time.perf_counter() - t1
    lines, summary = tables(records, args)
    plot(records, out / "cold_regret.png")
    mach = machine()
    doc = [
        "# Cold start: overall, cold-item and new-user regret",
        "",
        "Mean ± 95% t-interval over seeds. Cold-item regret: regret of the decisions whose candidate set holds "
        "a cold item (arrived within the last 1,000 decisions); new-user regret: each new user's first 20 "
        "decisions ('–': the env has no new users; MovieLens100K-v0's per-user split simulates only users "
        "the truth has ratings for, all there from decision 0). `ts [item id only]`: context-free Thompson "
        "sampling, run once per env.",
        "",
        *lines,
        f"This invocation: preparation (fine-tuning, env builds, cache-cold encode measurements not yet stored) "
        f"{prep_s:.0f} s, sweep of the unfinished runs {sweep_s:.0f} s; {len(specs)} runs, "
        f"{sum(r['cost']['seconds'] for r in records):,.0f} s of run time in total; machine {mach['processor']}, "
        f"{mach['cpus']} CPUs shared with other jobs, {args.workers} worker(s).",
        "",
        f"Command: `{' '.join(['python', 'benchmarks/coldstart.py', *sys.argv[1:]])}`",
        "",
    ]
    atomic_write_bytes(out / "summary.md", "\n".join(doc).encode())
    summary["contexts"] = info
    summary["seconds"] = {"prepare": prep_s, "sweep": sweep_s}
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1, default=float).encode())
    print("\n".join(lines))
    print(f"prepare {prep_s:.0f} s, sweep {sweep_s:.0f} s; wrote {out / 'summary.md'}, {out / 'cold_regret.png'}")


if __name__ == "__main__":
    main(tyro.cli(Args))
