"""Result records: one JSON file per (benchmark, env, agent, seed), written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import socket
import sys
import warnings
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._io import atomic_write_bytes

SCHEMA_VERSION = 1
REQUIRED_FIELDS = (
    "env",
    "agent",
    "agent_params",
    "seed",
    "horizon",
    "cumulative_regret",
    "mean_reward",
    "decisions_per_s",
    "curve",
    "cost",
    "versions",
)


#: Record fields that measure the machine or say where the run ran (back end, node); every other
#: field is reproducible from the run's spec, whichever back end or machine ran it.
WHERE_FIELDS = frozenset({"decisions_per_s", "agent_decisions_per_s", "cost", "created", "machine", "backend", "node"})


def spec_key(spec: dict[str, Any]) -> str:
    """Stable 12-hex digest of a run's configuration (what makes two runs the same run)."""
    blob = json.dumps(spec, sort_keys=True, default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def record_filename(benchmark: str, env: str, agent: str, seed: int, key: str) -> str:
    """File name of a run's record: readable parts plus the configuration digest."""

    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")

    return f"{slug(benchmark)}__{slug(env)}__{slug(agent)}__seed{seed}__{key}.json"


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write one result record atomically as indented JSON."""
    atomic_write_bytes(path, (json.dumps(record, indent=1, default=_jsonable) + "\n").encode())


def read_record(path: Path) -> dict[str, Any] | None:
    """Load a record, or return None (with a warning naming the file) if it is unreadable."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path}: unreadable result record ({exc}); it will be recomputed", stacklevel=2)
        return None
    if not isinstance(record, dict):
        warnings.warn(f"{path}: result record is not a JSON object; it will be recomputed", stacklevel=2)
        return None
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        warnings.warn(f"{path}: result record lacks {missing}; it will be recomputed", stacklevel=2)
        return None
    return record


def load_records(folder: Path | str, pattern: str = "*.json") -> list[dict[str, Any]]:
    """All readable records in ``folder`` (sorted by file name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"results folder {folder} does not exist")
    out = []
    for path in sorted(folder.glob(pattern)):
        record = read_record(path)
        if record is not None:
            out.append(record)
    return out


def versions(packages: Iterable[str] = ("recbandit", "numpy", "gymnasium", "torch")) -> dict[str, str]:
    """Installed versions of the packages that shape a result, plus Python's and the machine's."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    """What the run ran on: processor, core count, OS."""
    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
    }


def node_info() -> dict[str, Any]:
    """Where the calling process runs: Ray node id (None outside Ray), host name, IP and pid."""
    node_id = ip = None
    # Only a process where Ray is already imported can be a Ray worker: a local sweep never
    # imports Ray (a seconds-long import, during which a Ctrl-C could be swallowed).
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        node_id = ray.get_runtime_context().get_node_id()
        ip = ray.util.get_node_ip_address()
    return {"id": node_id, "hostname": socket.gethostname(), "ip": ip, "pid": os.getpid()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a result record")
