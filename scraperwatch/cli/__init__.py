"""Command line: one module per command group, all registered on one Typer app."""

from __future__ import annotations

from scraperwatch.cli import ingest as _ingest  # noqa: F401  (registers commands)
from scraperwatch.cli.app import app, main

__all__ = ["app", "main"]
