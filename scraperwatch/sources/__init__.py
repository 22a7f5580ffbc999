"""Log sources: the registry of formats and the sniffing that picks one per file."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from scraperwatch.errors import LogSourceError
from scraperwatch.sources.base import LogSource, scores
from scraperwatch.sources.caddy import CaddySource
from scraperwatch.sources.logformat import NAMED_FORMATS
from scraperwatch.sources.nginx import NginxSource


class SourceName(StrEnum):
    """Values of --log-format that name a format (any other value is an nginx log_format)."""

    AUTO = "auto"
    CADDY = "caddy"
    COMBINED = "combined"
    MAIN = "main"
    VHOST = "vhost"
    TIMED = "timed"
    UPSTREAMINFO = "upstreaminfo"
    NPM_PROXY = "npm-proxy"
    NPM_STANDARD = "npm-standard"


# The order is the order of preference when several formats parse a file equally well:
# the richer format first (main before combined: combined would also take main's lines).
CANDIDATES: Final[tuple[str, ...]] = (
    "caddy",
    "upstreaminfo",
    "main",
    "timed",
    "combined",
    "vhost",
    "npm-proxy",
    "npm-standard",
)
assert set(CANDIDATES) | {"auto"} == {m.value for m in SourceName}
assert set(CANDIDATES) - {"caddy"} == set(NAMED_FORMATS)

# A file is taken in a format when at least this share of its sampled lines parse.
MIN_SHARE: Final = 0.5
# What LogSource.share_parsed gives when it parses none but recognises skipped lines as its own.
WEAK_CLAIM: Final = 0.5


def source_for(spec: str) -> LogSource:
    """A source for a --log-format value: a name, or an nginx log_format string."""
    if spec == SourceName.CADDY:
        return CaddySource()
    return NginxSource(spec)


@dataclass(frozen=True)
class Sniffed:
    source: LogSource
    share: float
    runner_up: str | None


def sniff(head_lines: list[str], *, name: str) -> Sniffed:
    """Pick the format that parses most of the first lines of a file."""
    lines = [h for h in head_lines if h.strip()]
    if lines and all(h.lstrip().startswith("{") for h in lines):
        # JSON objects: no nginx format parses a line that starts with `{` (the first field
        # would be the address or the host), so Caddy is tried alone (a tenth of a second).
        caddy = CaddySource()
        share = caddy.share_parsed(head_lines)
        if share >= MIN_SHARE:
            return Sniffed(caddy, share, None)
    candidates = [source_for(cand) for cand in CANDIDATES]
    # The format that parses the most lines wins, then the one that parses the larger share
    # of the lines it does not skip, then the richer one. (By share alone, five Caddy lines
    # before 195 nginx lines made the file Caddy, whose reader skips lines that are no JSON:
    # the nginx lines were lost as skipped.)
    ranked = [
        (score.parsed, score.share, -rank, src)
        for rank, (score, src) in enumerate(
            zip(scores(candidates, head_lines), candidates, strict=True)
        )
    ]
    ranked.sort(key=lambda t: t[:3], reverse=True)
    _, best_share, _, best = ranked[0]
    if best_share == WEAK_CLAIM:
        # Only skipped lines (an nginx error log): the plainest format, not the richest.
        best = next(
            (
                src
                for _, share, _, src in ranked
                if share == WEAK_CLAIM and src.label == "nginx-combined"
            ),
            best,
        )
    if best_share < MIN_SHARE:
        sample = next((h for h in head_lines if h.strip()), "")[:160]
        raise LogSourceError(
            f"{name}: not a log format scraperwatch knows (nginx combined, main, vhost, "
            f"upstreaminfo, Nginx Proxy Manager, Caddy JSON): the best, {best.label}, parses "
            f"{best_share:.0%} of the first lines. First line: {sample!r}. Give the format with "
            "--log-format, e.g. the log_format string from nginx.conf: "
            "--log-format '$remote_addr - $remote_user [$time_local] \"$request\" ...'"
        )
    runner = ranked[1][3].label if len(ranked) > 1 and ranked[1][:2] == ranked[0][:2] else None
    return Sniffed(best, best_share, runner)


__all__ = ["CANDIDATES", "LogSource", "Sniffed", "SourceName", "sniff", "source_for"]
