"""The per-decision log of a run, how it is filled step by step, and the memory it takes.

A run keeps one row per decision (``RunLog``, 78 bytes a decision) because its summary
(novelty, per-session returns, the curve at checkpoints, the cold-start metrics) and the
optional ``--save-logs`` file need every decision. ``check_memory`` turns a horizon that cannot fit into a
``ValueError`` naming ``horizon`` and the largest that fits, before anything is allocated.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from recbandit.types import COLD, EXPECTED_REWARD, INFO_ITEM_IDS, OPTIMAL_REWARD, REGRET, REWARDS, SESSION_IDS, USER_IDS

#: dtype of each ``RunLog`` array (field name -> dtype).
LOG_DTYPES: dict[str, np.dtype] = {
    "regret": np.dtype(np.float64),
    "rewards": np.dtype(np.float64),
    "expected": np.dtype(np.float64),
    "optimal": np.dtype(np.float64),
    "propensities": np.dtype(np.float64),
    "actions": np.dtype(np.int64),
    "items": np.dtype(np.int64),
    "users": np.dtype(np.int64),
    "cold": np.dtype(bool),
    "cold_offered": np.dtype(np.float32),
    "sessions": np.dtype(np.int64),
    "ends": np.dtype(bool),
}
#: Bytes of ``RunLog`` per decision.
LOG_BYTES = sum(dtype.itemsize for dtype in LOG_DTYPES.values())
#: Upper bound of the summary's temporaries per decision (``summary.summarise``: the
#: largest are ``np.unique(..., return_inverse=True)`` over sessions or users, the
#: novelty keys and the cold metrics' sort of new items' decisions, about 40 bytes);
#: ``tests/test_runner.py`` checks it against tracemalloc's peak.
SUMMARY_BYTES = 64
#: Fixed allowance for everything that does not grow with the horizon (env, agent, numpy).
FIXED_BYTES = 256 * 2**20


@dataclass
class RunLog:
    """Per-decision arrays of one run (each of length ``horizon``).

    ``cold`` marks the decisions whose chosen item was a cold candidate, ``cold_offered``
    is the share of the decision's candidates that were cold (``info["cold"]``),
    ``sessions`` is the session id of each decision (-1 for envs without sessions) and
    ``ends`` marks the decisions after which the user's episode (session) ended.
    """

    regret: np.ndarray
    rewards: np.ndarray
    expected: np.ndarray
    optimal: np.ndarray
    propensities: np.ndarray
    actions: np.ndarray
    items: np.ndarray
    users: np.ndarray
    cold: np.ndarray
    cold_offered: np.ndarray
    sessions: np.ndarray
    ends: np.ndarray

    @classmethod
    def empty(cls, horizon: int) -> RunLog:
        """A log of ``horizon`` decisions, zeros (sessions -1) until recorded."""
        arrays = {name: np.zeros(horizon, dtype) for name, dtype in LOG_DTYPES.items()}
        arrays["sessions"].fill(-1)
        return cls(**arrays)

    def arrays(self) -> dict[str, np.ndarray]:
        """Field name -> array, without copying (``dataclasses.asdict`` would copy each one)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def record(
        self,
        start: int,
        actions: np.ndarray,
        propensities: np.ndarray,
        info: dict[str, Any],
        ended: np.ndarray,
    ) -> None:
        """Store the B decisions of one step at rows ``start .. start + B - 1``.

        Args:
            start: row of the step's first decision.
            actions: int64[B] chosen candidate positions.
            propensities: float64[B] the agent's probability of each choice.
            info: the step's info (leading dimension B; ``recbandit.types`` keys).
            ended: bool[B], the user's episode ended with this decision (session envs).
        """
        b = len(actions)
        if b == 1:  # online: scalar stores, no slices or fancy indexing (a few us a decision)
            return self._record_one(start, int(actions[0]), propensities, info, ended)
        sl, rows = slice(start, start + b), np.arange(b)
        self.regret[sl] = info[REGRET]
        self.rewards[sl] = info[REWARDS]
        self.expected[sl] = info[EXPECTED_REWARD]
        self.optimal[sl] = info[OPTIMAL_REWARD]
        self.propensities[sl] = propensities
        self.actions[sl] = actions
        self.items[sl] = info[INFO_ITEM_IDS][rows, actions]
        self.users[sl] = info[USER_IDS]
        cold = np.asarray(info[COLD], bool)
        self.cold[sl] = cold[rows, actions]
        self.cold_offered[sl] = cold.mean(axis=1)
        if SESSION_IDS in info:
            self.sessions[sl] = info[SESSION_IDS]
            self.ends[sl] = ended

    def _record_one(self, i: int, a: int, propensities: np.ndarray, info: dict[str, Any], ended: np.ndarray) -> None:
        """``record`` of one decision (row ``i``, chosen position ``a``); the same values, stored one by one."""
        self.regret[i] = info[REGRET][0]
        self.rewards[i] = info[REWARDS][0]
        self.expected[i] = info[EXPECTED_REWARD][0]
        self.optimal[i] = info[OPTIMAL_REWARD][0]
        self.propensities[i] = propensities[0]
        self.actions[i] = a
        self.items[i] = info[INFO_ITEM_IDS][0, a]
        self.users[i] = info[USER_IDS][0]
        cold = info[COLD][0]
        self.cold[i] = cold[a]
        self.cold_offered[i] = np.count_nonzero(cold) / len(cold)  # = cold.mean(), exactly
        if SESSION_IDS in info:
            self.sessions[i] = info[SESSION_IDS][0]
            self.ends[i] = ended[0]


def run_bytes(horizon: int, save_log: bool = False) -> int:
    """Estimated peak memory (bytes) of one run of ``horizon`` decisions.

    The log, the summary's temporaries and a fixed allowance; with ``save_log`` also the
    compressed log (at most about the log's size; ``BytesIO.getvalue`` shares it).
    The agent's own memory (matrices, networks, replay buffers) is not counted.
    """
    per_decision = LOG_BYTES + SUMMARY_BYTES + (LOG_BYTES if save_log else 0)
    return FIXED_BYTES + horizon * per_decision


def available_bytes() -> int | None:
    """Memory this process can still take: Linux ``MemAvailable``, capped by a cgroup limit.

    None where it cannot be read (not Linux): then only horizons beyond the address space
    are refused up front.
    """
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    avail = None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            avail = int(line.split()[1]) * 1024
    if avail is None:
        return None
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        try:
            limit, usage = Path(limit_file).read_text().strip(), Path(usage_file).read_text().strip()
        except OSError:
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            avail = min(avail, max(int(limit) - int(usage), 0))
        break
    return avail


def check_memory(horizon: int, batch_size: int = 1, save_log: bool = False, concurrent: int = 1) -> None:
    """Raise ``ValueError`` naming ``horizon`` and the largest that fits if a run cannot fit in memory.

    Args:
        horizon: the run's decisions.
        batch_size: users per step (the largest horizon given is a multiple of it).
        save_log: the run also writes its log (``--save-logs``).
        concurrent: runs in memory at the same time (sweep workers).
    """
    avail = available_bytes()
    if avail is None:  # not Linux: at least refuse what no address space holds
        avail = sys.maxsize
    need = concurrent * run_bytes(horizon, save_log)
    if need <= avail:
        return
    per_decision = run_bytes(1, save_log) - FIXED_BYTES
    room = avail // concurrent - FIXED_BYTES
    largest = max(room // per_decision // batch_size * batch_size, 0)
    who = "a run" if concurrent == 1 else f"each of {concurrent} concurrent runs"
    raise ValueError(
        f"horizon {horizon} does not fit in memory: {who} keeps {per_decision} bytes per decision "
        f"({_gb(need)} in all) and {_gb(avail)} is available; the largest horizon that fits is {largest}"
    )


def _gb(n: int) -> str:
    return f"{n / 1e9:.3g} GB"
