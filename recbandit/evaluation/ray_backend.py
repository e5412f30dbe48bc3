"""The Ray back end of sweeps: one Ray task per run, records written by the driver.

A task runs one ``RunSpec`` through ``execute`` on whichever node Ray places it, and
returns the record (plus the compressed per-decision log when asked); the driver (the
process that called ``run_sweep``) writes them into the output folder. No file system is
shared between the driver and the nodes: a sweep on a remote cluster writes into the
user's local folder. Every node needs recbandit (the same version) and the data its envs
read.

Ray itself is optional (``pip install recbandit[ray]``); this module imports it only when
a Ray sweep starts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbandit._io import atomic_write_bytes
from recbandit.evaluation.results import write_record
from recbandit.evaluation.runner import RunSpec, execute

#: Ray's retries of a task whose worker process or node died (not of a run that raised).
MAX_RETRIES = 2
#: Object store of a local Ray started by a sweep: records are small (bytes, not arrays).
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class RunFailure:
    """A run that raised (or whose worker died past its retries): its spec and the error."""

    spec: RunSpec
    error: str

    def describe(self) -> str:
        """``"linucb-shared seed 3 (file ...json): ValueError: ..."``."""
        return f"{self.spec.name} seed {self.spec.seed} ({self.spec.filename}): {self.error}"


def import_ray() -> Any:
    """The ``ray`` module, or an ``ImportError`` that says how to install it."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover (ray is installed where the tests run)
        raise ImportError("the Ray back end needs Ray: pip install 'recbandit[ray]'") from exc
    return ray


@contextmanager
def ray_cluster(address: str | None, num_cpus: int) -> Iterator[Any]:
    """Connect to a Ray cluster for the duration of the block, and leave it as found.

    Args:
        address: None starts a new local Ray (``num_cpus`` CPUs, no dashboard) that is shut
            down at the end of the block; ``"auto"`` joins the cluster started on this
            machine with ``ray start``; ``"HOST:PORT"`` (or ``"ray://HOST:PORT"``) joins
            that cluster. The driver only disconnects from a cluster it did not start.
            A driver already connected (``ray.is_initialized()``) keeps its connection.
        num_cpus: CPUs of the local Ray started when ``address`` is None.

    Yields:
        The ``ray`` module.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address is None:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            log_to_driver=False,
        )
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def run_resources(spec: RunSpec, cluster_gpus: float = 0.0) -> dict[str, float]:
    """Ray resources of one run: a CPU, and a GPU where the run computes on CUDA.

    An agent asks for CUDA with ``device="cuda"`` (or ``"cuda:N"``); ``device="auto"``
    (CUDA when there is one) gets a GPU only on a cluster that has one, so that it runs
    where a local run would. Everything else is a CPU run (its threads capped by
    ``execute``).

    Args:
        spec: the run.
        cluster_gpus: GPUs of the cluster (``ray.cluster_resources().get("GPU", 0)``).
    """
    device = str(spec.agent_params.get("device", "")).lower()
    cuda = device.startswith("cuda") or (device == "auto" and cluster_gpus > 0)
    return {"num_cpus": 1.0, "num_gpus": 1.0 if cuda else 0.0}


def run_task(spec: RunSpec, save_log: bool, blas_threads: int | None) -> tuple[dict[str, Any], bytes | None]:
    """The body of a Ray task: run ``spec``; return its record (with backend and node) and log.

    The log (``np.savez_compressed`` bytes, as ``execute`` stores it) goes through a
    temporary folder of the worker; nothing else is written on the node.
    """
    log = None
    with tempfile.TemporaryDirectory(prefix="recbandit-") as tmp:
        record = execute(
            spec, Path(tmp) if save_log else None, save_log=save_log, blas_threads=blas_threads, backend="ray"
        )
        if save_log:
            log = (Path(tmp) / "logs" / spec.filename.replace(".json", ".npz")).read_bytes()
    return record, log


def store(out: Path, spec: RunSpec, record: dict[str, Any], log: bytes | None) -> None:
    """Write a returned run into ``out`` atomically: the log first, then the record."""
    if log is not None:
        atomic_write_bytes(out / "logs" / spec.filename.replace(".json", ".npz"), log)
    write_record(out / spec.filename, record)


def _error_text(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)  # RayTaskError: the run's own exception
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def ray_sweep(
    todo: Sequence[tuple[int, RunSpec]],
    out: Path,
    *,
    address: str | None,
    num_cpus: int,
    save_logs: bool,
    blas_threads: int | None,
    on_done: Callable[[], None],
) -> tuple[dict[int, dict[str, Any]], list[RunFailure]]:
    """Run ``todo`` as Ray tasks; write each record as it comes back.

    Args:
        todo: (position in the sweep, spec) of the runs to do.
        out: results folder (exists).
        address: see ``ray_cluster``.
        num_cpus: CPUs of a local Ray started here.
        save_logs: also return and store each run's per-decision log.
        blas_threads: BLAS threads per run (see ``execute``).
        on_done: called after each run that ended (finished or failed).

    Returns:
        The records by position, and the runs that failed. A run whose worker died is
        retried by Ray (``MAX_RETRIES``); on Ctrl-C the runs that ended are stored, the
        others cancelled, and ``KeyboardInterrupt`` propagates.
    """
    records: dict[int, dict[str, Any]] = {}
    failures: list[RunFailure] = []
    with ray_cluster(address, num_cpus) as ray:
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(run_task)
        pending: dict[Any, tuple[int, RunSpec]] = {}
        for i, spec in todo:
            need = run_resources(spec, gpus)
            if need["num_gpus"] > gpus:  # Ray would hold it pending forever
                failures.append(RunFailure(spec, f"the run asks for a GPU (device=cuda) and the cluster has {gpus:g}"))
                on_done()
                continue
            ref = task.options(**need).remote(spec, save_logs, blas_threads)
            pending[ref] = (i, spec)

        def collect(refs: list[Any]) -> None:
            for ref in refs:
                # Leaves ``pending`` once stored: a Ctrl-C while it is fetched or written
                # leaves it there, and the handler below collects it again.
                i, spec = pending[ref]
                try:
                    record, log = ray.get(ref)
                except Exception as exc:  # the run raised, or its worker died past the retries
                    failures.append(RunFailure(spec, _error_text(exc)))
                else:
                    store(out, spec, record, log)
                    records[i] = record
                del pending[ref]
                on_done()

        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                collect(ready)
        except BaseException:  # Ctrl-C: keep what has ended, stop the rest
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            collect(ready)
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    return records, failures
