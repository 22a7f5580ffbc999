"""The only user of rich: messages on stderr, tables, and the progress reporter."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn
from rich.table import Table


def _width(stream: Any) -> int | None:
    # Rich assumes 80 columns when not on a terminal; tables of paths and user agents need more.
    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return 160


def _stderr() -> Console:
    # Built per call so that tests that swap sys.stderr (CliRunner) see the output.
    return Console(file=sys.stderr, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def _stdout() -> Console:
    return Console(file=sys.stdout, highlight=False, width=_width(sys.stdout))


def error(message: str) -> None:
    """Print an error for a person: what went wrong, where, and how to fix it."""
    _stderr().print(f"[bold red]error:[/] {escape(message)}")


def warn(message: str) -> None:
    _stderr().print(f"[yellow]warning:[/] {escape(message)}")


def info(message: str) -> None:
    _stderr().print(escape(message))


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    stderr: bool = False,
) -> None:
    """Print rows as a table. Cell text is escaped: log data never becomes rich markup."""
    t = Table(title=escape(title) if title else None, show_lines=False)
    for c in columns:
        t.add_column(escape(c), overflow="fold")
    for row in rows:
        t.add_row(*(escape("" if v is None else str(v)) for v in row))
    (_stderr() if stderr else _stdout()).print(t)


class Reporter(Protocol):
    """What the pipeline tells about its progress. The library never prints."""

    @property
    def live(self) -> bool:
        """True when progress is shown (else the reader need not count it)."""
        ...

    def start(self, label: str, total_bytes: int | None) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def finish(self) -> None: ...
    def note(self, message: str) -> None: ...


class NullReporter:
    """The reporter for tests and library use."""

    @property
    def live(self) -> bool:
        return False

    def start(self, label: str, total_bytes: int | None) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass

    def note(self, message: str) -> None:
        pass


class RichReporter:
    """A progress bar on stderr, only when stderr is a terminal (never in pipes or cron)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self._quiet = quiet
        self._live = sys.stderr.isatty() and not os.environ.get("CI") and not quiet
        self._progress: Progress | None = None
        self._task: Any = None

    @property
    def live(self) -> bool:
        return self._live

    def start(self, label: str, total_bytes: int | None) -> None:
        if not self._live:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                console=_stderr(),
                transient=True,
            )
            self._progress.start()
        self._task = self._progress.add_task(escape(label), total=total_bytes)

    def advance(self, nbytes: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, nbytes)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def note(self, message: str) -> None:
        if not self._quiet:
            info(message)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    try:
        yield reporter
    finally:
        reporter.finish()
