"""The Typer application and the one boundary that turns errors into exit codes."""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Final, NoReturn, ParamSpec, TypeVar

import typer

from scraperwatch import __version__, console
from scraperwatch.errors import ExitCode, ScraperwatchError

app = typer.Typer(
    name="scraperwatch",
    no_args_is_help=True,
    # Locals hold client addresses and log lines: never print them in a traceback.
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="Find LLM crawlers and scrapers in nginx and Caddy access logs, and block them.",
)

_state = {"debug": False}


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scraperwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an internal error.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    _state["debug"] = debug


P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command: a ScraperwatchError becomes its message on stderr and its exit code.

    Every command carries this decorator, so CliRunner tests see the same exit codes as users.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ScraperwatchError as err:
            console.error(str(err))
            raise typer.Exit(int(err.exit_code)) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper


# The first word of a command line -> the module that registers that command. A run imports
# only the module it needs: importing them all cost 0.3 s more (a 100-line ingest took 0.75 s).
COMMANDS: Final = {
    "ingest": "ingest",
    "scan": "scan",
    "export": "scan",
    "investigate": "investigate",
    "top": "investigate",
    "query": "investigate",
    "report": "report",
    "rules": "rules",
    "ranges": "ranges",
    "init": "init",
}


def load_commands(argv: Sequence[str] | None = None) -> None:
    """Register the command that `argv` runs, or every command (for help, or a word that is
    no command: Typer then lists them all)."""
    words = [a for a in (argv or []) if not a.startswith("-")]
    wanted = {COMMANDS[words[0]]} if words and words[0] in COMMANDS else set(COMMANDS.values())
    for module in sorted(wanted):
        importlib.import_module(f"scraperwatch.cli.{module}")


def main() -> None:
    """Entry point. Click maps usage errors to 2; this maps anything unexpected to 5."""
    try:
        load_commands(sys.argv[1:])
        app()
    except Exception as err:  # the one place that catches everything
        if _state["debug"] or "--debug" in sys.argv:
            raise
        console.error(
            f"internal error ({type(err).__name__}: {err}); this is a bug in scraperwatch. "
            "Rerun with --debug for the traceback and report it."
        )
        sys.exit(int(ExitCode.INTERNAL))


# Polars' allocator (jemalloc, built in with the `_rjem_` prefix) reads this variable when
# Polars loads; Polars sets `dirty_decay_ms:500,muzzy_decay_ms:1000` and appends what it finds
# here. Freed pages are then kept 20 s, not half a second, before they go back to the kernel,
# instead of being returned and faulted in again batch after batch: a scan or an ingest is a
# short batch job. Paired runs of an ingest of 5M nginx lines went from 4.68 to 4.36 s (a
# third less time in the kernel), of 1M Caddy lines from 2.41 to 2.31 s, for 20 to 100 MiB
# more peak memory (benchmarks/RESULTS.md).
ALLOCATOR_ENV: Final = "_RJEM_MALLOC_CONF"
ALLOCATOR_CONF: Final = "dirty_decay_ms:20000,muzzy_decay_ms:20000"
# What Polars writes into the variable (polars/__init__.py): a process started by a Python
# program that imported Polars inherits it, though nobody chose it.
POLARS_ALLOCATOR_CONF: Final = "dirty_decay_ms:500,muzzy_decay_ms:1000"


def tune_allocator() -> None:
    """Set Polars' allocator options before Polars loads (after, they have no effect).

    Options the user gave win: they come after ours, and jemalloc takes the last of each.
    """
    if "polars" in sys.modules:
        return
    given = os.environ.get(ALLOCATOR_ENV, "")
    given = given.removeprefix(POLARS_ALLOCATOR_CONF).lstrip(",")
    os.environ[ALLOCATOR_ENV] = f"{ALLOCATOR_CONF},{given}" if given else ALLOCATOR_CONF


def run() -> NoReturn:
    """The console script: `main`, then exit without the interpreter's teardown.

    Unloading Polars, DuckDB and pyarrow takes 0.1 to 0.2 s (measured here): a twentieth
    of reading a million Caddy lines, a third of a short run. Nothing is left for it to do:
    every command closes its files and removes its temporary files in `finally` blocks, and
    the output streams are flushed here. (Tests call `main` or the Typer app, which exit
    normally.)
    """
    tune_allocator()
    code = 0
    try:
        main()
    except SystemExit as done:
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
            code = 1
        else:
            code = done.code or 0
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)
