"""Sweeps: many runs, resumable, on local worker processes or on a Ray cluster.

Each finished run is written atomically the moment it ends; rerunning a sweep into the
same folder skips every run whose record is already there, so an interrupted sweep (Ctrl-C,
a killed machine) loses only the runs that were in flight. A run that fails is reported
with its spec and error once the others have ended (``SweepError``); it does not stop them
(a ``MemoryError`` on this machine does: the next runs would meet it too).
Records are the same whichever back end ran them, but for the timings and the two fields
that say where they ran: ``backend`` (``"local"`` or ``"ray"``) and ``node``
(``results.node_info``).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from recbandit._validation import check_choice, check_int
from recbandit.evaluation.ray_backend import RunFailure
from recbandit.evaluation.runlog import check_memory
from recbandit.evaluation.runner import RunSpec, build_envs, execute, finished, validate_specs

#: Set by a SIGINT handler (``recbandit.cli`` installs one). The sweep checks it after every
#: step of an in-process run, so a Ctrl-C whose KeyboardInterrupt a library swallowed (one
#: raised inside a finaliser is printed and ignored by Python) still stops the sweep there.
INTERRUPTED = threading.Event()

BACKENDS = ("local", "ray")


class SweepError(RuntimeError):
    """Runs of a sweep failed; every other run ended and its record was written.

    Attributes:
        failures: the failed runs (spec and error).
        records: the records of the runs that finished, by position in the sweep's specs.
    """

    def __init__(self, failures: Sequence[RunFailure], records: dict[int, dict[str, Any]], total: int) -> None:
        self.failures = list(failures)
        self.records = records
        lines = "; ".join(f.describe() for f in self.failures)
        super().__init__(f"{len(self.failures)} of {total} runs failed: {lines}")



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
    backend: str = "local",
    address: str | None = None,
) -> list[dict[str, Any]]:
    """Run every spec not already finished in ``out_dir``; return all their records.

    Args:
        specs: the runs. All are validated before any run starts, and so is the memory
            of the runs still to do; their envs are built then, once per distinct env (in
            this process; each worker process builds those it runs once).
        out_dir: results folder; created if absent.
        workers: local worker processes (1 = in this process, with a per-step bar); with
            ``backend="ray"`` and no ``address``, the CPUs of the local Ray it starts.
        show_progress: draw progress bars (rich; quiet when not a terminal).
        save_logs: also store each run's per-decision log (``logs/*.npz``) for off-policy use.
        blas_threads: BLAS threads per run (see ``execute``); None = library default.
        backend: ``"local"`` (this process or a local process pool) or ``"ray"`` (one Ray
            task per run; see ``recbandit.evaluation.ray_backend``).
        address: Ray only: None starts a local Ray with ``workers`` CPUs for this sweep and
            stops it after; ``"auto"`` joins the cluster started on this machine by
            ``ray start``; ``"HOST:PORT"`` joins that cluster. With an address, the envs are
            not built here first (the nodes build them; the data need not be on this
            machine) and the memory check is left to the nodes.

    Returns:
        Records in the order of ``specs``.

    Raises:
        ValueError: a bad spec or argument, before anything runs.
        SweepError: runs failed (after all the others ended).
        KeyboardInterrupt: Ctrl-C; every run that finished is stored, the sweep resumes.
    """
    workers = check_int("workers", workers, min_value=1)
    backend = check_choice("backend", backend, BACKENDS)
    if address is not None and backend != "ray":
        raise ValueError(f"address is for the Ray back end; got address={address!r} with backend={backend!r}")
    remote = backend == "ray" and address is not None
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
    if todo and not remote:  # what is left to run must fit in memory, and its envs must build
        concurrent = min(workers, len(todo))
        longest = max((specs[i] for i in todo), key=lambda s: s.horizon)
        check_memory(longest.horizon, longest.batch_size, save_log=save_logs, concurrent=concurrent)
    # The envs still needed, built once each, so that their errors surface before any run;
    # runs in this process reuse them, worker processes (and Ray tasks) build their own.
    envs = build_envs([specs[i] for i in todo]) if not remote else {}
    out.mkdir(parents=True, exist_ok=True)
    failures: list[RunFailure] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not show_progress, transient=False) as bar:
        runs = bar.add_task(f"runs ({len(records)} already done)", total=len(specs), completed=len(records))
        if backend == "ray" and todo:
            from recbandit.evaluation.ray_backend import ray_sweep

            finished_runs, failures = ray_sweep(
                [(i, specs[i]) for i in todo],
                out,
                address=address,
                num_cpus=workers,
                save_logs=save_logs,
                blas_threads=blas_threads,
                on_done=lambda: bar.advance(runs),
            )
            records.update(finished_runs)
        elif workers == 1:
            for i in todo:
                spec = specs[i]
                step = bar.add_task(f"  {spec.name} seed {spec.seed}", total=spec.horizon)

                def advance(n: int, task: TaskID = step) -> None:
                    bar.update(task, completed=n)
                    if INTERRUPTED.is_set():
                        raise KeyboardInterrupt

                try:
                    record = execute(
                        spec,
                        out,
                        progress=advance,
                        save_log=save_logs,
                        blas_threads=blas_threads,
                        env=envs[spec.env_key],
                    )
                except MemoryError:  # the machine, not the run: the next runs would fail too
                    raise
                except Exception as exc:  # reported with the others' results, after them
                    failures.append(RunFailure(spec, f"{type(exc).__name__}: {exc}"))
                else:
                    records[i] = record
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
                            i = pending.pop(fut)
                            try:
                                records[i] = fut.result()
                            except MemoryError:
                                raise
                            except Exception as exc:  # the run raised (or its process died)
                                failures.append(RunFailure(specs[i], f"{type(exc).__name__}: {exc}"))
                            bar.advance(runs)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    if failures:
        raise SweepError(failures, records, len(specs))
    return [records[i] for i in range(len(specs))]
