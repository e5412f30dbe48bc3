"""Hyper-parameter search on Ray Tune: random search, ASHA early stopping on the learning curve.

``tune_agent`` samples ``trials`` settings of one agent from a search space (``parse_space``:
``learning_rate=log(1e-4,1e-2),n_steps=16|32|64``, checked against the agent's ``Config``
before anything runs), runs each on ``seeds`` tuning seeds through the ordinary runner and
lets ASHA (Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning") stop the
settings whose learning curve falls behind.

A trial reports ``reports`` times during its first seed (the metric so far: regret per
decision, or return per completed session) and once after each further seed (the mean of
the finished seeds' final metrics), so that every trial's *n*-th report means the same
thing and ASHA compares like with like. Every finished run's record is kept
(``OUT/trials/*.json``); ``OUT/tune.json`` holds the trials' table and the chosen setting.

Selection happens on tuning seeds (``TUNING_FIRST_SEED`` and up) disjoint from the
benchmarks' seeds (below it), so that a benchmark of the chosen setting is not selected on
its own noise; every record says so (``record["tune"]["seed_rule"]``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._validation import check_choice, check_int, check_seed
from recbandit.agents import AGENTS
from recbandit.envs.registration import make_env
from recbandit.evaluation.metrics import mean_ci
from recbandit.evaluation.ray_backend import ray_cluster, run_resources
from recbandit.evaluation.results import _jsonable, record_filename, write_record
from recbandit.evaluation.runner import RunSpec, execute
from recbandit.types import REGRET, REWARDS, SESSION_IDS, TERMINATED, TRUNCATED

#: Tuning seeds start here; benchmarks use seeds below it.
TUNING_FIRST_SEED = 1000
#: Metric name -> (Tune mode, what it is).
METRICS = {
    "regret": ("min", "mean regret per decision"),
    "return": ("max", "mean return per completed session"),
}
_RANGE = re.compile(r"^(log|uniform)\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)$")


@dataclass(frozen=True)
class Dimension:
    """One searched hyper-parameter.

    Attributes:
        name: a field of the agent's ``Config``.
        kind: ``"log"`` (log-uniform in [low, high]), ``"uniform"`` or ``"choice"``.
        low: lower bound (ranges).
        high: upper bound, included (ranges).
        choices: the values of a ``"choice"``.
        integer: the field is an int: ranges sample integers.
    """

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()
    integer: bool = False

    def domain(self) -> Any:
        """The Ray Tune search domain."""
        from ray import tune

        if self.kind == "choice":
            return tune.choice(list(self.choices))
        if self.integer:
            lo, hi = int(self.low), int(self.high) + 1  # Tune's integer upper bound is exclusive
            return tune.lograndint(lo, hi) if self.kind == "log" else tune.randint(lo, hi)
        return tune.loguniform(self.low, self.high) if self.kind == "log" else tune.uniform(self.low, self.high)

    def describe(self) -> str:
        """The dimension as written on the command line."""
        if self.kind == "choice":
            return f"{self.name}=" + "|".join(json.dumps(c) for c in self.choices)
        return f"{self.name}={self.kind}({self.low:g},{self.high:g})"


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--space {where}: bound {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"--space {where}: bound {text!r} is not finite")
    return value


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _split(text: str) -> list[str]:
    """Split on the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_space(text: str, agent: str, fixed: dict[str, Any] | None = None) -> list[Dimension]:
    """Parse and check a search space against ``agent``'s ``Config``; nothing runs.

    Grammar: comma-separated ``NAME=log(LOW,HIGH)`` (log-uniform, 0 < LOW < HIGH),
    ``NAME=uniform(LOW,HIGH)`` (LOW < HIGH) or ``NAME=A|B|C`` (a choice of JSON values or
    strings). On an int field a range samples integers (its bounds must be integers).

    Args:
        text: the space.
        agent: registered agent name.
        fixed: the agent's other (fixed) parameters; every bound and choice is checked
            with them by building the agent's ``Config``.

    Raises:
        ValueError: unknown agent or parameter, a malformed entry, a bad bound, or a value
            the agent's ``Config`` refuses (the message names the entry).
    """
    cls = AGENTS[check_choice("agent", agent, AGENTS)]
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    fixed = dict(fixed or {})
    dims: list[Dimension] = []
    for entry in _split(text):
        name, sep, rhs = (s.strip() for s in entry.partition("="))
        if not sep or not name or not rhs:
            raise ValueError(f"--space expects NAME=log(LOW,HIGH), NAME=uniform(LOW,HIGH) or NAME=A|B, got {entry!r}")
        if name not in fields:
            raise ValueError(f"--space: {agent} has no hyper-parameter {name!r}; its parameters: {', '.join(fields)}")
        if name in fixed or any(d.name == name for d in dims):
            raise ValueError(f"--space: {name!r} is given twice")
        default = fields[name].default
        integer = isinstance(default, int) and not isinstance(default, bool)
        match = _RANGE.match(rhs)
        if match:
            kind = match.group(1)
            low, high = _number(match.group(2), entry), _number(match.group(3), entry)
            if not low < high:
                raise ValueError(f"--space {entry}: the lower bound must be below the upper bound")
            if kind == "log" and low <= 0:
                raise ValueError(f"--space {entry}: a log range needs a lower bound > 0")
            if integer and not (low.is_integer() and high.is_integer()):
                raise ValueError(f"--space {entry}: {name} is an integer; its bounds must be integers")
            dim = Dimension(name, kind, low, high, integer=integer)
            values: list[Any] = [int(low), int(high)] if integer else [low, high]
        elif "(" in rhs or ")" in rhs:
            raise ValueError(f"--space {entry}: ranges are log(LOW,HIGH) or uniform(LOW,HIGH)")
        else:
            values = [_value(v.strip()) for v in rhs.split("|")]
            if any(v == "" for v in values):
                raise ValueError(f"--space {entry}: an empty choice")
            dim = Dimension(name, "choice", choices=tuple(values))
        for value in values:
            try:
                cls.make_config(**{**fixed, name: value})
            except (TypeError, ValueError) as exc:
                raise ValueError(f"--space {entry}: {name}={value!r} is refused by {agent}: {exc}") from None
        dims.append(dim)
    if not dims:
        raise ValueError("--space is empty: give at least one NAME=... entry")
    return dims


class _Watch:
    """An env seen through: every attribute is the env's; ``step`` also keeps the running metric.

    Tracks the regret per decision and the return of completed sessions (a batch row's
    session restarts in that row after it ends), so a trial can report its learning curve
    while the runner drives the env.
    """

    def __init__(self, env: Any) -> None:
        self._env = env
        self._clear(1)

    def _clear(self, batch: int) -> None:
        self.decisions = 0
        self.regret = 0.0
        self.returns = 0.0
        self.sessions = 0
        self._open = np.zeros(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        """The env's reset; a seeded reset starts the tally anew."""
        if kwargs.get("seed") is not None:
            self._clear(int(getattr(self._env, "num_envs", 1)))
        return self._env.reset(*args, **kwargs)

    def step(self, actions: Any) -> Any:
        """The env's step, tallied."""
        result = self._env.step(actions)
        info = result[4]
        regret = np.atleast_1d(np.asarray(info[REGRET], dtype=np.float64))
        rewards = np.atleast_1d(np.asarray(info[REWARDS], dtype=np.float64))
        self.decisions += len(regret)
        self.regret += float(regret.sum())
        if TERMINATED in info:
            ended = np.atleast_1d(np.asarray(info[TERMINATED], bool) | np.asarray(info[TRUNCATED], bool))
        else:
            ended = np.atleast_1d(np.asarray(bool(result[2]) or bool(result[3])))
        if SESSION_IDS in info:
            self._open += rewards
            self.returns += float(self._open[ended].sum())
            self.sessions += int(ended.sum())
            self._open[ended] = 0.0
        return result

    def value(self, metric: str) -> float | None:
        """The metric so far (None before any decision or completed session)."""
        if metric == "regret":
            return self.regret / self.decisions if self.decisions else None
        return self.returns / self.sessions if self.sessions else None


def final_metric(record: dict[str, Any], metric: str) -> float | None:
    """A finished run's metric: regret per decision, or mean return per completed session."""
    if metric == "regret":
        return float(record["cumulative_regret"]) / int(record["horizon"])
    sessions = record.get("sessions") or {}
    value = sessions.get("mean_return")
    return None if value is None else float(value)


def _trial(config: dict[str, Any], setup: dict[str, Any]) -> None:
    """A Tune trial: the sampled setting on every tuning seed, reporting its learning curve."""
    from ray import tune

    metric, horizon, reports = setup["metric"], setup["horizon"], setup["reports"]
    params = {**setup["fixed"], **{k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}}
    finals: list[float] = []
    for j, seed in enumerate(setup["seeds"]):
        spec = RunSpec(
            env=setup["env"],
            agent=setup["agent"],
            seed=seed,
            horizon=horizon,
            batch_size=setup["batch_size"],
            env_kwargs=setup["env_kwargs"],
            agent_params=params,
            benchmark="tune",
        )
        watch = _Watch(make_env(spec.env, batch_size=spec.batch_size, **spec.env_kwargs))
        marks = [horizon * k // reports for k in range(1, reports)] if j == 0 else []

        def progress(n: int, marks: list[int] = marks, watch: _Watch = watch) -> None:
            if marks and n >= marks[0]:
                marks.pop(0)
                value = watch.value(metric)
                if value is not None:
                    tune.report({"objective": value, "decisions": n, "seeds_done": 0})

        record = execute(spec, None, progress, blas_threads=setup["blas_threads"], env=watch, backend="ray")
        final = final_metric(record, metric)
        if final is None:
            raise ValueError(f"metric {metric!r}: no session of {spec.env} ended within the horizon {horizon}")
        finals.append(final)
        record["tune"] = {**setup["about"], "config": config, "metric_value": final}
        tune.report(
            {
                "objective": float(np.mean(finals)),
                "decisions": horizon,
                "seeds_done": j + 1,
                "record_json": json.dumps(record, default=_jsonable),
            }
        )


def tune_agent(
    env: str,
    agent: str,
    space: str,
    out: Path | str,
    *,
    trials: int,
    seeds: int,
    horizon: int,
    batch_size: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    fixed: dict[str, Any] | None = None,
    metric: str = "regret",
    first_seed: int = TUNING_FIRST_SEED,
    reports: int = 4,
    grace: int | None = None,
    workers: int = 2,
    address: str | None = None,
    search_seed: int = 0,
    blas_threads: int | None = 1,
) -> dict[str, Any]:
    """Search ``space`` for ``agent`` on ``env`` with Ray Tune (random search + ASHA).

    Args:
        env: registered env id.
        agent: registered agent name.
        space: the search space (``parse_space``).
        out: results folder: ``trials/*.json`` (one record per finished run) and ``tune.json``.
        trials: settings sampled.
        seeds: tuning seeds per setting (``first_seed``, ``first_seed + 1``, ...).
        horizon: decisions per run.
        batch_size: users per step.
        env_kwargs: env arguments.
        fixed: the agent's parameters that are not searched.
        metric: ``"regret"`` (per decision, minimised) or ``"return"`` (per completed
            session, maximised; episodic envs).
        first_seed: first tuning seed, >= ``TUNING_FIRST_SEED`` (benchmarks use the seeds below).
        reports: reports during the first seed (ASHA's rungs are counted in reports).
        grace: reports before ASHA may stop a trial (default ``reports // 2``, at least 1).
        workers: CPUs of the local Ray started when ``address`` is None (concurrent trials).
        address: see ``ray_backend.ray_cluster``.
        search_seed: seed of the random search (the sampled settings).
        blas_threads: BLAS threads per run.

    Returns:
        The summary written to ``tune.json``: settings, ``trials`` (each with ``params``,
        ``seeds_done``, ``objective`` and its ``ci95`` over the seeds, ``stopped_early``,
        ``error``) and ``chosen`` (the best trial that ran every seed; None if none did).

    Raises:
        ValueError: a bad argument or space, before anything runs.
    """
    trials = check_int("trials", trials, min_value=1)
    seeds = check_int("seeds", seeds, min_value=1)
    reports = check_int("reports", reports, min_value=1, max_value=100)
    grace = check_int("grace", max(1, reports // 2) if grace is None else grace, min_value=1)
    workers = check_int("workers", workers, min_value=1)
    metric = check_choice("metric", metric, METRICS)
    first_seed = check_seed("first_seed", first_seed)
    if first_seed < TUNING_FIRST_SEED:
        raise ValueError(
            f"first_seed must be >= {TUNING_FIRST_SEED} (tuning seeds are kept apart from the benchmarks' "
            f"seeds 0..{TUNING_FIRST_SEED - 1}), got {first_seed}"
        )
    fixed = dict(fixed or {})
    dims = parse_space(space, agent, fixed)
    base = RunSpec(env, agent, first_seed, horizon, batch_size, dict(env_kwargs or {}), fixed, "tune")
    base.validate()
    if address is None:  # the env builds (and, for "return", is episodic) before any trial starts
        probe = make_env(env, batch_size=batch_size, **base.env_kwargs)
        probe.reset(seed=first_seed)
        n = int(getattr(probe, "num_envs", 1))
        info = probe.step(np.zeros(n, np.int64) if hasattr(probe, "num_envs") else 0)[4]
        if metric == "return" and SESSION_IDS not in info:
            raise ValueError(f"metric 'return' needs an episodic env (sessions); {env} has none")
    mode = METRICS[metric][0]
    tuning_seeds = list(range(first_seed, first_seed + seeds))
    seed_rule = (
        f"selected on tuning seeds {tuning_seeds[0]}..{tuning_seeds[-1]}, disjoint from the benchmarks' seeds "
        f"0..{TUNING_FIRST_SEED - 1}: report the chosen setting on benchmark seeds, never on these"
    )
    about = {
        "space": [d.describe() for d in dims],
        "metric": metric,
        "mode": mode,
        "tuning_seeds": tuning_seeds,
        "seed_rule": seed_rule,
    }
    setup = {
        "env": env,
        "agent": agent,
        "fixed": fixed,
        "env_kwargs": base.env_kwargs,
        "batch_size": batch_size,
        "horizon": horizon,
        "seeds": tuning_seeds,
        "metric": metric,
        "reports": reports,
        "blas_threads": blas_threads,
        "about": about,
    }
    folder = Path(out)
    (folder / "trials").mkdir(parents=True, exist_ok=True)
    max_t = reports + seeds - 1
    with ray_cluster(address, workers) as ray:
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search import BasicVariantGenerator

        keep = _keep_records(folder / "trials", env, agent)
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        need = run_resources(base, gpus)
        trainable = tune.with_resources(
            tune.with_parameters(_trial, setup=setup), {"cpu": need["num_cpus"], "gpu": need["num_gpus"]}
        )
        scheduler = ASHAScheduler(
            time_attr="training_iteration", max_t=max_t, grace_period=min(grace, max_t), reduction_factor=2
        )
        tuner = tune.Tuner(
            trainable,
            param_space={d.name: d.domain() for d in dims},
            tune_config=tune.TuneConfig(
                metric="objective",
                mode=mode,
                num_samples=trials,
                scheduler=scheduler,
                search_alg=BasicVariantGenerator(random_state=search_seed),
            ),
            run_config=tune.RunConfig(
                name="tune", storage_path=str((folder / "ray-tune").resolve()), verbose=0, callbacks=[keep]
            ),
        )
        grid = tuner.fit()
        rows = [_row(grid[k], keep.records, seeds, metric) for k in range(len(grid))]
    complete = [r for r in rows if r["seeds_done"] == seeds and r["error"] is None]
    best = None
    if complete:
        best = (min if mode == "min" else max)(complete, key=lambda r: r["objective"])
    summary: dict[str, Any] = {
        "env": env,
        "agent": agent,
        "fixed": fixed,
        "env_kwargs": base.env_kwargs,
        "horizon": horizon,
        "batch_size": batch_size,
        **about,
        "metric_meaning": METRICS[metric][1],
        "trials": sorted(rows, key=lambda r: (r["seeds_done"] != seeds, _sort_key(r, mode))),
        "search": f"random (Ray Tune BasicVariantGenerator, random_state={search_seed}), {trials} trials",
        "scheduler": {"name": "ASHA", "time_attr": "reports", "max_t": max_t, "grace_period": grace, "rf": 2},
        "chosen": best,
    }
    write_record(folder / "tune.json", summary)
    return summary


def _sort_key(row: dict[str, Any], mode: str) -> float:
    value = row["objective"]
    if value is None:
        return math.inf
    return value if mode == "min" else -value


def _row(result: Any, records: dict[str, list[dict[str, Any]]], seeds: int, metric: str) -> dict[str, Any]:
    """One trial of the table: its setting, seeds run, objective with its interval over seeds."""
    trial_id = (result.metrics or {}).get("trial_id")
    runs = records.get(str(trial_id), [])
    values = np.array([final_metric(r, metric) for r in runs], dtype=np.float64)
    mean, half = mean_ci(values) if len(values) else (np.nan, np.nan)
    last = (result.metrics or {}).get("objective")
    return {
        "trial_id": trial_id,
        "params": {k: v.item() if isinstance(v, np.generic) else v for k, v in (result.config or {}).items()},
        "seeds_done": len(runs),
        "values": values.tolist(),
        "objective": float(mean) if len(values) else None,
        "ci95": None if not np.isfinite(half) else float(half),
        "reports": (result.metrics or {}).get("training_iteration"),
        "last_report": last,
        "stopped_early": result.error is None and len(runs) < seeds,
        "error": None if result.error is None else f"{type(result.error).__name__}: {result.error}".splitlines()[0],
    }


def _keep_records(folder: Path, env: str, agent: str) -> Any:
    """A Tune callback (it runs in the driver) that writes every finished run's record into ``folder``.

    Its ``records`` maps each trial id to the records of the seeds it finished.
    """
    from ray.tune import Callback

    class KeepRecords(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.records: dict[str, list[dict[str, Any]]] = {}

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            text = result.get("record_json")
            if not text:
                return
            record = json.loads(text)
            name = record_filename("tune", env, agent, int(record["seed"]), record["spec_key"])
            write_record(folder / name, record)
            self.records.setdefault(str(trial.trial_id), []).append(record)

    return KeepRecords()


def format_summary(summary: dict[str, Any]) -> str:
    """The trials' table and the chosen setting, as the command prints them."""
    meaning = summary["metric_meaning"]
    lines = [f"{summary['agent']} on {summary['env']}, horizon {summary['horizon']:,}: {meaning} ({summary['mode']})"]
    lines.append(f"{'trial':>14s}  {'seeds':>5s}  {'objective':>12s}  {'95% CI':>10s}  setting")
    for row in summary["trials"]:
        obj = "-" if row["objective"] is None else f"{row['objective']:.5g}"
        ci = "-" if row["ci95"] is None else f"±{row['ci95']:.3g}"
        note = f" (error: {row['error']})" if row["error"] else ""
        if row["stopped_early"]:
            note = f" (stopped by ASHA after report {row['reports']}: {row['last_report']:.5g})"
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["params"].items())
        lines.append(f"{row['trial_id']!s:>14s}  {row['seeds_done']:>5d}  {obj:>12s}  {ci:>10s}  {params}{note}")
    best = summary["chosen"]
    if best is None:
        lines.append("chosen: none (no trial ran every tuning seed)")
    else:
        params = ", ".join(f"{k}={v!r}" for k, v in best["params"].items())
        ci = "n/a with one seed" if best["ci95"] is None else f"± {best['ci95']:.3g}"
        seeds = best["seeds_done"]
        lines.append(f"chosen: {params}: {meaning} {best['objective']:.5g} {ci} (95% CI over {seeds} tuning seeds)")
    lines.append(summary["seed_rule"])
    return "\n".join(lines)
