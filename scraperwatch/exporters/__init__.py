"""Export stage: the registry of exporters, from verdicts to blocklists and offender lists."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import polars as pl

from scraperwatch.errors import ExportError
from scraperwatch.exporters.base import Exporter, ExportOptions, NginxContext
from scraperwatch.exporters.caddy import CaddyExporter
from scraperwatch.exporters.expiry import apply_expiry
from scraperwatch.exporters.firewall import IpsetExporter, NftablesExporter, PlainExporter
from scraperwatch.exporters.haproxy import HAProxyAddrExporter, HAProxyUAExporter, haproxy_frontend
from scraperwatch.exporters.lists import CsvExporter, JsonExporter
from scraperwatch.exporters.nginx import NginxDenyExporter, NginxMapExporter, nginx_check_snippet
from scraperwatch.exporters.robots import RobotsTxtExporter
from scraperwatch.exporters.tokens import blocked_agent_tokens
from scraperwatch.exporters.write import ExportDiff, WriteResult, diff_exports, write_export

__all__ = [
    "EXPORTERS",
    "ExportDiff",
    "ExportError",
    "ExportFormat",
    "ExportOptions",
    "Exporter",
    "NginxContext",
    "WriteResult",
    "apply_expiry",
    "blocked_agent_tokens",
    "diff_exports",
    "haproxy_frontend",
    "nginx_check_snippet",
    "render_export",
    "write_export",
]


class ExportFormat(StrEnum):
    """The CLI values of `export FORMAT` and `scan --export FORMAT:PATH`."""

    NGINX = "nginx"
    NGINX_MAP = "nginx-map"
    CADDY = "caddy"
    HAPROXY = "haproxy"
    HAPROXY_UA = "haproxy-ua"
    ROBOTS_TXT = "robots-txt"
    NFTABLES = "nftables"
    IPSET = "ipset"
    PLAIN = "plain"
    JSON = "json"
    CSV = "csv"


EXPORTERS: Final[dict[str, type[Exporter]]] = {
    cls.name: cls
    for cls in (
        NginxDenyExporter,
        NginxMapExporter,
        CaddyExporter,
        HAProxyAddrExporter,
        HAProxyUAExporter,
        RobotsTxtExporter,
        NftablesExporter,
        IpsetExporter,
        PlainExporter,
        JsonExporter,
        CsvExporter,
    )
}


def get_exporter(fmt: ExportFormat | str) -> Exporter:
    """The exporter for a format name; an unknown name is an error listing the known ones."""
    try:
        return EXPORTERS[str(fmt)]()
    except KeyError:
        known = ", ".join(EXPORTERS)
        raise ExportError(f"unknown export format {str(fmt)!r}: use one of {known}") from None


def render_export(
    fmt: ExportFormat | str, offenders: pl.DataFrame, options: ExportOptions | None = None
) -> str:
    """Render the offenders in one format: pure, deterministic text (no timestamp)."""
    return get_exporter(fmt).render(offenders, options=options or ExportOptions())
