"""scraperwatch: find LLM crawlers and scrapers in reverse-proxy access logs, and block them."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
