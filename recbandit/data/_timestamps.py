"""One rule for Unix-second timestamps in every loader that reads them.

Logs are written in Unix seconds, but exports often hold milliseconds (JavaScript,
Java, Kafka), microseconds or nanoseconds. Read as seconds, those land thousands of
years ahead (964982703000 s is in the year 32549), and nothing downstream notices: time
splits, first appearances and the simulated schedule all go wrong silently. The rule:

- a Unix-seconds value must be before 2100-01-01 00:00 UTC (:data:`LATEST`) and above
  -1e11 (about the year -1200; dates before 1970 are negative seconds, which item
  release dates may be);
- a value of 1e11 or more in magnitude is taken for a finer unit and the message says
  which and what to divide by: 1e11 milliseconds is 1973-03-03, so from there on a value
  is far likelier milliseconds than seconds of the year 5138; likewise 1e14 for
  microseconds and 1e17 for nanoseconds.

A loader may ask for more (MovieLens timestamps must also be >= 0); this module only
draws the upper line, and the lower one that the same unit mistake crosses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from recbandit.data._csv import RowChecks

#: 2100-01-01 00:00 UTC in Unix seconds: a Unix-seconds value must be earlier.
LATEST = 4_102_444_800
#: Values this large in magnitude (or larger) are read as a finer unit than seconds.
FINER = 100_000_000_000
#: (smallest magnitude, unit, units per second), the finest unit first.
_UNITS = ((10**17, "nanoseconds", 10**9), (10**14, "microseconds", 10**6), (FINER, "milliseconds", 1000))
_YEAR_1 = -62_135_596_800  # 0001-01-01 00:00 UTC
_YEAR_10000 = 253_402_300_800  # 10000-01-01 00:00 UTC


def flag_unix_seconds(
    seconds: np.ndarray, checks: RowChecks, column: str, shown: Callable[[int], str] | None = None
) -> None:
    """Flag on ``checks`` the first value of ``seconds`` that cannot be Unix seconds.

    Args:
        seconds: float64[N] or int64[N] values read as Unix seconds (NaN is skipped:
            a missing value is the caller's to report).
        checks: where the problem is reported (file, line and ``column``).
        column: the column name, for the message.
        shown: ``shown(row)`` is the value as written in the file (default: the number).
    """
    # Two reductions settle the common case without a temporary mask (25M rows: 75 MB of bools);
    # a NaN makes them inconclusive, and the masks below skip it.
    if seconds.size == 0 or (seconds.max() < LATEST and seconds.min() > -FINER):
        return
    with np.errstate(invalid="ignore"):
        bad = (seconds >= LATEST) | (seconds <= -FINER)
    checks.flag(bad, column, lambda r: not_unix_seconds(column, seconds[r], None if shown is None else shown(r)))


def not_unix_seconds(column: str, value: float, shown: str | None = None) -> str:
    """The message for a ``column`` value that is not Unix seconds, with the unit it looks like."""
    v = float(value)
    text = shown if shown is not None else (str(int(v)) if v.is_integer() else f"{v:.10g}")
    year = _year(v)
    for smallest, unit, per_second in _UNITS:
        if abs(v) >= smallest:
            when = _utc(v / per_second)
            return (
                f"{column} {text} is too {'large' if v > 0 else 'small'} for Unix seconds (it would be "
                f"{year}); it looks like {unit}{f' ({when} UTC)' if when else ''}: divide by {per_second}"
            )
    return f"{column} {text} is after 2100-01-01 00:00 UTC ({year}): not a plausible time for a log"


def _year(seconds: float) -> str:
    """The year of ``seconds`` ("the year 2275"); "after the year 9999" / "before the year 1" outside."""
    if seconds >= _YEAR_10000:
        return "after the year 9999"
    if seconds < _YEAR_1:
        return "before the year 1"
    return f"the year {(dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)).year}"


def _utc(seconds: float) -> str | None:
    """``seconds`` as "YYYY-MM-DD HH:MM:SS", or None when that is outside 1900..2100."""
    if not -2_208_988_800 <= seconds < LATEST:
        return None
    return (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
