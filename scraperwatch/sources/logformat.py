"""nginx `log_format` strings compiled into a parse plan: split on quotes, then small regexes.

nginx's default escaping writes every `"`, `\\`, control byte and byte >= 0x7F of a variable as
`\\xHH`, so a `"` in a line is always one written by the format itself. Splitting the line on
`"` and matching each short segment is 4-5 times cheaper than one regex over the whole line
(../shared/PERF-NOTES.md). With `escape=none` a value may hold a raw `"`, so such formats are
matched with one regex over the line instead; with `escape=json` the line is parsed as JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from scraperwatch.errors import LogFormatError

_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_RX_META = frozenset("\\.+*?()|[]{}^$#&-~")


def rx_escape(text: str) -> str:
    """Escape text for the Rust regex engine that Polars runs (re.escape's `\\ ` is not valid there)."""
    return "".join("\\" + ch if ch in _RX_META else ch for ch in text)


class Escape(StrEnum):
    DEFAULT = "default"
    JSON = "json"
    NONE = "none"


# Formats known by name. `combined` is nginx's built-in; the others are common in the field.
NAMED_FORMATS: Final[dict[str, str]] = {
    "combined": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"',
    # The `main` format of nginx's packaged nginx.conf: combined + X-Forwarded-For.
    "main": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"',
    # combined with the virtual host in front (one log for many server blocks).
    "vhost": '$host $remote_addr - $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent"',
    # combined with the request time, common in performance-minded configs.
    "timed": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time',
    # ingress-nginx's default `upstreaminfo` (kubernetes/ingress-nginx docs, log-format.md).
    "upstreaminfo": '$remote_addr - $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time '
    "[$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr "
    "$upstream_response_length $upstream_response_time $upstream_status $req_id",
    # Nginx Proxy Manager's `proxy` format (NginxProxyManager/nginx-proxy-manager, log.conf).
    "npm-proxy": "[$time_local] $upstream_cache_status $upstream_status $status - "
    '$request_method $scheme $host "$request_uri" [Client $remote_addr] '
    "[Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "
    '"$http_user_agent" "$http_referer"',
    # Nginx Proxy Manager's `standard` format, for its own default hosts.
    "npm-standard": "[$time_local] $status - $request_method $scheme $host "
    '"$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] '
    '"$http_user_agent" "$http_referer"',
}

# Variables whose values contain spaces even though nginx writes them unquoted.
_SPACED: Final = frozenset({"time_local", "request", "http_user_agent", "http_referer"})

# How each variable may look, for the regex of a segment. Values are nginx's own forms.
_PATTERNS: Final[dict[str, str]] = {
    "status": r"\d{1,3}|-",
    "body_bytes_sent": r"\d+|-",
    "bytes_sent": r"\d+|-",
    "request_length": r"\d+|-",
    "request_time": r"[\d.]+|-",
    "msec": r"\d+(?:\.\d+)?",
    "time_iso8601": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)",
    "time_local": r"\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}",
}


@dataclass(frozen=True)
class Segment:
    """One stretch of the format between two literal quotes."""

    parts: tuple[str | tuple[str], ...]  # literal text, or (variable name,)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(p[0] for p in self.parts if isinstance(p, tuple))

    @property
    def single_variable(self) -> str | None:
        """The variable when the segment is exactly one variable and nothing else."""
        if len(self.parts) == 1 and isinstance(self.parts[0], tuple):
            return self.parts[0][0]
        return None

    def regex(self, *, whole_line: bool = False) -> str:
        """An anchored regex with one named group per variable."""
        out: list[str] = []
        seen: set[str] = set()
        parts = self.parts
        for i, part in enumerate(parts):
            if isinstance(part, str):
                out.append(rx_escape(part))
                continue
            name = part[0]
            nxt = parts[i + 1] if i + 1 < len(parts) else None
            if name in _PATTERNS:
                body = _PATTERNS[name]
            elif isinstance(nxt, str) and nxt and not whole_line and name not in _SPACED:
                body = f"[^{rx_escape(nxt[0])}]*"
            elif nxt is None:
                body = ".*"
            else:
                body = ".*?"
            group = name if name not in seen else None
            seen.add(name)
            out.append(f"(?P<{group}>{body})" if group else f"(?:{body})")
        return "^" + "".join(out) + "$"


@dataclass(frozen=True)
class LogFormat:
    """A compiled nginx log_format."""

    text: str
    name: str
    escape: Escape = Escape.DEFAULT
    segments: tuple[Segment, ...] = field(default=())
    json_fields: tuple[tuple[str, str], ...] = field(default=())  # (json key, variable)

    @property
    def variables(self) -> tuple[str, ...]:
        if self.escape is Escape.JSON:
            return tuple(v for _, v in self.json_fields)
        return tuple(v for s in self.segments for v in s.variables)

    @property
    def quote_split(self) -> bool:
        """True when the line may be split on `"` (default escaping, and quotes in the format)."""
        return self.escape is Escape.DEFAULT and len(self.segments) > 1

    def whole_regex(self) -> str:
        """One regex over the whole line (escape=none, or when the quote split cannot apply)."""
        merged: list[str | tuple[str]] = []
        for i, seg in enumerate(self.segments):
            if i:
                merged.append('"')
            merged.extend(seg.parts)
        return Segment(_merge_literals(merged)).regex(whole_line=True)


def _merge_literals(parts: list[str | tuple[str]]) -> tuple[str | tuple[str], ...]:
    out: list[str | tuple[str]] = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + p
        elif p != "":
            out.append(p)
    return tuple(out)


def _tokenize(text: str) -> list[str | tuple[str]]:
    parts: list[str | tuple[str]] = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        parts.append(((m.group(1) or m.group(2)).lower(),))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def _unwrap_conf(text: str) -> tuple[str, Escape]:
    """Accept the format as written in nginx.conf: `log_format name escape=json '...' '...';`."""
    s = text.strip()
    escape = Escape.DEFAULT
    m = re.match(r"^log_format\s+\S+\s+(.*?);?\s*$", s, re.S)
    if m:
        s = m.group(1).strip()
    m = re.match(r"^escape=(default|json|none)\s+(.*)$", s, re.S)
    if m:
        escape = Escape(m.group(1))
        s = m.group(2).strip()
    if s[:1] in "'\"":
        # One or more quoted pieces, concatenated as nginx does.
        pieces = re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", s)
        if pieces:
            s = "".join(a or b for a, b in pieces)
    return s, escape


def compile_format(text: str, *, escape: Escape | str | None = None) -> LogFormat:
    """Compile a log_format given by name (`combined`) or as nginx.conf text."""
    name = text.strip()
    if name in NAMED_FORMATS:
        fmt_text, esc = NAMED_FORMATS[name], Escape.DEFAULT
    else:
        fmt_text, esc = _unwrap_conf(text)
        name = "custom"
    if escape is not None:
        esc = Escape(escape)
    if "$" not in fmt_text:
        known = ", ".join(NAMED_FORMATS)
        raise LogFormatError(
            f"log format {text!r} names no nginx variable; give a known name ({known}) or the "
            "log_format string from nginx.conf, e.g. '$remote_addr - $remote_user [$time_local] ...'"
        )
    if esc is Escape.JSON or fmt_text.lstrip().startswith("{"):
        return _compile_json(fmt_text, name)
    parts = _tokenize(fmt_text)
    _check_adjacent(parts, text)
    segments: list[list[str | tuple[str]]] = [[]]
    for part in parts:
        if isinstance(part, str):
            pieces = part.split('"')
            for j, piece in enumerate(pieces):
                if j:
                    segments.append([])
                if piece:
                    segments[-1].append(piece)
        else:
            segments[-1].append(part)
    fmt = LogFormat(
        text=fmt_text,
        name=name,
        escape=esc,
        segments=tuple(Segment(tuple(s)) for s in segments),
    )
    _check_time(fmt, text)
    return fmt


def _check_adjacent(parts: list[str | tuple[str]], text: str) -> None:
    for a, b in zip(parts, parts[1:], strict=False):
        if isinstance(a, tuple) and isinstance(b, tuple):
            raise LogFormatError(
                f"log format {text!r}: ${a[0]} and ${b[0]} stand next to each other with nothing "
                "between them, so a line cannot be split between them; nginx writes them so, but "
                "no parser can take them apart. Put a space or another character between them."
            )


def _check_time(fmt: LogFormat, text: str) -> None:
    if not {"time_local", "time_iso8601", "msec"} & set(fmt.variables):
        raise LogFormatError(
            f"log format {text!r} has no time variable ($time_local, $time_iso8601 or $msec); "
            "scraperwatch needs the time of each request. Add one to the log_format in nginx.conf."
        )
    if not {"remote_addr", "realip_remote_addr", "http_x_forwarded_for", "binary_remote_addr"} & set(
        fmt.variables
    ):
        raise LogFormatError(
            f"log format {text!r} has no client address ($remote_addr or $http_x_forwarded_for); "
            "scraperwatch needs it to tell clients apart. Add $remote_addr to the log_format."
        )


def _compile_json(fmt_text: str, name: str) -> LogFormat:
    # `escape=json` formats are JSON objects whose values are templates like "$remote_addr".
    pairs = re.findall(r'"([^"]+)"\s*:\s*"?\$\{?([A-Za-z0-9_]+)\}?"?', fmt_text)
    if not pairs:
        raise LogFormatError(
            f"JSON log format {fmt_text!r}: found no '\"key\": \"$variable\"' pairs; "
            "write each field as \"key\":\"$variable\"."
        )
    fmt = LogFormat(
        text=fmt_text,
        name=name,
        escape=Escape.JSON,
        json_fields=tuple((k, v.lower()) for k, v in pairs),
    )
    _check_time(fmt, fmt_text)
    return fmt
