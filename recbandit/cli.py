"""``recbandit`` command: run sweeps, plot and summarise results, list envs and agents."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def _value(text: str) -> Any:
    """Parse a command-line value: JSON if it parses (numbers, true/false, lists), else a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: Sequence[str], flag: str) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = _value(value.strip())
    return out


def parse_agents(text: str, agent_args: Sequence[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """``a,b:key=v:key2=v2`` plus ``--agent-arg a.key=v`` -> [(label, name, params)]."""
    entries = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, *kvs = part.split(":")
        entries.append((name, name, _pairs(kvs, "--agents NAME:KEY=VALUE")))
    if not entries:
        raise ValueError("--agents must name at least one agent")
    for item in agent_args:
        target, sep, rest = item.partition(".")
        if not sep:
            raise ValueError(f"--agent-arg expects AGENT.KEY=VALUE, got {item!r}")
        matched = [e for e in entries if e[0] == target]
        if not matched:
            raise ValueError(f"--agent-arg {item!r} names agent {target!r}, which is not in --agents")
        for entry in matched:
            entry[2].update(_pairs([rest], "--agent-arg"))
    return entries


def cmd_run(args: argparse.Namespace) -> int:
    """Validate everything, run the sweep, write results, print the table, plot."""
    from recbandit._validation import check_int, check_seed
    from recbandit.evaluation import RunSpec, plot_cold, plot_regret, run_sweep, summary_table

    n_seeds = check_int("seeds", args.seeds, min_value=1)
    first = check_seed("first_seed", args.first_seed)
    env_kwargs = _pairs(args.env_arg, "--env-arg")
    specs = []
    for label, name, params in parse_agents(args.agents, args.agent_arg):
        for seed in range(first, first + n_seeds):
            specs.append(
                RunSpec(
                    env=args.env,
                    agent=name,
                    seed=seed,
                    horizon=args.horizon,
                    batch_size=args.batch_size,
                    env_kwargs=env_kwargs,
                    agent_params=params,
                    benchmark=args.benchmark,
                    label=label if not params else label + "".join(f":{k}={v}" for k, v in sorted(params.items())),
                )
            )
    from recbandit.evaluation.sweep import SweepError

    if args.address is not None and args.backend != "ray":
        raise ValueError("--address needs --backend ray")
    _print_fidelity(specs[0])
    try:
        records = run_sweep(
            specs,
            args.out,
            workers=args.workers,
            show_progress=not args.quiet,
            save_logs=args.save_logs,
            backend=args.backend,
            address=args.address,
        )
    except SweepError as exc:
        for failure in exc.failures:
            print(f"recbandit run: run failed: {failure.describe()}", file=sys.stderr)
        done, where = len(exc.records), Path(args.out).resolve()
        print(
            f"recbandit run: {len(exc.failures)} run(s) failed, {done} finished and saved in {where}",
            file=sys.stderr,
        )
        return 1
    if not args.no_table:
        print(summary_table(records))
    if not args.no_plot:
        for path in [*plot_regret(records, args.out), *plot_cold(records, args.out)]:
            print(f"plot: {path}")
    print(f"results: {Path(args.out).resolve()} ({len(records)} runs)")
    return 0


def _print_fidelity(spec: Any) -> None:
    """Before the runs of a logged-data env: one line on how faithful its user model is.

    The env is built here (its problem is cached per process, so the sweep's own build
    reuses it); the full report goes into every result record (``fit_report``).
    """
    from recbandit.envs import make_env
    from recbandit.envs.fidelity import summary_line
    from recbandit.evaluation.runner import EnvFacts

    report = EnvFacts.of(make_env(spec.env, batch_size=spec.batch_size, **spec.env_kwargs)).fit_report
    if report is not None:
        print(summary_line(report), flush=True)


def cmd_tune(args: argparse.Namespace) -> int:
    """Check the search space, tune the agent on Ray Tune, print the trials and the chosen setting."""
    from recbandit.evaluation.tune import format_summary, tune_agent

    summary = tune_agent(
        args.env,
        args.agent,
        args.space,
        args.out,
        trials=args.trials,
        seeds=args.seeds,
        horizon=args.horizon,
        batch_size=args.batch_size,
        env_kwargs=_pairs(args.env_arg, "--env-arg"),
        fixed=_pairs(args.agent_arg, "--agent-arg"),
        metric=args.metric,
        first_seed=args.first_seed,
        reports=args.reports,
        workers=args.workers,
        address=args.address,
        search_seed=args.search_seed,
    )
    print(format_summary(summary))
    print(f"results: {Path(args.out).resolve()} (tune.json, trials/)")
    return 0 if summary["chosen"] is not None else 1


def cmd_plot(args: argparse.Namespace) -> int:
    """Plot every record in a results folder."""
    from recbandit.evaluation import load_records, plot_cold, plot_regret

    records = load_records(args.dir)
    if not records:
        raise ValueError(f"no result records in {args.dir}")
    out = args.out or args.dir
    for path in [*plot_regret(records, out, log_scale=args.log), *plot_cold(records, out, log_scale=args.log)]:
        print(f"plot: {path}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Print the summary table of a results folder."""
    from recbandit.evaluation import load_records, summary_table

    records = load_records(args.dir)
    if not records:
        raise ValueError(f"no result records in {args.dir}")
    print(summary_table(records))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """List registered envs, encoders (for ``--env-arg encoder=SPEC``) and agents with their hyper-parameters."""
    from recbandit.agents import AGENTS
    from recbandit.encoders.registry import ENCODERS
    from recbandit.envs import ENVS

    print("envs:")
    for env_id in ENVS:
        print(f"  {env_id}")
    print("encoders (--env-arg encoder=SPEC):")
    for entry in ENCODERS.values():
        spec, _, what = entry.summary.partition("  ")
        print(f"  {spec:40s} {what.strip()}")
    print("agents:")
    for name, cls in AGENTS.items():
        fields = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(cls.Config))
        print(f"  {name:16s} {fields}")
    return 0


def _date(ts: float) -> str:
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):  # loaders refuse such times; never fail on printing one
        return f"{ts:.10g} s"


def _names(names: Sequence[str], limit: int = 12) -> str:
    """Feature columns for ``data info``: ``"24: age, gender (one-hot, 2), occupation (one-hot, 21)"``.

    Consecutive one-hot columns ``key=value`` are shown as their key; past ``limit``
    groups, the first ones and how many more.
    """
    groups: list[list[Any]] = []  # [key, count, one-hot?]
    for name in names:
        key, eq, _ = name.partition("=")
        if eq and groups and groups[-1][0] == key and groups[-1][2]:
            groups[-1][1] += 1
        else:
            groups.append([key if eq else name, 1, bool(eq)])
    shown = [f"{k} (one-hot, {n})" if hot else k for k, n, hot in groups[:limit]]
    more = f", ... ({len(groups) - limit} more)" if len(groups) > limit else ""
    return f"{len(names)}: {', '.join(shown)}{more}"


def cmd_data_info(args: argparse.Namespace) -> int:
    """Detect a log folder's format, load it and print its summary."""
    from recbandit.data.detect import load

    try:
        data = load(args.path)
    except OSError as exc:
        raise ValueError(f"{args.path}: {exc.strerror or exc}") from None
    info = data.summary()
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    inter = data.interactions
    rows = [
        ("name", info["name"]),
        ("format", info.get("format", "?")),
        ("source", info["source"]),
        ("interactions", f"{info['interactions']:,}"),
        (
            "users",
            f"{info['users']:,} ({info['users_with_interactions']:,} with interactions)"
            + (", with profile text" if data.users.text is not None and any(data.users.text) else ""),
        ),
        (
            "items",
            f"{info['items']:,} ({info['items_with_interactions']:,} "
            + ("rated)" if info["reward_kind"] == "rating" else "with interactions)"),
        ),
        ("user features", _names(info["user_features"]) if info["user_features"] else "none"),
        ("item features", _names(info["item_features"]) if info["item_features"] else "none"),
    ]
    if info["time_span"]:
        lo, hi = info["time_span"]
        rows.append(("time span", f"{_date(lo)} .. {_date(hi)} UTC ({(hi - lo) / 86400:.1f} days)"))
    kind = info["reward_kind"]
    if kind == "rating" and info["rating_threshold"] is not None:
        kind += f" (a like is a rating >= {info['rating_threshold']:g})"
    rows.append(("reward", kind))
    dist = info["reward_distribution"]
    if "mean" in dist:
        rows.append(("", f"mean {dist['mean']:.4g}, min {dist['min']:g}, max {dist['max']:g}"))
    else:
        n = max(info["interactions"], 1)
        rows.append(("", "  ".join(f"{k}: {v:,} ({100 * v / n:.1f}%)" for k, v in dist.items())))
    if inter.propensity is not None:
        p = inter.propensity
        rows.append(("propensities", f"yes (min {p.min():.3g}, max {p.max():.3g})"))
    else:
        rows.append(("propensities", "no"))
    rows.append(("positions", "no" if inter.position is None else f"yes ({len(set(inter.position.tolist()))} slots)"))
    if info["context_dim"]:
        names = info.get("context_names")
        rows.append(("context", _names(names) if names else f"{info['context_dim']} features"))
    if isinstance(info.get("rows"), dict):
        rows.append(("rows read", ", ".join(f"{k} {v:,}" for k, v in info["rows"].items())))
    for key, value in rows:
        print(f"{key:13s} {value}")
    return 0


def cmd_data_fit(args: argparse.Namespace) -> int:
    """Fit the ground truth of a log folder (as ``recbandit/Logged-v0`` does) and print its fidelity report."""
    from recbandit.envs.fidelity import format_report
    from recbandit.envs.logged import logged_problem

    kwargs: dict[str, Any] = {"model": args.model}
    for key in ("protocol", "holdout", "neg_ratio", "like_threshold"):
        value = getattr(args, key)
        if value is not None:
            kwargs[key] = value
    try:
        _, _, report = logged_problem(args.path, **kwargs)
    except OSError as exc:
        raise ValueError(f"{args.path}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(report, indent=1, default=float))
        return 0
    print(format_report(report))
    print(f"like rule: {report.get('like_rule', '?')}")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    """Download, verify and unpack a public dataset."""
    from recbandit.data.fetch import DATASETS, default_dir, fetch

    if args.name not in DATASETS:
        raise ValueError(f"unknown dataset {args.name!r}; known datasets: {', '.join(DATASETS)}")
    root = Path(args.dir).expanduser() if args.dir else default_dir()
    target = root / args.name
    if target.exists() and not args.force:
        print(f"{args.name} is already in {target} (--force downloads it again)")
        return 0
    last = [-1]

    def progress(got: int, total: int | None) -> None:
        if args.quiet or not total:
            return
        step = int(20 * got / total)
        if step != last[0]:
            last[0] = step
            print(f"\r{args.name}: {got / 1e6:,.1f} of {total / 1e6:,.1f} MB", end="", file=sys.stderr, flush=True)

    print(f"fetching {args.name} from {DATASETS[args.name].url}", file=sys.stderr)
    try:
        path = fetch(args.name, root, sha256=args.sha256, force=args.force, progress=progress)
    except KeyboardInterrupt:
        print(f"\nrecbandit data fetch: interrupted; nothing was installed in {root}", file=sys.stderr)
        return 130
    except OSError as exc:
        raise ValueError(f"{root}: {exc.strerror or exc}") from None
    finally:
        if last[0] >= 0:
            print(file=sys.stderr)
    print(f"{args.name}: checksum verified, installed in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``recbandit`` command."""
    parser = argparse.ArgumentParser(prog="recbandit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run agents x seeds on an env and write one result file per run")
    run.add_argument("--env", default="recbandit/Synthetic-v0", help="registered env id")
    run.add_argument(
        "--agents", required=True, help="comma-separated agent names, each optionally NAME:KEY=VALUE:KEY=VALUE"
    )
    run.add_argument("--seeds", type=int, default=3, help="number of seeds (first-seed, first-seed+1, ...)")
    run.add_argument("--first-seed", type=int, default=0, help="first seed (>= 0)")
    run.add_argument("--horizon", type=int, default=20_000, help="decisions per run")
    run.add_argument("--batch-size", type=int, default=1, help="users per step; 1 = online updates")
    run.add_argument("--out", required=True, help="results folder (rerunning into it resumes)")
    run.add_argument(
        "--env-arg",
        action="append",
        default=[],
        help="env argument KEY=VALUE (repeatable); encoder=SPEC picks the contexts' encoder "
        "(bow, bow:512, minilm, ORG/NAME, a model folder; see `recbandit list`)",
    )
    run.add_argument("--agent-arg", action="append", default=[], help="agent argument AGENT.KEY=VALUE (repeatable)")
    run.add_argument(
        "--workers", type=int, default=1, help="local worker processes (--backend ray: CPUs of the local Ray)"
    )
    run.add_argument(
        "--backend", default="local", choices=("local", "ray"), help="local processes, or one Ray task per run"
    )
    run.add_argument(
        "--address",
        default=None,
        help="--backend ray: join a running cluster (auto = the one `ray start` began here, or HOST:PORT); "
        "default: start a local Ray for this sweep",
    )
    run.add_argument("--benchmark", default="run", help="name recorded in every result")
    run.add_argument("--save-logs", action="store_true", help="also save per-decision logs (npz) for OPE")
    run.add_argument("--no-plot", action="store_true", help="skip the regret plot")
    run.add_argument("--no-table", action="store_true", help="skip the summary table (`recbandit summary` prints it)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)

    tune = sub.add_parser(
        "tune", help="search an agent's hyper-parameters on Ray Tune (random search, ASHA early stopping)"
    )
    tune.add_argument("--env", default="recbandit/Synthetic-v0", help="registered env id")
    tune.add_argument("--agent", required=True, help="registered agent name")
    tune.add_argument(
        "--space",
        required=True,
        help="NAME=log(LOW,HIGH), NAME=uniform(LOW,HIGH) or NAME=A|B|C, comma-separated; names are the "
        "agent's parameters (`recbandit list`)",
    )
    tune.add_argument("--trials", type=int, default=20, help="settings sampled")
    tune.add_argument("--seeds", type=int, default=2, help="tuning seeds per setting")
    tune.add_argument(
        "--first-seed", type=int, default=1000, help="first tuning seed (>= 1000; benchmarks use the seeds below)"
    )
    tune.add_argument("--horizon", type=int, default=20_000, help="decisions per run")
    tune.add_argument("--batch-size", type=int, default=1, help="users per step; 1 = online updates")
    tune.add_argument(
        "--metric", default="regret", choices=("regret", "return"), help="regret per decision or return per session"
    )
    tune.add_argument("--reports", type=int, default=4, help="learning-curve reports during the first seed (ASHA)")
    tune.add_argument("--env-arg", action="append", default=[], help="env argument KEY=VALUE (repeatable)")
    tune.add_argument("--agent-arg", action="append", default=[], help="fixed agent argument KEY=VALUE (repeatable)")
    tune.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray (concurrent trials)")
    tune.add_argument("--address", default=None, help="join a running Ray cluster (auto or HOST:PORT)")
    tune.add_argument("--search-seed", type=int, default=0, help="seed of the random search")
    tune.add_argument("--out", required=True, help="results folder (tune.json and trials/)")
    tune.set_defaults(func=cmd_tune)

    plot = sub.add_parser("plot", help="plot cumulative regret (and cold-start curves) from a results folder")
    plot.add_argument("dir", help="results folder")
    plot.add_argument("--out", default=None, help="where to write the PNGs (default: the results folder)")
    plot.add_argument("--log", action="store_true", help="log-log axes")
    plot.set_defaults(func=cmd_plot)

    summary = sub.add_parser("summary", help="print the summary table of a results folder")
    summary.add_argument("dir", help="results folder")
    summary.set_defaults(func=cmd_summary)

    lst = sub.add_parser("list", help="list registered envs and agents")
    lst.set_defaults(func=cmd_list)

    data = sub.add_parser("data", help="inspect log folders and fetch public datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    info = data_sub.add_parser("info", help="detect a log folder's format, load it and print a summary")
    info.add_argument("path", help="dataset folder, or a fetched dataset's name (e.g. movielens-100k)")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=cmd_data_info)
    fit = data_sub.add_parser(
        "fit", help="fit a log folder's ground truth (as recbandit/Logged-v0) and print its fidelity report"
    )
    fit.add_argument("path", help="log folder (plain format, MovieLens, OBD) or a fetched dataset's name")
    fit.add_argument(
        "--model", default="auto", help="auto (best on validation), mf, two-tower or logistic-mf (default: auto)"
    )
    fit.add_argument(
        "--protocol", default=None, help="per-user (each user's last share held out; default) or global (by time)"
    )
    fit.add_argument("--holdout", type=float, default=None, help="share held out for the report (default 0.2)")
    fit.add_argument(
        "--neg-ratio", type=int, default=None, help="sampled unrated items per rated row (default 4; OBD 0)"
    )
    fit.add_argument("--like-threshold", type=float, default=None, help="a graded reward at or above this is a like")
    fit.add_argument("--json", action="store_true", help="print the whole report as JSON")
    fit.set_defaults(func=cmd_data_fit)
    fetch = data_sub.add_parser(
        "fetch", help="download a public dataset from its publisher, verify its SHA-256 and unpack it"
    )
    fetch.add_argument("name", help="movielens-100k, movielens-latest-small, movielens-25m or obd-sample")
    fetch.add_argument(
        "--dir", default=None, help="install into DIR/NAME (default: $RECBANDIT_DATA, else ~/.cache/recbandit)"
    )
    fetch.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (replaces the pinned one)")
    fetch.add_argument("--force", action="store_true", help="download again and replace an existing copy")
    fetch.add_argument("--quiet", action="store_true", help="no progress output")
    fetch.set_defaults(func=cmd_data_fetch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input exits with status 2 and a one-line message, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with _ctrl_c_stops_sweeps():
        return _dispatch(args)


@contextlib.contextmanager
def _ctrl_c_stops_sweeps() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt as usual and also sets ``sweep.INTERRUPTED``.

    The flag survives a KeyboardInterrupt that a library swallowed, so the sweep still stops
    after the step in progress. Only installed over Python's default handler, in the main thread.
    """
    from recbandit.evaluation.sweep import INTERRUPTED

    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        INTERRUPTED.set()
        raise KeyboardInterrupt

    INTERRUPTED.clear()
    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the subcommand; map bad input, memory and Ctrl-C to one line and an exit status."""
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"recbandit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # past the up-front check (e.g. memory taken meanwhile)
        message = f"out of memory ({exc}); a smaller --horizon needs less"
        print(f"recbandit {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"recbandit {args.command}: interrupted; finished runs are saved, rerun the same command to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
