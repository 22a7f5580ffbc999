"""Export stage: a robots.txt group for AI agents, to merge into the instance's robots.txt."""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from scraperwatch.exporters.base import Exporter, ExportOptions, header
from scraperwatch.exporters.tokens import clean_tokens


class RobotsTxtExporter(Exporter):
    """One group: a `User-agent` line per token, then `Disallow: /` (RFC 9309 section 2.2)."""

    name: ClassVar[str] = "robots-txt"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        tokens = clean_tokens(options.robots_tokens, what="robots.txt token")
        text = header(
            options,
            title="robots.txt group for AI agents",
            counts=[f"user-agent tokens: {len(tokens)}"],
            usage=[
                "Merge this group into the instance's robots.txt; keep it apart from the",
                "`User-agent: *` group (a crawler obeys only the group that names it).",
            ],
        )
        if not tokens:
            return text
        group = [f"User-agent: {t}" for t in tokens] + ["Disallow: /"]
        return text + "\n" + "\n".join(group) + "\n"
