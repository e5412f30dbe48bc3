"""Running agents on envs: runner, sweeps, metrics, result files, tables and plots."""

from recbandit.evaluation.replay import ReplayResult, replay_arrays, replay_log
from recbandit.evaluation.report import plot_cold, plot_regret, summary_rows, summary_table
from recbandit.evaluation.results import load_records
from recbandit.evaluation.runner import RunSpec, execute, run
from recbandit.evaluation.sweep import make_specs, run_sweep

__all__ = [
    "ReplayResult",
    "RunSpec",
    "execute",
    "load_records",
    "make_specs",
    "plot_cold",
    "plot_regret",
    "replay_arrays",
    "replay_log",
    "run",
    "run_sweep",
    "summary_rows",
    "summary_table",
]
