"""What a long encode call shows while it runs: a bar with texts/s, and what the cache served.

A transformer encode of thousands of texts takes minutes on a CPU (all-MiniLM-L6-v2: about
four on MovieLens' 9,742 film titles). :class:`EncodeProgress` reports one call on stderr
with rich, as ``recbandit.evaluation.sweep`` draws its bars:

* ``N of M texts from the cache`` (one line) when the embedding cache served some rows;
* a bar over the texts the model has to compute, with texts/s and the time left.

Whether it shows: ``progress=True`` / ``False`` on the encoder decides; ``None`` (the
default) defers to ``$RECBANDIT_PROGRESS`` (``1`` shows every call's report, ``0`` none),
and without it a call shows only when stderr is a terminal and the call spans at least
``MIN_BATCHES`` batches, so small calls and redirected output stay quiet. Asked for on
output that is not a terminal (a log file), the bar becomes one line per tenth of the work.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

#: An encode of fewer batches than this shows nothing unless asked.
MIN_BATCHES = 8
#: Environment variable that turns every encode's report on ("1") or off ("0").
ENV_VAR = "RECBANDIT_PROGRESS"
_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


def wanted(show: bool | None, batches: int, console: Console) -> bool:
    """Whether to report a call of ``batches`` batches (see the module docstring)."""
    if show is None:
        setting = os.environ.get(ENV_VAR, "").strip().lower()
        show = True if setting in _ON else False if setting in _OFF else None
    if show is not None:
        return show
    return batches >= MIN_BATCHES and console.is_terminal


class _RateColumn(ProgressColumn):
    """Texts per second so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("? texts/s" if speed is None else f"{speed:,.0f} texts/s")


class EncodeProgress:
    """The report of one encode call.

    Args:
        label: what is encoding (the model's name), at the head of every line.
        show: ``True`` / ``False`` forces the report on / off; ``None`` decides as the module says.
        batch_size: texts per forward pass (a call's size is counted in batches).
        console: where to write (``None``: a console on stderr).
    """

    def __init__(self, label: str, show: bool | None, batch_size: int, console: Console | None = None) -> None:
        self.label = label
        self.show = show
        self.batch_size = batch_size
        self.console = Console(stderr=True) if console is None else console

    def _print(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def cached(self, hits: int, total: int) -> None:
        """Say, once, that ``hits`` of the call's ``total`` texts came from the embedding cache."""
        if hits and wanted(self.show, math.ceil(total / self.batch_size), self.console):
            self._print(f"{self.label}: {hits:,} of {total:,} texts from the cache")

    @contextlib.contextmanager
    def computing(self, total: int) -> Iterator[Callable[[int], None]]:
        """Report the computation of ``total`` texts; yields ``advance(n)``, to call after each batch."""
        if not total or not wanted(self.show, math.ceil(total / self.batch_size), self.console):
            yield lambda n: None
            return
        if self.console.is_terminal:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=self.console, transient=False) as bar:
                task = bar.add_task(f"{self.label}: encoding", total=total)
                yield lambda n: bar.advance(task, n)
            return
        # Not a terminal (asked for): a line at every tenth of the work, so a log shows the pace.
        start, done, next_line = time.perf_counter(), 0, 1

        def advance(n: int) -> None:
            nonlocal done, next_line
            done += n
            if done * 10 >= next_line * total:
                rate = done / max(time.perf_counter() - start, 1e-9)
                self._print(f"{self.label}: encoded {done:,} of {total:,} texts ({rate:,.0f} texts/s)")
                next_line = done * 10 // total + 1

        yield advance
