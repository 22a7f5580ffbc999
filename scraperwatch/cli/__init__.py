"""Command line: one module per command group, all registered on one Typer app.

`main` imports only the module of the command it runs (`run`, the console script, calls it
and exits at once); `app`, for tests and library use, is the Typer app with every command
registered.
"""

from __future__ import annotations

from typing import Any

from scraperwatch.cli.base import main, run

__all__ = ["app", "main", "run"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from scraperwatch.cli import base

        base.load_commands()
        return base.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
