"""Is the simulator faithful? Two checks of a simulator fitted on a log (issue 10, item 5).

(a) A known world recovered. Log impressions of Synthetic-v0 under a logging policy
    (``_synthetic_log``: uniform over the K candidates, or skewed towards items popular
    under the true model), write the log in the plain format, and build
    ``recbandit/Logged-v0`` on that folder as if it were anyone's log, with ``neg_ratio=0``
    (every logged row is an impression, so the truth is P(click | shown) and no unrated
    items are sampled). Then
    - the fitted model's AUC beside the true model's on a fresh log of the same policy
      (another seed): the same fresh rewards scored by the true click probabilities and by
      the fitted ones (the fitted model's user/item indices mapped back to the Synthetic
      ids through the loaded folder's ``ids``);
    - the same agents, horizon and seeds in the fitted simulator and in the true
      Synthetic-v0 (``run_sweep``); the Kendall tau between the agents' mean regrets in
      the two worlds, per seed pair, and over a bootstrap of the seeds, beside the tau
      between two seeds of the same world (how much the ranking moves by chance alone).
    The known world has every item from decision 0 (``cold_fraction=0``): Logged-v0 replays
    the end of the log, when every item has arrived, so an item schedule would differ
    between the two worlds for reasons that are not the user model.
(b) A policy's CTR predicted. OBD-v0 (campaign all) fits its click model on the first 80%
    of the uniform-random log; its evaluation visitors are the last 20%. Bernoulli TS's
    action distribution is read from the bts log (``ope.logged_policy_marginal``,
    harmonic, per position, then averaged over positions with the bts log's position
    shares: the click model ignores the slot, since it is fitted on the random log where
    positions are uniform). The simulator's BTS CTR is the mean over the evaluation
    visitors of ``sum_a pi(a) p(x, a)``, with intervals over visitors (bootstrap), fit
    seeds and refits on bootstrap resamples of the random log; beside BTS's observed CTR
    and the off-policy estimates of ``benchmarks/ope.py``. The random policy's CTR is the
    sanity baseline.

Usage::

    python benchmarks/fidelity.py            # -> benchmarks/results/fidelity/ (summary.json, summary.md)
    python benchmarks/fidelity.py --quick    # smoke run (< 1 min) -> runs/fidelity-quick/
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import tyro
from _data import use_shared_data
from _synthetic_log import POLICIES, simulate_log, write_plain
from scipy.stats import kendalltau, ttest_ind

from recbandit._io import atomic_write_bytes
from recbandit._stats import log_loss, roc_auc
from recbandit.envs import make_env
from recbandit.envs.fidelity import expected_calibration_error, summary_line
from recbandit.evaluation import make_specs, run_sweep
from recbandit.evaluation.replay import wilson_interval
from recbandit.evaluation.results import machine, versions

use_shared_data()  # OBD-v0 finds ../shared/data's copy by name (library code never looks there)

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "fidelity"
AGENTS = ("random", "ts", "ucb1", "eps-greedy", "linucb-shared", "linucb-disjoint", "lints-shared", "lints-disjoint")


@dataclass
class Args:
    """Known-world recovery on Synthetic-v0 and BTS's CTR predicted on the Open Bandit Dataset."""

    rows: int = 1_000_000
    """impressions in each known-world log (Synthetic-v0: 2,000 users, 1,000 items)"""
    fresh_rows: int = 200_000
    """impressions in the fresh log (same policy, another seed) the AUCs are measured on"""
    auc_sizes: tuple[int, ...] = (200_000,)
    """other log sizes whose fitted model's fresh AUC is also reported (no agent runs)"""
    policies: tuple[str, ...] = POLICIES
    """logging policies ("uniform", "skewed")"""
    beta: float = 1.5
    """strength of the skewed policy's preference for popular items"""
    log_seed: int = 1
    """seed of the fitting log"""
    fresh_seed: int = 2
    """seed of the fresh log"""
    agents: tuple[str, ...] = AGENTS
    """agents run in both worlds (registered names)"""
    seeds: int = 5
    """run seeds (0 .. seeds-1) in each world"""
    horizon: int = 10_000
    """decisions per run (online, batch size 1)"""
    workers: int = 2
    """local worker processes for the sweeps"""
    n_boot: int = 2000
    """bootstrap resamples (of seeds for tau, of visitors for the CTRs)"""
    n_boot_auc: int = 100
    """bootstrap resamples of the fresh log for the AUC difference"""
    obd: bool = True
    """run check (b) on the Open Bandit Dataset (skipped when the data is absent)"""
    obd_path: str | None = None
    """Open Bandit Dataset folder (default: found by name)"""
    obd_fit_seeds: int = 5
    """fit seeds of the OBD click model"""
    obd_refits: int = 10
    """refits of the OBD click model on bootstrap resamples of the random log"""
    catalogue: tuple[int, int] = (2000, 1000)
    """(users, items) of the known world"""
    work: Path = Path("runs") / "fidelity-logs"
    """where the known-world logs (plain-format folders) are written"""
    out: Path | None = None
    """results folder (default benchmarks/results/fidelity; runs/fidelity-quick with --quick)"""
    quick: bool = False
    """smoke run: 200 users x 100 items, 20,000-row logs, 3 agents x 2 seeds x 500 decisions, 1 OBD fit"""


# --------------------------------------------------------------------------- (a) known world


def known_world_log(args: Args, env_kw: dict[str, Any], policy: str, rows: int) -> Path:
    """Write (once) the plain-format folder of a ``rows``-impression log of ``policy``."""
    folder = args.work / f"{policy}-{args.catalogue[0]}x{args.catalogue[1]}-{rows}-seed{args.log_seed}"
    if not (folder / "users.csv").exists():
        write_plain(simulate_log(env_kw, policy, rows, args.log_seed, beta=args.beta), env_kw, folder)
    return folder.resolve()


def fitted_probabilities(env: Any, folder: Path, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """float64[n]: the fitted truth's P(click) of Synthetic (user, item) ids, through the folder's id order."""
    from recbandit.envs.logged import load_log

    data = load_log(folder)
    u_ids, i_ids = np.asarray(data.users.ids, np.int64), np.asarray(data.items.ids, np.int64)
    u_index = np.full(int(u_ids.max()) + 1, -1)
    u_index[u_ids] = np.arange(len(u_ids))
    i_index = np.full(int(i_ids.max()) + 1, -1)
    i_index[i_ids] = np.arange(len(i_ids))
    u, i = u_index[users], i_index[items]
    if (u < 0).any() or (i < 0).any():
        raise SystemExit(f"{folder}: the fresh log has users or items the fitted folder does not list")
    return env.unwrapped.problem.user_model.pair_reward(u, i)


def auc_scores(fresh: dict[str, np.ndarray], fitted: np.ndarray, n_boot: int, rng: np.random.Generator) -> dict:
    """True and fitted probabilities scored on the same fresh rewards; bootstrap of the AUC difference."""
    y, true = fresh["reward"], fresh["expected"]
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(len(y), size=len(y))
        diffs.append(roc_auc(y[idx], fitted[idx]) - roc_auc(y[idx], true[idx]))
    out = {"rows": len(y), "clicks": int(y.sum())}
    for name, p in (("true", true), ("fitted", fitted)):
        out[name] = {
            "auc": roc_auc(y, p),
            "log_loss": log_loss(y, p),
            "ece": expected_calibration_error(y, p),
            "mean_p": float(p.mean()),
        }
    out["ctr"] = float(y.mean())
    out["auc_gap"] = out["fitted"]["auc"] - out["true"]["auc"]
    out["auc_gap_ci95"] = [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]
    out["corr_fitted_true"] = float(np.corrcoef(fitted, true)[0, 1])
    return out


def tau_analysis(fit: np.ndarray, true: np.ndarray, agents: list[str], n_boot: int, rng: np.random.Generator) -> dict:
    """Kendall tau between the agents' regrets in the two worlds (``fit``, ``true``: [agents, seeds])."""

    def tau(a: np.ndarray, b: np.ndarray) -> float:
        return float(kendalltau(a, b).statistic)

    n_seeds = fit.shape[1]
    pairs = [tau(fit[:, s], true[:, r]) for s in range(n_seeds) for r in range(n_seeds)]
    within_true = [tau(true[:, s], true[:, r]) for s, r in itertools.combinations(range(n_seeds), 2)]
    within_fit = [tau(fit[:, s], fit[:, r]) for s, r in itertools.combinations(range(n_seeds), 2)]
    boot = np.array(
        [
            tau(
                fit[:, rng.integers(n_seeds, size=n_seeds)].mean(1),
                true[:, rng.integers(n_seeds, size=n_seeds)].mean(1),
            )
            for _ in range(n_boot)
        ]
    )
    mf, mt = fit.mean(1), true.mean(1)
    swaps = []
    for a, b in itertools.combinations(range(len(agents)), 2):
        if np.sign(mf[a] - mf[b]) != np.sign(mt[a] - mt[b]):
            p_fit = float(ttest_ind(fit[a], fit[b], equal_var=False).pvalue) if n_seeds > 1 else float("nan")
            p_true = float(ttest_ind(true[a], true[b], equal_var=False).pvalue) if n_seeds > 1 else float("nan")
            swaps.append(
                {
                    "pair": [agents[a], agents[b]],
                    "gap_fitted": float(mf[a] - mf[b]),
                    "gap_true": float(mt[a] - mt[b]),
                    "welch_p_fitted": p_fit,
                    "welch_p_true": p_true,
                }
            )
    summary = {"values": pairs, "mean": float(np.mean(pairs)), "min": float(np.min(pairs)), "max": float(np.max(pairs))}
    return {
        "tau_means": tau(mf, mt),
        "seed_pairs": summary,
        "bootstrap": {
            "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
            "share_at_least_0.8": float((boot >= 0.8).mean()),
            "n_boot": n_boot,
        },
        "within_true_world": float(np.mean(within_true)) if within_true else float("nan"),
        "within_fitted_world": float(np.mean(within_fit)) if within_fit else float("nan"),
        "swapped_pairs": swaps,
    }


def regrets(records: list[dict], agents: list[str], n_seeds: int) -> np.ndarray:
    """float64[agents, seeds] final cumulative regret."""
    table = np.full((len(agents), n_seeds), np.nan)
    for r in records:
        table[agents.index(r["agent"]), r["seed"]] = r["cumulative_regret"]
    return table


def known_world(args: Args, out: Path) -> dict[str, Any]:
    """Check (a) for every logging policy."""
    env_kw = {"cold_fraction": 0.0, "n_users": args.catalogue[0], "n_items": args.catalogue[1]}
    agents, seeds = list(args.agents), list(range(args.seeds))
    rng = np.random.default_rng(np.random.SeedSequence([args.log_seed, args.fresh_seed, 11]))
    results: dict[str, Any] = {}
    true_specs = make_specs(
        "recbandit/Synthetic-v0", agents, seeds, args.horizon, env_kwargs=env_kw, benchmark="fidelity-true"
    )
    start = time.perf_counter()
    true_records = run_sweep(true_specs, out / "runs", workers=args.workers, show_progress=False)
    true_regret = regrets(true_records, agents, args.seeds)
    print(f"true world: {len(true_specs)} runs in {time.perf_counter() - start:.0f} s")
    for policy in args.policies:
        start = time.perf_counter()
        fresh = simulate_log(env_kw, policy, args.fresh_rows, args.fresh_seed, beta=args.beta)
        entry: dict[str, Any] = {"sizes": {}}
        for rows in sorted({args.rows, *args.auc_sizes}):
            folder = known_world_log(args, env_kw, policy, rows)
            tick = time.perf_counter()
            env = make_env("recbandit/Logged-v0", batch_size=1, path=str(folder), neg_ratio=0)
            scores = auc_scores(
                fresh, fitted_probabilities(env, folder, fresh["user"], fresh["item"]), args.n_boot_auc, rng
            )
            scores.update(
                {
                    "rows_per_user": rows / args.catalogue[0],
                    "rows_per_item": rows / args.catalogue[1],
                    "fit_summary": summary_line(env.fit_report),
                    "truth": env.fit_report["truth"]["name"],
                    "build_seconds": time.perf_counter() - tick,
                }
            )
            entry["sizes"][str(rows)] = scores
            print(
                f"{policy}, {rows:,} rows: fresh AUC true {scores['true']['auc']:.4f}, fitted "
                f"{scores['fitted']['auc']:.4f} (gap {scores['auc_gap']:+.4f}, 95% CI {scores['auc_gap_ci95'][0]:+.4f}"
                f" to {scores['auc_gap_ci95'][1]:+.4f}); {scores['fit_summary']}"
            )
            if rows == args.rows:
                entry["fit_report"] = env.fit_report
                entry["folder"] = str(folder)
        main_folder = entry["folder"]
        specs = make_specs(
            "recbandit/Logged-v0",
            agents,
            seeds,
            args.horizon,
            env_kwargs={"path": main_folder, "neg_ratio": 0},
            benchmark=f"fidelity-{policy}",
        )
        tick = time.perf_counter()
        fit_regret = regrets(
            run_sweep(specs, out / "runs", workers=args.workers, show_progress=False), agents, args.seeds
        )
        print(f"fitted world ({policy}): {len(specs)} runs in {time.perf_counter() - tick:.0f} s")
        entry["regret"] = {"fitted": fit_regret.tolist(), "true": true_regret.tolist()}
        entry["tau"] = tau_analysis(fit_regret, true_regret, agents, args.n_boot, rng)
        entry["seconds"] = time.perf_counter() - start
        t = entry["tau"]
        print(
            f"{policy}: Kendall tau of mean regrets {t['tau_means']:.3f} (seed pairs {t['seed_pairs']['mean']:.3f},"
            f" range {t['seed_pairs']['min']:.3f}-{t['seed_pairs']['max']:.3f}; bootstrap 95% "
            f"{t['bootstrap']['ci95'][0]:.3f}-{t['bootstrap']['ci95'][1]:.3f}); within the true world "
            f"{t['within_true_world']:.3f}"
        )
        results[policy] = entry
    return {"env_kwargs": env_kw, "agents": agents, "policies": results}


# --------------------------------------------------------------------------- (b) OBD: BTS's CTR


def obd_check(args: Args, rng: np.random.Generator) -> dict[str, Any] | None:
    """Check (b): the simulator fitted on the random log predicts BTS's (and the random policy's) CTR."""
    from recbandit.data.fetch import DatasetNotFoundError
    from recbandit.data.obd import N_POSITIONS, load_obd
    from recbandit.envs.obd import find_obd, make_config, problem_from_log
    from recbandit.evaluation import ope

    try:
        root = find_obd(args.obd_path)
    except DatasetNotFoundError as err:
        print(f"(b) skipped: {err}")
        return None
    rnd, bts = load_obd(root, "random", "all"), load_obd(root, "bts", "all")
    ra, ba = ope.logged_arrays(rnd), ope.logged_arrays(bts)
    n_items = len(rnd.items)
    pi = ope.logged_policy_marginal(
        ba["actions"], ba["pscore"], n_items, ba["positions"], N_POSITIONS, method="harmonic"
    )
    shares = np.bincount(ba["positions"], minlength=N_POSITIONS) / len(ba["positions"])
    policies = {"bts": pi @ shares, "random": np.full(n_items, 1.0 / n_items)}

    def predict(model: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
        p = model.expected_reward(rows, np.tile(np.arange(n_items), (len(rows), 1)))  # [visitors, items]
        return {name: p @ dist for name, dist in policies.items()}

    per_seed, boot = [], {name: [] for name in policies}
    for seed in range(args.obd_fit_seeds):
        env = make_env("recbandit/OBD-v0", batch_size=1, path=str(root), campaign="all", fit_seed=seed)
        model = env.unwrapped.problem.user_model
        rows = np.flatnonzero(model.split.held_out)
        pred = predict(model, rows)
        idx = rng.integers(len(rows), size=(args.n_boot, len(rows)))
        for name, v in pred.items():
            boot[name].append(v[idx].mean(axis=1))
        per_seed.append(
            {
                "fit_seed": seed,
                "truth": model.name,
                **{n: float(v.mean()) for n, v in pred.items()},
                "ratio": float(pred["bts"].mean() / pred["random"].mean()),
            }
        )
        print(
            f"OBD fit seed {seed}: truth {model.name}, predicted CTR bts {per_seed[-1]['bts']:.5f}, "
            f"random {per_seed[-1]['random']:.5f}"
        )
    # Refits on bootstrap resamples of the random log (the data's own uncertainty: ~38 clicks).
    config = make_config(root, campaign="all")
    refits = []
    for _ in range(args.obd_refits):
        take = np.sort(rng.integers(len(rnd.interactions), size=len(rnd.interactions)))
        problem, _ = problem_from_log(replace(rnd, interactions=rnd.interactions.take(take)), config)
        model = problem.user_model
        pred = predict(model, np.flatnonzero(model.split.held_out))
        refits.append({n: float(v.mean()) for n, v in pred.items()})
    held = np.flatnonzero(
        make_env(
            "recbandit/OBD-v0", batch_size=1, path=str(root), campaign="all"
        ).unwrapped.problem.user_model.split.held_out
    )

    def observed(rewards: np.ndarray) -> dict[str, Any]:
        lo, hi = wilson_interval(float(rewards.sum()), len(rewards))
        return {"ctr": float(rewards.mean()), "clicks": int(rewards.sum()), "rows": len(rewards), "wilson95": [lo, hi]}

    out: dict[str, Any] = {
        "dataset": rnd.name,
        "position_shares_bts": shares.tolist(),
        "per_fit_seed": per_seed,
        "refits": refits,
        "predicted": {},
    }
    for name in policies:
        pooled = np.concatenate(boot[name])
        means = np.array([s[name] for s in per_seed])
        refit = np.array([r[name] for r in refits])
        out["predicted"][name] = {
            "mean_over_fit_seeds": float(means.mean()),
            "fit_seed_range": [float(means.min()), float(means.max())],
            "visitor_bootstrap95_pooled_over_fit_seeds": [
                float(np.percentile(pooled, 2.5)),
                float(np.percentile(pooled, 97.5)),
            ],
            "refit_bootstrap95": [float(np.percentile(refit, 2.5)), float(np.percentile(refit, 97.5))]
            if len(refit) > 1
            else None,
        }
    ratios = np.array([s["ratio"] for s in per_seed])
    refit_ratio = np.array([r["bts"] / r["random"] for r in refits])
    out["predicted_ratio_bts_over_random"] = {
        "mean_over_fit_seeds": float(ratios.mean()),
        "fit_seed_range": [float(ratios.min()), float(ratios.max())],
        "refit_bootstrap95": [float(np.percentile(refit_ratio, 2.5)), float(np.percentile(refit_ratio, 97.5))]
        if len(refit_ratio) > 1
        else None,
    }
    out["observed"] = {
        "bts": observed(ba["rewards"]),
        "random": observed(ra["rewards"]),
        "random_evaluation_visitors": observed(ra["rewards"][held]),
        "random_fitting_rows": observed(np.delete(ra["rewards"], held)),
    }
    out["observed"]["ratio_bts_over_random"] = out["observed"]["bts"]["ctr"] / out["observed"]["random"]["ctr"]
    ope_file = ROOT / "results" / "ope.json"
    if ope_file.exists():
        out["ope_estimates"] = json.loads(ope_file.read_text()).get("intervals_whole_log")
    return out


# --------------------------------------------------------------------------- report


def markdown(args: Args, a: dict[str, Any], b: dict[str, Any] | None, seconds: float) -> str:
    """The summary: AUC table, tau table, regret tables, BTS CTR table."""
    agents = a["agents"]
    lines = [
        "# Is the simulator faithful?",
        "",
        f"## (a) A known world recovered (Synthetic-v0, {args.catalogue[0]:,} users x {args.catalogue[1]:,} "
        f"items, every item from decision 0)",
        "",
        f"Logs of {args.rows:,} impressions ({args.rows / args.catalogue[0]:.0f} per user, "
        f"{args.rows / args.catalogue[1]:.0f} per item) under each logging policy (seed {args.log_seed}); "
        f"`recbandit/Logged-v0` with `neg_ratio=0` fitted on each (each user's last 20% held out). AUCs on a "
        f"fresh log of {args.fresh_rows:,} impressions from the same policy (seed {args.fresh_seed}), the same "
        f"rewards scored by the true and the fitted click probabilities; the gap's 95% interval is a bootstrap "
        f"of the fresh rows ({args.n_boot_auc}). Target: gap within 0.02.",
        "",
        "| policy | log rows | true AUC | fitted AUC | gap [95% CI] | corr(p_fit, p_true) | ECE true / fitted "
        "| chosen truth | within 0.02 |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for policy, e in a["policies"].items():
        for rows, s in sorted(e["sizes"].items(), key=lambda kv: int(kv[0])):
            lo, hi = s["auc_gap_ci95"]
            lines.append(
                f"| {policy} | {int(rows):,} | {s['true']['auc']:.4f} | {s['fitted']['auc']:.4f} | "
                f"{s['auc_gap']:+.4f} [{lo:+.4f}, {hi:+.4f}] | {s['corr_fitted_true']:.3f} | "
                f"{s['true']['ece']:.4f} / {s['fitted']['ece']:.4f} | {s['truth']} | "
                f"{'yes' if abs(s['auc_gap']) <= 0.02 else 'no'} |"
            )
    lines += [
        "",
        f"Agents' regret: {len(agents)} agents x {args.seeds} seeds x {args.horizon:,} online decisions in "
        "each world. Kendall tau (scipy, tau-b) between the mean regrets; per seed pair (each fitted seed "
        f"against each true seed, {args.seeds**2} pairs); bootstrap over seeds ({args.n_boot}, seeds "
        "resampled in each world); and, as the noise baseline, the mean tau between two seeds of the true "
        "world itself. Target: tau >= 0.8.",
        "",
        "| policy | tau of means | seed pairs: mean (min-max) | bootstrap 95% | P(tau >= 0.8) | tau within the "
        "true world | tau within the fitted world |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for policy, e in a["policies"].items():
        t = e["tau"]
        sp, bs = t["seed_pairs"], t["bootstrap"]
        lines.append(
            f"| {policy} | {t['tau_means']:.3f} | {sp['mean']:.3f} ({sp['min']:.3f}-{sp['max']:.3f}) | "
            f"{bs['ci95'][0]:.3f}-{bs['ci95'][1]:.3f} | {bs['share_at_least_0.8']:.2f} | "
            f"{t['within_true_world']:.3f} | {t['within_fitted_world']:.3f} |"
        )
    for policy, e in a["policies"].items():
        fit, true = np.array(e["regret"]["fitted"]), np.array(e["regret"]["true"])
        rf, rt = fit.mean(1).argsort().argsort() + 1, true.mean(1).argsort().argsort() + 1
        lines += [
            "",
            f"Regret after {args.horizon:,} decisions, {policy} log (mean ± 95% t-interval over "
            f"{args.seeds} seeds; rank 1 = least regret):",
            "",
            "| agent | fitted world | rank | true world | rank |",
            "|---|---:|---:|---:|---:|",
        ]
        for j, name in enumerate(agents):
            lines.append(f"| {name} | {_ci(fit[j])} | {rf[j]} | {_ci(true[j])} | {rt[j]} |")
        for s in e["tau"]["swapped_pairs"]:
            lines.append(
                f"\nswapped: {s['pair'][0]} vs {s['pair'][1]}: gap {s['gap_fitted']:+,.0f} fitted "
                f"(Welch p {s['welch_p_fitted']:.2f}), {s['gap_true']:+,.0f} true (Welch p "
                f"{s['welch_p_true']:.2f})"
            )
    if b is not None:
        p, o = b["predicted"], b["observed"]
        lines += [
            "",
            "## (b) Bernoulli TS's CTR predicted (Open Bandit Dataset sample, campaign all)",
            "",
            "OBD-v0's click model, fitted on the first 80% of the uniform-random log, averaged over its "
            f"{o['random_evaluation_visitors']['rows']:,} evaluation visitors under BTS's action distribution "
            "(harmonic reading of the bts log's propensities, positions weighted by their share of the bts "
            f"log). Intervals: visitors bootstrapped ({args.n_boot}) for each of {args.obd_fit_seeds} fit "
            f"seeds, pooled; and {args.obd_refits} refits on bootstrap resamples of the random log.",
            "",
            "| policy | predicted CTR (mean over fit seeds) | fit-seed range | visitor bootstrap 95% | "
            "refit bootstrap 95% | observed CTR [Wilson 95%] |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name in ("bts", "random"):
            q, ob = p[name], o[name]
            refit = q["refit_bootstrap95"]
            lines.append(
                f"| {name} | {q['mean_over_fit_seeds']:.5f} | {q['fit_seed_range'][0]:.5f}-"
                f"{q['fit_seed_range'][1]:.5f} | {_pair(q['visitor_bootstrap95_pooled_over_fit_seeds'])} | "
                f"{_pair(refit) if refit else 'n/a'} | {ob['ctr']:.5f} [{_pair(ob['wilson95'])}] "
                f"({ob['clicks']} / {ob['rows']:,}) |"
            )
        ev, r = o["random_evaluation_visitors"], b["predicted_ratio_bts_over_random"]
        lines += [
            "",
            f"Random policy on the evaluation visitors only: observed {ev['ctr']:.5f} "
            f"[{_pair(ev['wilson95'])}] ({ev['clicks']} / {ev['rows']:,}); on the fitting rows "
            f"{o['random_fitting_rows']['ctr']:.5f}. Predicted BTS / random CTR ratio "
            f"{r['mean_over_fit_seeds']:.3f} (fit seeds {_pair(r['fit_seed_range'], '.3f')}"
            + (f", refit bootstrap 95% {_pair(r['refit_bootstrap95'], '.3f')}" if r["refit_bootstrap95"] else "")
            + f") against the observed {o['ratio_bts_over_random']:.3f}.",
        ]
        if b.get("ope_estimates"):
            lines += [
                "",
                "Off-policy estimates of BTS's CTR from the same random log (`benchmarks/results/ope.md`, "
                "whole log, 95% bootstrap):",
                "",
                "| estimator | estimate [95% CI] |",
                "|---|---:|",
            ]
            for name, e in b["ope_estimates"].items():
                lines.append(f"| {name} | {e['estimate']:.5f} [{e['lower']:.5f}, {e['upper']:.5f}] |")
    mach = machine()
    lines += [
        "",
        f"Machine: {mach['processor']}, {mach['cpus']} CPUs ({mach['system']}), {args.workers} worker(s); "
        f"{seconds:.0f} s in all.",
        "",
        f"Command: `{' '.join(['python', 'benchmarks/fidelity.py', *sys.argv[1:]])}`",
        "",
    ]
    return "\n".join(lines)


def _pair(x: list[float], spec: str = ".5f") -> str:
    return f"{x[0]:{spec}}-{x[1]:{spec}}"


def _ci(values: np.ndarray) -> str:
    from scipy.stats import t as student

    n = len(values)
    half = float(student.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return f"{values.mean():,.0f} ± {half:,.0f}"


def main(args: Args) -> None:
    # Seeding: every run is seeded by its spec, every bootstrap by a generator spawned here.
    random.seed(0)
    np.random.seed(0)
    if args.quick:
        args.rows, args.fresh_rows, args.auc_sizes, args.catalogue = 20_000, 10_000, (), (200, 100)
        args.agents, args.seeds, args.horizon, args.workers = ("random", "ucb1", "linucb-shared"), 2, 500, 1
        args.n_boot, args.n_boot_auc, args.obd_fit_seeds, args.obd_refits = 200, 20, 1, 0
        args.work = Path("runs") / "fidelity-quick" / "logs"
    out = args.out or (Path("runs") / "fidelity-quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    a = known_world(args, out)
    b = obd_check(args, np.random.default_rng(np.random.SeedSequence([args.log_seed, 23]))) if args.obd else None
    seconds = time.perf_counter() - start
    record = {
        "benchmark": "fidelity",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()},
        "known_world": a,
        "obd_bts_ctr": b,
        "seconds": seconds,
        "machine": machine(),
        "versions": versions(),
    }
    atomic_write_bytes(out / "summary.json", json.dumps(record, indent=1, default=float).encode())
    text = markdown(args, a, b, seconds)
    atomic_write_bytes(out / "summary.md", text.encode())
    print(text)
    print(f"wrote {out / 'summary.json'}, {out / 'summary.md'}")


if __name__ == "__main__":
    main(tyro.cli(Args))
