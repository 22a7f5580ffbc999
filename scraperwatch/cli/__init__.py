"""Command line: one module per command group, all registered on one Typer app.

`main` (the console script) imports only the module of the command it runs; `app`, for tests
and library use, is the Typer app with every command registered.
"""

from __future__ import annotations

from typing import Any

from scraperwatch.cli.base import main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from scraperwatch.cli import base

        base.load_commands()
        return base.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
