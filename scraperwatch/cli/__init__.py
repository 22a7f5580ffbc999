"""Command line: one module per command group, all registered on one Typer app."""

from __future__ import annotations

from scraperwatch.cli import ingest as _ingest  # noqa: F401  (registers commands)
from scraperwatch.cli import init as _init  # noqa: F401
from scraperwatch.cli import investigate as _investigate  # noqa: F401
from scraperwatch.cli import ranges as _ranges  # noqa: F401
from scraperwatch.cli import report as _report  # noqa: F401
from scraperwatch.cli import rules as _rules  # noqa: F401
from scraperwatch.cli import scan as _scan  # noqa: F401
from scraperwatch.cli.app import app, main

__all__ = ["app", "main"]
