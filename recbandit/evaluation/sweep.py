"""Sweeps: many runs, resumable, on local worker processes.

Each finished run is written atomically the moment it ends; rerunning a sweep into the
same folder skips every run whose record is already there, so an interrupted sweep (Ctrl-C,
a killed machine) loses only the runs that were in flight.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from recbandit._validation import check_int
from recbandit.evaluation.runlog import check_memory
from recbandit.evaluation.runner import RunSpec, build_envs, execute, finished, validate_specs


def make_specs(
    env: str,
    agents: Sequence[str | tuple[str, dict[str, Any]]],
    seeds: Sequence[int],
    horizon: int,
    batch_size: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    benchmark: str = "run",
) -> list[RunSpec]:
    """The cross product env x agents x seeds; an agent is a name or (name, params)."""
    specs = []
    for entry in agents:
        name, params = (entry, {}) if isinstance(entry, str) else entry
        for seed in seeds:
            specs.append(
                RunSpec(
                    env=env,
                    agent=name,
                    seed=seed,
                    horizon=horizon,
                    batch_size=batch_size,
                    env_kwargs=dict(env_kwargs or {}),
                    agent_params=dict(params),
                    benchmark=benchmark,
                )
            )
    return specs


def run_sweep(
    specs: Sequence[RunSpec],
    out_dir: Path | str,
    workers: int = 1,
    show_progress: bool = True,
    save_logs: bool = False,
    blas_threads: int | None = 1,
) -> list[dict[str, Any]]:
    """Run every spec not already finished in ``out_dir``; return all their records.

    Args:
        specs: the runs. All are validated before any run starts, and so is the memory
            of the runs still to do; their envs are built then, once per distinct env (in
            this process; each worker process builds those it runs once).
        out_dir: results folder; created if absent.
        workers: local worker processes (1 = in this process, with a per-step bar).
        show_progress: draw progress bars (rich; quiet when not a terminal).
        save_logs: also store each run's per-decision log (``logs/*.npz``) for off-policy use.
        blas_threads: BLAS threads per run (see ``execute``); None = library default.

    Returns:
        Records in the order of ``specs``.
    """
    workers = check_int("workers", workers, min_value=1)
    validate_specs(specs)
    out = Path(out_dir)
    records: dict[int, dict[str, Any]] = {}
    todo = []
    for i, spec in enumerate(specs):
        done = finished(spec, out)
        if done is None:
            todo.append(i)
        else:
            records[i] = done
    if todo:  # what is left to run must fit in memory, and its envs must build
        concurrent = min(workers, len(todo))
        longest = max((specs[i] for i in todo), key=lambda s: s.horizon)
        check_memory(longest.horizon, longest.batch_size, save_log=save_logs, concurrent=concurrent)
    # The envs still needed, built once each, so that their errors surface before any run;
    # runs in this process reuse them, worker processes build their own.
    envs = build_envs([specs[i] for i in todo])
    out.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not show_progress, transient=False) as bar:
        runs = bar.add_task(f"runs ({len(records)} already done)", total=len(specs), completed=len(records))
        if workers == 1:
            for i in todo:
                spec = specs[i]
                step = bar.add_task(f"  {spec.name} seed {spec.seed}", total=spec.horizon)

                def advance(n: int, task: TaskID = step) -> None:
                    bar.update(task, completed=n)

                records[i] = execute(
                    spec,
                    out,
                    progress=advance,
                    save_log=save_logs,
                    blas_threads=blas_threads,
                    env=envs[spec.env_key],
                )
                bar.remove_task(step)
                bar.advance(runs)
        else:
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                pending: dict[Future, int] = {
                    pool.submit(execute, specs[i], out, None, save_logs, blas_threads): i for i in todo
                }
                try:
                    while pending:
                        done_set, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done_set:
                            records[pending.pop(fut)] = fut.result()
                            bar.advance(runs)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    return [records[i] for i in range(len(specs))]
