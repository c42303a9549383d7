"""Progress of long work: a bar on a terminal, a few plain lines in a log, nothing otherwise.

Library code reports how far it got with ``task(description, total=..., unit=...)`` (or
``track(iterable, ...)``) and never decides how that is shown. Nothing is shown, and almost
nothing is spent, unless the caller turned reporting on for the current context with
``reporting()``: the CLI does for its long commands and the benchmark for its run, while the API
and plain library calls stay silent. Only stage names and counts are reported, never member data.

- On a terminal (rich ``Console.is_terminal``): rich progress bars, one row per open task.
- Elsewhere (a pipe, a log file, CI): plain lines such as ``explain: 512/1000 members (51 %), 3 s``
  at a bounded rate: when a task crosses another tenth of its total, at most every few seconds
  otherwise (a task without a total), and once when it ends. Never one line per item.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

T = TypeVar("T")

__all__ = [
    "PlainReporter",
    "Reporter",
    "RichReporter",
    "Task",
    "reporter_for",
    "reporting",
    "task",
    "track",
]


class Task(Protocol):
    """One measured piece of work; ``advance`` after each step (cheap: call it per chunk)."""

    def advance(self, steps: int = 1) -> None: ...


class Reporter(Protocol):
    """Shows tasks: ``open`` one, ``advance`` it through the returned ``Task``, then ``close``."""

    def open(self, description: str, total: int | None, unit: str) -> Task: ...

    def close(self, task: Task) -> None: ...

    def shutdown(self) -> None: ...


class _NoTask:
    """What library code gets when nobody asked for progress."""

    def advance(self, steps: int = 1) -> None:
        pass


_NO_TASK = _NoTask()
_REPORTER: ContextVar[Reporter | None] = ContextVar("ssi_model_progress", default=None)


@contextlib.contextmanager
def task(description: str, *, total: int | None = None, unit: str = "") -> Iterator[Task]:
    """A task of ``total`` steps (counted in ``unit``) shown by the current reporter, if any."""
    reporter = _REPORTER.get()
    if reporter is None:
        yield _NO_TASK
        return
    opened = reporter.open(description, total, unit)
    try:
        yield opened
    finally:
        reporter.close(opened)


def track(items: Iterable[T], description: str, *, total: int | None = None,
          unit: str = "") -> Iterator[T]:
    """Yield ``items``, advancing a task by one for each (``total`` defaults to ``len``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with task(description, total=total, unit=unit) as bar:
        for item in items:
            yield item
            bar.advance()


@contextlib.contextmanager
def reporting(reporter: Reporter | None = None) -> Iterator[Reporter]:
    """Show the progress of the work done inside this block (default: ``reporter_for()``)."""
    shown = reporter if reporter is not None else reporter_for()
    token = _REPORTER.set(shown)
    try:
        yield shown
    finally:
        _REPORTER.reset(token)
        shown.shutdown()


def reporter_for(console: Console | None = None,
                 write: Callable[[str], None] | None = None) -> Reporter:
    """Bars when ``console`` (default: one on stderr) is a terminal, else plain lines.

    The plain lines go to ``write`` (default: standard error as it is at the time of writing,
    so a test runner's captured stream receives them).
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    if console.is_terminal:
        return RichReporter(console)
    return PlainReporter(write or _write_stderr)


def _write_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- plain lines ---------------------------------------------------------------------------------


class _PlainTask:
    def __init__(self, owner: PlainReporter, description: str, total: int | None,
                 unit: str) -> None:
        self.owner = owner
        self.description = description
        self.total = total if total is None else max(0, int(total))
        self.unit = unit
        self.done = 0
        self.started = owner.clock()
        self.last_line = self.started
        self.last_tenth = 0  # tenths of the total already reported
        self.last_reported = 0

    def advance(self, steps: int = 1) -> None:
        # Lines from tasks advanced on several threads must not interleave mid-line.
        with self.owner.lock:
            self._advance(steps)

    def _advance(self, steps: int) -> None:
        self.done += steps
        now = self.owner.clock()
        if self.total:
            tenth = min(10, math.floor(10 * self.done / self.total))
            if tenth > self.last_tenth and self.done < self.total:
                self.last_tenth = tenth
                self._report(now)
                return
        if self.done > self.last_reported and now - self.last_line >= self.owner.every_seconds:
            self._report(now)

    def finish(self) -> None:
        if self.done != self.last_reported or self.done == 0:
            self._report(self.owner.clock())

    def _report(self, now: float) -> None:
        self.last_line, self.last_reported = now, self.done
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            counts = f"{self.done}/{self.total}{unit} ({100 * self.done // self.total} %)"
        else:
            counts = f"{self.done}{unit}"
        self.owner.write(f"{self.description}: {counts}, {now - self.started:.0f} s")


class PlainReporter:
    """Plain lines for logs: each tenth of a task's total, else every ``every_seconds``, the end.

    ``write`` receives each line (e.g. a stream writer or ``logging.getLogger(...).info``);
    ``clock`` is injectable so the rate can be tested without sleeping.
    """

    def __init__(self, write: Callable[[str], None], *, every_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.every_seconds = every_seconds
        self.clock = clock
        self.lock = threading.Lock()

    def open(self, description: str, total: int | None, unit: str) -> _PlainTask:
        return _PlainTask(self, description, total, unit)

    def close(self, task: Task) -> None:
        if isinstance(task, _PlainTask):
            with self.lock:
                task.finish()

    def shutdown(self) -> None:
        pass


# -- bars ----------------------------------------------------------------------------------------


class _RichTask:
    def __init__(self, progress: Progress, task_id: int) -> None:
        self.progress = progress
        self.task_id = task_id

    def advance(self, steps: int = 1) -> None:
        self.progress.advance(self.task_id, steps)  # type: ignore[arg-type]


class RichReporter:
    """rich progress bars on ``console``, one row per task; shown while any task is open.

    Finished rows stay on screen (the record of what ran); the live display stops when the last
    open task closes, so a command's own output after the work is never drawn over.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._open = 0
        self._lock = threading.Lock()

    def open(self, description: str, total: int | None, unit: str) -> _RichTask:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with self._lock:
            if self._progress is None:
                self._progress = Progress(
                    TextColumn("[progress.description]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[unit]}"),
                    TaskProgressColumn(),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    console=self.console,
                )
                self._progress.start()
            self._open += 1
            task_id = self._progress.add_task(description, total=total, unit=unit)
            return _RichTask(self._progress, task_id)

    def close(self, task: Task) -> None:
        with self._lock:
            self._open -= 1
            if self._open <= 0 and self._progress is not None:
                self._progress.stop()
                self._progress, self._open = None, 0

    def shutdown(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress, self._open = None, 0
