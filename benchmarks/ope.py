"""Off-policy estimators on the Open Bandit Dataset: Bernoulli TS's CTR from the uniform-random log.

An OBP-like protocol, after Open Bandit Pipeline's ``examples/obd/evaluate_off_policy_estimators.py``
(``--evaluation_policy bts --behavior_policy random --campaign all --n_runs 30
--base_model logistic_regression``), on the same 10,000-row sample. OBP-like, not OBP's:
the log, the resampling, the cross-fitting, the positions and the estimator formulas are
OBP's, but BTS's action distribution is reconstructed from the ``bts`` log's propensities
(OBP simulates the production BTS) and the reward model uses other features (step 3).

1. Ground truth: the on-policy CTR of Bernoulli TS, the mean click of the ``bts`` log.
2. Evaluation policy: BTS's probability of putting item ``a`` in position ``k``. OBP
   simulates the production BTS (``BernoulliTS(is_zozotown_prior=True)``,
   ``compute_batch_action_dist``); obp is not used here, so the distribution is
   reconstructed from the ``bts`` log's own propensity scores (the probabilities BTS gave
   to what it showed) with ``ope.logged_policy_marginal(method="harmonic")``: for each
   (item, position) pair, the number of rounds that show it divided by the sum of the
   inverse logged propensities of those rounds, normalised over items at each position.
   This is a consistent estimate of BTS's action distribution averaged over the week (it
   changed as BTS was updated). The same for every round, as OBP's (a context-free policy).
3. ``n_runs`` bootstrap resamples (with replacement, the log's size) of the ``random``
   log; in each, a reward model is fitted with 3-fold cross-fitting
   (``ope.fit_reward_model``: logistic regression on the round's context, the item's
   one-hot and the position's one-hot, penalty chosen by inner cross-validated log loss;
   OBP: one logistic regression per position on the user features and the label-encoded
   item features), then every estimator gives BTS's CTR, with positions (``len_list = 3``).
   In the same resamples, the naive baseline: the resample's own CTR (the random policy's)
   taken as BTS's, i.e. no off-policy correction at all.
4. Relative error ``|estimate - truth| / truth``: mean and standard deviation over the
   resamples, next to OBP's published figures for the same setting, with the two-sided
   Welch t-test p-value of the difference of the two means (both over 30 runs; OBP's std
   is pandas' ``describe``, ddof = 1, as ours), and each estimator's paired difference
   from the naive baseline over the same resamples (paired t-test).

Usage::

    python benchmarks/ope.py                    # 30 resamples -> benchmarks/results/ope.{json,md}
    python benchmarks/ope.py --quick --out DIR  # smoke run (3 resamples)
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tyro
from _data import use_shared_data
from scipy import stats

from recbandit.data.obd import N_POSITIONS, load_obd
from recbandit.envs.obd import find_obd
from recbandit.evaluation import ope
from recbandit.evaluation.replay import wilson_interval
from recbandit.evaluation.results import atomic_write_bytes, machine, versions

use_shared_data()  # the registered envs find ../shared/data by name (library code never looks there)

RESULTS = Path(__file__).resolve().parent / "results"
#: OBP's README (examples/obd), BTS from the random log, campaign "all", logistic regression, 30 runs.
OBP_PUBLISHED = {
    "dm": (0.156876, 0.109898),
    "ipw": (0.311082, 0.311170),
    "snipw": (0.311795, 0.334736),
    "dr": (0.292464, 0.315485),
    "switch-dr": (0.258410, 0.160598),
    "dr-os": (0.159520, 0.109660),
}
#: our estimator name -> OBP's name.
OBP_NAME = {"dm": "dm", "ips": "ipw", "snips": "snipw", "dr": "dr", "switch-dr": "switch-dr", "dr-os": "dr-os"}
ESTIMATORS = ("dm", "dr-os", "switch-dr", "dr", "ips", "snips", "replay")
#: Runs behind each of OBP's published means (``--n_runs 30``).
OBP_RUNS = 30
NAIVE = "naive (random log's CTR)"


@dataclass
class Args:
    """Relative error of off-policy estimators of Bernoulli TS's CTR on the Open Bandit Dataset sample."""

    path: str | None = None
    """OBD root with random/ and bts/ (default: found like OBD-v0 finds it)"""
    campaign: str = "all"
    """campaign: all, men or women (OBP's published figures are for all)"""
    n_runs: int = 30
    """bootstrap resamples of the random log (OBP: 30)"""
    sample_size: int | None = None
    """rounds per resample (OBP's sample_size; default: the log's size)"""
    seed: int = 12345
    """seed of every draw (resamples, folds, replay's draws)"""
    marginal: str = "harmonic"
    """how BTS's action distribution is read from the bts log: harmonic, frequency, mean-propensity"""
    n_folds: int = 3
    """cross-fitting folds of the reward model (OBP: 3)"""
    l2: tuple[float, ...] = ope.FIT_L2
    """ridge penalties of the reward model, chosen among by inner cross-validated log loss"""
    n_boot_ci: int = 1000
    """bootstrap resamples of the 95% intervals on the whole random log"""
    out: Path | None = None
    """results folder (default benchmarks/results; files ope.json and ope.md)"""
    quick: bool = False
    """smoke run: 2 resamples of 3,000 rounds, one l2, 100-resample intervals"""


def relative_errors(
    rnd: dict[str, np.ndarray],
    pis: dict[str, np.ndarray],
    truth: float,
    rng: np.random.Generator,
    n_folds: int,
    l2: tuple[float, ...],
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Relative error of every estimator, for each action distribution in ``pis``, on one (resampled) log."""
    n, n_items = len(rnd["rewards"]), next(iter(pis.values())).shape[0]
    model = ope.fit_reward_model(
        rnd["context"], rnd["actions"], rnd["rewards"], n_items, rnd["positions"], N_POSITIONS,
        rng=rng, n_folds=n_folds, l2=l2,
    )  # fmt: skip
    out: dict[str, dict[str, float]] = {}
    info = {
        "l2": float(np.median(model.l2)),
        "log_loss": model.held_out_log_loss,
        "base_log_loss": model.base_rate_log_loss,
    }
    for label, pi in pis.items():
        dist = np.broadcast_to(pi, (n, *pi.shape))
        errs = {}
        for name in ESTIMATORS:
            value = ope.estimate(
                name,
                rnd["rewards"],
                rnd["actions"],
                rnd["pscore"],
                dist,
                rnd["positions"],
                model.estimated_rewards if ope.ESTIMATORS[name].needs_model else None,
                rng=rng,
            )
            errs[name] = abs(value - truth) / truth
        out[label] = errs
        if label == "main":
            for name in ("switch-dr", "dr-os"):
                info[f"{name} hyper"] = ope.tuned_hyper(
                    name, rnd["rewards"], rnd["actions"], rnd["pscore"], dist, model.estimated_rewards, rnd["positions"]
                )
    return out, info


def welch_p(ours: dict[str, float], n_ours: int, obp: tuple[float, float], n_obp: int = OBP_RUNS) -> float | None:
    """Two-sided Welch t-test p-value of two means given as mean, std (ddof = 1) and count; None below 2 runs."""
    if n_ours < 2 or n_obp < 2:
        return None
    result = stats.ttest_ind_from_stats(ours["mean"], ours["std"], n_ours, obp[0], obp[1], n_obp, equal_var=False)
    return float(result.pvalue) if np.isfinite(result.pvalue) else None


def paired_vs_naive(errors: np.ndarray, naive: np.ndarray) -> dict[str, float | None]:
    """Mean and std of ``errors - naive`` over the same resamples, and the paired t-test p-value (None below 2)."""
    diff = errors - naive
    if len(diff) < 2:
        return {"mean_diff": float(diff.mean()), "std_diff": None, "p": None}
    p = stats.ttest_rel(errors, naive).pvalue if diff.std() > 0 else (1.0 if diff.mean() == 0 else 0.0)
    return {"mean_diff": float(diff.mean()), "std_diff": float(diff.std(ddof=1)), "p": float(p)}


def p_text(p: float | None) -> str:
    """A p-value for a table cell."""
    return "n/a" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}")


def welch_sentences(welch: dict[str, float | None], table: dict[str, dict[str, float]], n_runs: int) -> str:
    """What the Welch tests of our mean relative errors against OBP's published ones say, and what they do not."""
    tested = {k: v for k, v in welch.items() if v is not None}
    if not tested:
        text = f"With {n_runs} run(s), no Welch test is possible. "
    else:
        listed = ", ".join(f"p = {p_text(v)} ({k})" for k, v in tested.items())
        text = (
            "Is that more than chance? Welch's t-test of our mean relative error against OBP's published mean "
            f"(two-sided; {n_runs} runs here, {OBP_RUNS} there; both stds with ddof = 1) gives {listed}. "
        )
        significant = {k: v for k, v in tested.items() if v < 0.05}
        bonferroni = 0.05 / len(tested)
        if not significant:
            smallest = min(tested, key=lambda k: tested[k])
            text += (
                f"No difference is distinguishable from chance at the 5% level (the smallest p, "
                f"{p_text(tested[smallest])} for {smallest}, is one of {len(tested)} tests): the gaps to OBP's "
                "figures, either way, are within the noise, so ours is shown to be neither better nor worse. "
            )
        else:
            sides = ", ".join(
                f"{k} ({'below' if table[k]['mean'] < OBP_PUBLISHED[OBP_NAME[k]][0] else 'above'} OBP's)"
                for k in significant
            )
            passing = [k for k, v in significant.items() if v < bonferroni]
            text += (
                f"p < 0.05 for {sides}; with {len(tested)} tests the Bonferroni threshold is {bonferroni:.4f}, which "
                f"{', '.join(passing) + (' passes' if len(passing) == 1 else ' pass') if passing else 'none passes'}. "
            )
    return text + (
        "The test takes each set of runs as independent draws; both are bootstrap resamples of the same "
        "10,000-row log scored against the same truth, so it asks only whether the two protocols' errors differ by "
        "more than their resample-to-resample spread explains, and says nothing about the truth's own uncertainty, "
        "which both share."
    )


def naive_sentences(
    versus: dict[str, dict[str, float | None]],
    naive: dict[str, float],
    n_runs: int,
    all_level_with_obp: bool,
) -> str:
    """What the paired comparison of each estimator with the naive baseline says."""

    def side(k: str) -> int:  # -1 below the naive error by more than chance, +1 above, 0 level
        p, diff = versus[k]["p"], versus[k]["mean_diff"]
        return 0 if p is None or p >= 0.05 or diff is None else (-1 if diff < 0 else 1)

    groups = {
        "below it by more than chance (p < 0.05)": [k for k in versus if side(k) < 0],
        "above it (p < 0.05)": [k for k in versus if side(k) > 0],
        "not distinguishable from it": [k for k in versus if side(k) == 0],
    }
    text = (
        "The naive baseline, the random log's own CTR taken as BTS's (no off-policy correction at all), has a "
        f"relative error of {naive['mean']:.3f} ± {naive['std']:.3f} over the same {n_runs} resamples. Paired with "
        "it resample by resample (column 'ours − naive', paired t-test): "
        + "; ".join(f"{label}: {', '.join(names)}" for label, names in groups.items() if names)
        + ". "
    )
    below = groups["below it by more than chance (p < 0.05)"]
    if below:
        return text + f"Only {', '.join(below)} did better than assuming that BTS's CTR equals the random policy's."
    return text + (
        "No estimator did better than assuming that BTS's CTR equals the random policy's: these figures show that "
        "the estimators run"
        + (" and match OBP's within the noise" if all_level_with_obp else "")
        + ", not that off-policy correction helps on this sample."
    )


def main(args: Args) -> None:
    # Seeding: every draw comes from generators spawned from args.seed; the global ones are fixed anyway.
    random.seed(args.seed)
    np.random.seed(args.seed % 2**32)
    if args.quick:
        args.n_runs, args.n_boot_ci, args.sample_size, args.l2 = 2, 100, 3000, (1000.0,)
    out = args.out or RESULTS
    root = find_obd(args.path)
    start = time.perf_counter()

    # DATA: the uniform-random log (what is evaluated on) and the BTS log (truth, BTS's propensities).
    rnd_data = load_obd(root, "random", args.campaign)
    bts_data = load_obd(root, "bts", args.campaign)
    rnd, bts = ope.logged_arrays(rnd_data), ope.logged_arrays(bts_data)
    n_items = len(rnd_data.items)
    if len(bts_data.items) != n_items:
        raise SystemExit(f"the random and bts logs of {args.campaign} have {n_items} and {len(bts_data.items)} items")
    truth = float(bts["rewards"].mean())
    truth_ci = wilson_interval(float(bts["rewards"].sum()), len(bts["rewards"]))
    methods = [args.marginal] + [m for m in ope.MARGINAL_METHODS if m != args.marginal]
    pis = {
        ("main" if m == args.marginal else m): ope.logged_policy_marginal(
            bts["actions"], bts["pscore"], n_items, bts["positions"], N_POSITIONS, method=m
        )
        for m in methods
    }
    print(
        f"OBD {args.campaign}: random log {len(rnd['rewards']):,} rounds, CTR {rnd['rewards'].mean():.5f}; "
        f"BTS on-policy CTR (truth) {truth:.5f} (95% CI {truth_ci[0]:.5f}-{truth_ci[1]:.5f})"
    )

    # RESAMPLES: OBP-like (bootstrap the random log, refit the reward model, estimate; the naive baseline too).
    seeds = np.random.SeedSequence(args.seed).spawn(args.n_runs + 1)
    per_run: list[dict[str, dict[str, float]]] = []
    infos = []
    naive_runs: list[float] = []  # the resample's own CTR taken as BTS's: no off-policy correction
    n = len(rnd["rewards"])
    for b in range(args.n_runs):
        rng = np.random.default_rng(seeds[b])
        idx = rng.integers(n, size=args.sample_size or n)
        sample = {key: value[idx] for key, value in rnd.items()}
        errs, info = relative_errors(sample, pis, truth, rng, args.n_folds, args.l2)
        per_run.append(errs)
        infos.append(info)
        naive_runs.append(abs(float(sample["rewards"].mean()) - truth) / truth)
        print(
            f"  run {b + 1}/{args.n_runs}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in errs["main"].items())
            + f", naive {naive_runs[-1]:.3f}"
        )

    def summary(label: str) -> dict[str, dict[str, float]]:
        table = {}
        for name in ESTIMATORS:
            values = np.array([r[label][name] for r in per_run])
            table[name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
        return table

    main_table = summary("main")
    sensitivity = {label: summary(label) for label in pis if label != "main"}
    naive = np.array(naive_runs)
    naive_summary = {"mean": float(naive.mean()), "std": float(naive.std(ddof=1)) if len(naive) > 1 else 0.0}
    welch = {
        name: welch_p(main_table[name], args.n_runs, OBP_PUBLISHED[OBP_NAME[name]])
        for name in ESTIMATORS
        if name in OBP_NAME
    }
    versus_naive = {name: paired_vs_naive(np.array([r["main"][name] for r in per_run]), naive) for name in ESTIMATORS}

    # INTERVALS: each estimator on the whole random log, with a 95% percentile bootstrap interval.
    rng = np.random.default_rng(seeds[-1])
    model = ope.fit_reward_model(
        rnd["context"], rnd["actions"], rnd["rewards"], n_items, rnd["positions"], N_POSITIONS,
        rng=rng, n_folds=args.n_folds, l2=args.l2,
    )  # fmt: skip
    dist = np.broadcast_to(pis["main"], (n, *pis["main"].shape))
    intervals = {}
    for name in ESTIMATORS:
        q = model.estimated_rewards if ope.ESTIMATORS[name].needs_model else None
        ci = ope.bootstrap_ci(
            name,
            rnd["rewards"],
            rnd["actions"],
            rnd["pscore"],
            dist,
            rnd["positions"],
            q,
            rng=rng,
            n_boot=args.n_boot_ci,
        )
        intervals[name] = asdict(ci)
    # The naive estimate's interval: a bootstrap mean of n 0/1 clicks is Binomial(n, CTR) / n, drawn directly.
    ctr = float(rnd["rewards"].mean())
    boot = rng.binomial(n, ctr, size=args.n_boot_ci) / n
    lo, hi = np.quantile(boot, [0.025, 0.975])
    naive_ci = {"estimate": ctr, "lower": float(lo), "upper": float(hi), "alpha": 0.05, "n_boot": args.n_boot_ci}
    seconds = time.perf_counter() - start

    # REPORT
    header = (
        "| estimator | ours: relative error (mean ± std) | OBP published (mean ± std) | Welch p, ours vs OBP "
        "| ours − naive, same resamples (paired p) | estimate on the whole log [95% CI] |"
    )
    rows = [header, "|---|---:|---:|---:|---:|---:|"]
    for name in ESTIMATORS:
        m = main_table[name]
        obp = OBP_PUBLISHED.get(OBP_NAME.get(name, ""), None)
        obp_text = f"{obp[0]:.3f} ± {obp[1]:.3f}" if obp else "not reported"
        whole = intervals[name]
        vn = versus_naive[name]
        rows.append(
            f"| {name} | {m['mean']:.3f} ± {m['std']:.3f} | {obp_text} | "
            f"{p_text(welch[name]) if name in welch else '–'} | {vn['mean_diff']:+.3f} ({p_text(vn['p'])}) | "
            f"{whole['estimate']:.5f} [{whole['lower']:.5f}, {whole['upper']:.5f}] |"
        )
    rows.append(
        f"| {NAIVE} | {naive_summary['mean']:.3f} ± {naive_summary['std']:.3f} | not reported | – | – | "
        f"{naive_ci['estimate']:.5f} [{naive_ci['lower']:.5f}, {naive_ci['upper']:.5f}] |"
    )
    table = "\n".join(rows)
    print("\n" + table)
    hyper = {key: sorted({float(i[key]) for i in infos}) for key in ("switch-dr hyper", "dr-os hyper", "l2")}
    sens_rows = [
        "| estimator | " + " | ".join(f"pi from {m}" for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for name in ESTIMATORS:
        cells = [main_table[name]] + [sensitivity[m][name] for m in methods[1:]]
        sens_rows.append(f"| {name} | " + " | ".join(f"{c['mean']:.3f} ± {c['std']:.3f}" for c in cells) + " |")
    naive_cell = f"{naive_summary['mean']:.3f} ± {naive_summary['std']:.3f}"
    sens_rows.append(f"| {NAIVE} | " + " | ".join([naive_cell] * len(methods)) + " |")
    mach = machine()
    result = {
        "benchmark": "ope",
        "dataset": f"obd/{{random,bts}}/{args.campaign}",
        "source": str(root),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(args).items()},
        "truth": {"policy": "bts", "ctr": truth, "ci95": list(truth_ci), "rounds": len(bts["rewards"])},
        "random_log": {"rounds": n, "ctr": float(rnd["rewards"].mean()), "clicks": int(rnd["rewards"].sum())},
        "evaluation_policy": {"method": args.marginal, "action_dist": pis["main"].tolist()},
        "relative_error": main_table,
        "baseline": {
            "name": "naive",
            "what": "the resample's own CTR (the uniform-random policy's) taken as BTS's CTR",
            "relative_error": naive_summary,
            "per_run": naive_runs,
            "whole_log": naive_ci,
        },
        "welch_p_vs_obp": welch,
        "paired_vs_naive": versus_naive,
        "relative_error_by_marginal": {args.marginal: main_table, **sensitivity},
        "obp_published": {k: {"mean": v[0], "std": v[1]} for k, v in OBP_PUBLISHED.items()},
        "intervals_whole_log": intervals,
        "per_run": per_run,
        "reward_model": infos,
        "hyper_chosen": hyper,
        "seconds": seconds,
        "machine": mach,
        "versions": versions(),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "ope.json", (json.dumps(result, indent=1) + "\n").encode())
    mean_ll = float(np.mean([i["log_loss"] for i in infos]))
    whole_l2 = sorted(set(model.l2))
    max_weight = float(pis["main"].max() / rnd["pscore"].min())
    shared = [name for name in ESTIMATORS if name in OBP_NAME]
    worse = [name for name in shared if main_table[name]["mean"] > OBP_PUBLISHED[OBP_NAME[name]][0]]
    se = max(main_table[name]["std"] for name in shared) / np.sqrt(args.n_runs)
    worse_alt = {
        method: [name for name in shared if table_[name]["mean"] > OBP_PUBLISHED[OBP_NAME[name]][0]]
        for method, table_ in sensitivity.items()
    }
    alt_text = "; ".join(
        f"with the {m} reading, {', '.join(w)} would be above OBP's" for m, w in worse_alt.items() if w
    )
    cells = bts["actions"] * N_POSITIONS + bts["positions"]
    lo = np.full(n_items * N_POSITIONS, np.inf)
    hi = np.zeros(n_items * N_POSITIONS)
    np.minimum.at(lo, cells, bts["pscore"])
    np.maximum.at(hi, cells, bts["pscore"])
    seen = np.isfinite(lo)
    spread, unseen = float((hi[seen] / lo[seen]).max()), int((~seen).sum())
    comparison = (
        (
            "Ours is at or below OBP's mean relative error for every shared estimator. "
            if not worse
            else f"Ours is above OBP's mean relative error for {', '.join(worse)}. "
        )
        + "The estimators' formulas are OBP's (IPW, SNIPW, DM, DR, Switch-DR, DRos with SLOPE), so a difference "
        "comes from their inputs and from chance, not from the formulas: (1) the evaluation policy, BTS's "
        "action distribution, is read from the bts log here and simulated from the production prior by OBP (the "
        "table below shows that the reading matters"
        + (f": {alt_text}); " if alt_text else "); ")
        + "(2) the reward model (one penalised logistic regression chosen by log loss here, one "
        "weakly penalised logistic regression per position in OBP); (3) chance: the truth is known only to about "
        f"±{(truth_ci[1] - truth_ci[0]) / 2 / truth:.0%}, the same for both, and each mean over {args.n_runs} "
        f"resamples has a standard error of up to {se:.3f} here. The harmonic reading is the default for its "
        "consistency (see `ope.logged_policy_marginal`); the other two are shown for comparison, not chosen "
        "among."
    )
    welch_text = welch_sentences(welch, main_table, args.n_runs)
    naive_text = naive_sentences(
        versus_naive, naive_summary, args.n_runs, all_level_with_obp=all(v is None or v >= 0.05 for v in welch.values())
    )
    gap, half = abs(truth - ctr) / truth, (truth_ci[1] - truth_ci[0]) / 2 / truth
    naive_text += f" BTS's CTR and the random log's differ by {gap:.0%} of BTS's, " + (
        f"inside the ±{half:.0%} to which BTS's CTR is known: on this sample the naive guess is hard to beat."
        if gap < half
        else f"outside the ±{half:.0%} to which BTS's CTR is known."
    )
    base_ll = float(np.mean([i["base_log_loss"] for i in infos]))
    md = [
        f"# Off-policy estimators on the Open Bandit Dataset sample (campaign {args.campaign})",
        "",
        f"Bernoulli TS's CTR estimated from the uniform-random log ({n:,} rounds, "
        f"{int(rnd['rewards'].sum())} clicks, CTR {rnd['rewards'].mean():.5f}); ground truth: BTS's on-policy CTR "
        f"{truth:.5f} ({int(bts['rewards'].sum())} clicks in {len(bts['rewards']):,} rounds, 95% Wilson interval "
        f"{truth_ci[0]:.5f}-{truth_ci[1]:.5f}, i.e. the truth itself is known to about ±"
        f"{(truth_ci[1] - truth_ci[0]) / 2 / truth:.0%}). Relative error |estimate - truth| / truth over "
        f"{args.n_runs} bootstrap resamples of {args.sample_size or n:,} rounds of the random log (mean ± std), "
        "OBP-like: after OBP's "
        "`examples/obd/evaluate_off_policy_estimators.py --evaluation_policy bts --behavior_policy random "
        "--campaign all --base_model logistic_regression --n_runs 30`, with the same log, resampling, 3-fold "
        "cross-fitting, positions and estimator formulas, but BTS's action distribution reconstructed from the "
        "bts log's propensities (OBP simulates the production BTS) and a reward model on other features (see "
        "below). The naive row takes each resample's own CTR as BTS's; 'Welch p' tests our mean against OBP's, "
        "'ours − naive' is the mean paired difference from the naive row over the same resamples. The last "
        "column is each estimator on the "
        f"whole log with a 95% percentile bootstrap interval ({args.n_boot_ci} resamples). Those intervals hold the "
        "reward model fixed (as OBP's `estimate_interval` does), so DM's leaves out the model's own error; the "
        "relative errors, which refit the model in every resample, are the honest spread.",
        "",
        table,
        "",
        "## What was done",
        "",
        "- **Evaluation policy.** OBP computes BTS's action distribution by simulating the production BTS "
        "(`BernoulliTS(is_zozotown_prior=True, campaign=...)`, `compute_batch_action_dist`); obp is not used here. "
        "Instead, BTS's probability of each (item, position) is read from the `bts` log's own `propensity_score`s "
        f"(`ope.logged_policy_marginal(method={args.marginal!r})`): the number of `bts` rounds showing the pair "
        "divided by the sum of their inverse propensities, normalised over items at each position. BTS changed "
        f"during the week (a pair's logged propensity varies up to {spread:,.0f}-fold), and this is a consistent "
        f"estimate of its action distribution averaged over the week; pairs never shown "
        f"({unseen} of {n_items * N_POSITIONS}) get 0. "
        "The same distribution "
        "is used for every round (OBP also tiles one distribution over the rounds). The plain mean logged "
        "propensity of each pair (the other natural reading) over-weights pairs whose probability varied, since a "
        "round shows a pair more often when its probability is high; the table below shows how much each choice "
        "matters.",
        f"- **Reward model** (DM, DR, Switch-DR, DRos): `ope.fit_reward_model`, logistic regression on the "
        "round's context (one-hot user features and the 80 user-item affinities, as `load_obd` gives them), the "
        "item's one-hot and the position's one-hot, 3-fold cross-fitted, the ridge penalty chosen in each "
        "training part by inner 3-fold log loss. OBP fits one logistic regression (C = 100) per position on the "
        "one-hot user features and the label-encoded item features. On the whole log the inner cross-validation "
        f"chose l2 = {whole_l2} (candidates {list(args.l2)}) and the cross-fitted log loss is "
        f"{model.held_out_log_loss:.5f} against {model.base_rate_log_loss:.5f} for the base rate: the "
        f"{int(rnd['rewards'].sum())} clicks support little beyond the base rate, so DM stays close to the random "
        f"log's CTR. In the resamples the chosen l2 was {hyper['l2']} and the cross-fitted log loss "
        f"{mean_ll:.5f} against {base_ll:.5f}: a bootstrap resample repeats rows, and a repeated row can fall in "
        "the training and the held-out folds at once, which flatters the fit (OBP's protocol shares this).",
        f"- **Switch-DR and DRos** take their hyper-parameter from SLOPE over OBP's candidates "
        f"{list(ope.SLOPE_CANDIDATES)} (chosen tau: {hyper['switch-dr hyper']}; lambda: {hyper['dr-os hyper']}). "
        f"The largest importance weight is {max_weight:.1f}"
        + (
            f", so no tau in {hyper['switch-dr hyper']} switches a round to DM and Switch-DR equals DR here."
            if min(hyper["switch-dr hyper"]) >= max_weight
            else "."
        ),
        "- **Replay** (Li et al. 2011) needs a uniformly random log (it is) and a policy's action per round: BTS "
        "is random, so its item for the round's position is drawn from the distribution above and the round is "
        "kept when it equals the logged item (about 1 round in 80, so about half a click per resample: its error "
        "is large by construction). OBP does not report it.",
        "",
        "## Against OBP's figures and the naive baseline",
        "",
        comparison,
        "",
        welch_text,
        "",
        naive_text,
        "",
        "## Sensitivity to how BTS's distribution is read from its log",
        "",
        "\n".join(sens_rows),
        "",
        f"Machine: {mach['processor']}, {mach['cpus']} CPUs ({mach['system']}); {seconds:.0f} s in all.",
        "",
        f"Command: `{' '.join(['python', 'benchmarks/ope.py', *sys.argv[1:]])}`",
        "",
    ]
    atomic_write_bytes(out / "ope.md", "\n".join(md).encode())
    print(f"\nwrote {out / 'ope.json'} and {out / 'ope.md'} ({seconds:.0f} s)")


if __name__ == "__main__":
    main(tyro.cli(Args))
