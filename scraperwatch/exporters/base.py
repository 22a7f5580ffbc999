"""Export stage: the Exporter interface, its options, and the header every format shares."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Final

import polars as pl

from scraperwatch import __version__
from scraperwatch.errors import ExportError

__all__ = [
    "ExportError",
    "ExportOptions",
    "Exporter",
    "NginxContext",
    "comment_lines",
]


class NginxContext(StrEnum):
    """Where the `nginx` deny include goes; `if` (user-agent blocks) is not allowed in http."""

    HTTP = "http"
    SERVER = "server"
    LOCATION = "location"


# Status 444 is nginx's "close the connection without a response"; Caddy's `abort` and
# HAProxy's `http-request reject` do the same, so every format accepts it.
CLOSE_CONNECTION: Final = 444
_VERSION_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}")
_DIGEST_RE: Final = re.compile(r"[A-Za-z0-9:._-]{0,128}")


@dataclass(frozen=True)
class ExportOptions:
    """What an exporter needs besides the offenders; every field is validated on creation.

    agent_tokens: user-agent product tokens to block by user agent (the caller passes the
        tokens of blocked-category rules seen in the logs plus the shipped list). The
        `tokens` column of the frame is never used for user-agent blocks: a spoofed
        Googlebot carries the token `Googlebot`, and blocking it would block Google.
    robots_tokens: the tokens of the robots.txt group.
    never_block: CIDRs or addresses never emitted (allowlist, verified-crawler ranges);
        private and loopback ranges are added unless allow_private is False.
    """

    agent_tokens: tuple[str, ...] = ()
    robots_tokens: tuple[str, ...] = ()
    status: int = 403
    context: NginxContext = NginxContext.SERVER
    max_prefix_v4: int = 24
    max_prefix_v6: int = 48
    never_block: tuple[str, ...] = ()
    allow_private: bool = True
    version: str = __version__
    ruleset_digest: str = ""
    expiry_days: int | None = None

    def __post_init__(self) -> None:
        if not (400 <= self.status <= 599 or self.status == CLOSE_CONNECTION):
            raise ExportError(
                f"export status {self.status} is not an error status: "
                "use 403 (the default), another 4xx/5xx code, or 444 to close the connection"
            )
        if not 0 <= self.max_prefix_v4 <= 32:
            raise ExportError(f"max_prefix_v4 = {self.max_prefix_v4}: use a length from 0 to 32")
        if not 0 <= self.max_prefix_v6 <= 128:
            raise ExportError(f"max_prefix_v6 = {self.max_prefix_v6}: use a length from 0 to 128")
        if not _VERSION_RE.fullmatch(self.version):
            raise ExportError(
                f"export version {self.version!r} has characters outside [A-Za-z0-9.+_-]"
            )
        if not _DIGEST_RE.fullmatch(self.ruleset_digest):
            raise ExportError(
                f"rule-set digest {self.ruleset_digest!r} has characters outside [A-Za-z0-9:._-]"
            )
        if self.expiry_days is not None and self.expiry_days < 1:
            raise ExportError(f"expiry_days = {self.expiry_days}: use at least 1 day, or no expiry")
        try:
            NginxContext(self.context)
        except ValueError:
            known = ", ".join(c.value for c in NginxContext)
            raise ExportError(f"nginx context {self.context!r}: use one of {known}") from None


class Exporter(ABC):
    """Pure: offenders in (schema.OFFENDER_SCHEMA), text out. The caller decides where it goes."""

    name: ClassVar[str]

    @abstractmethod
    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str: ...


_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


def comment_lines(lines: list[str], *, leader: str = "#") -> str:
    """Comment lines, with every control character (newline, NUL...) replaced by a space.

    Only our own text reaches comments, but the stripping keeps a stray newline from ever
    turning a comment into configuration.
    """
    out = []
    for line in lines:
        clean = _CONTROL_RE.sub(" ", line).rstrip()
        out.append(f"{leader} {clean}" if clean else leader)
    return "\n".join(out) + "\n"


def expiry_line(options: ExportOptions) -> str:
    if options.expiry_days is None:
        return "expiry: none; entries stay while scans find the offenders"
    return f"expiry: a block lasts {options.expiry_days} days after the offender was last seen"


def header(
    options: ExportOptions, *, title: str, counts: list[str], usage: list[str], leader: str = "#"
) -> str:
    """The deterministic header: version, rule-set digest, counts, expiry policy; no timestamp."""
    lines = [
        f"scraperwatch {options.version}: {title}",
        f"rule set: {options.ruleset_digest or 'unknown'}",
        *counts,
        expiry_line(options),
        "Generated file: scraperwatch rewrites it, edit the policy instead.",
    ]
    if usage:
        lines += ["", *usage]
    return comment_lines(lines, leader=leader)
