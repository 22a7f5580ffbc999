"""nginx `log_format` strings compiled into a parse plan: split on quotes, then small regexes.

nginx's default escaping writes every `"`, `\\`, control byte and byte >= 0x7F of a variable as
`\\xHH`, so a `"` in a line is always one written by the format itself. Splitting the line on
`"` and matching each short segment is 4-5 times cheaper than one regex over the whole line
(../shared/PERF-NOTES.md). With `escape=none` a value may hold a raw `"`, so such formats are
matched with one regex over the line instead; with `escape=json` the line is parsed as JSON.
"""

from __future__ import annotations

import itertools
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

# Variables whose values may contain spaces even though nginx writes them unquoted: the time,
# the request line, and everything a client chooses (headers, cookies, arguments, the user of
# Basic authentication; nginx's default escaping leaves the space as it is). In an unquoted
# stretch of the format they are matched lazily, so a client cannot make its line unreadable.
_SPACED: Final = frozenset({"time_local", "request", "remote_user", "uri", "args", "query_string"})
_SPACED_PREFIXES: Final = ("http_", "cookie_", "arg_", "sent_http_", "upstream_http_")

# Lists nginx writes with ", " (and " : " between upstream groups), e.g. "502, 200 : 200".
_LIST: Final = r"[^ ,]+(?:(?:, | : )[^ ,]+)*"

# How each variable may look, for the regex of a segment. Values are nginx's own forms.
PATTERNS: Final[dict[str, str]] = {
    "status": r"\d{1,3}|-",
    "body_bytes_sent": r"\d+|-",
    "bytes_sent": r"\d+|-",
    "request_length": r"\d+|-",
    "request_time": r"[\d.]+|-",
    "msec": r"\d+(?:\.\d+)?",
    "time_iso8601": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)",
    "time_local": r"\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}",
    "upstream_addr": _LIST,
    "upstream_status": _LIST,
    "upstream_response_time": _LIST,
    "upstream_connect_time": _LIST,
    "upstream_header_time": _LIST,
    "upstream_response_length": _LIST,
    "upstream_bytes_received": _LIST,
    "upstream_bytes_sent": _LIST,
    "proxy_add_x_forwarded_for": _LIST,
}


def may_hold_spaces(variable: str) -> bool:
    """True when a variable's value can hold a space (so it cannot end at the next space)."""
    return variable in _SPACED or variable.startswith(_SPACED_PREFIXES)


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
            if name in PATTERNS:
                body = PATTERNS[name]
            elif isinstance(nxt, str) and nxt and not whole_line and not may_hold_spaces(name):
                body = f"[^{rx_escape(nxt[0])}]*"
            elif nxt is None:
                body = ".*"
            else:
                body = ".*?"
            group = name if name not in seen else None
            seen.add(name)
            out.append(f"(?P<{group}>{body})" if group else f"(?:{body})")
        return "^" + "".join(out) + "$"

    def split_plan(self) -> SplitPlan | None:
        """How to take the segment apart without a regex, or None when only a regex can.

        Steps are taken from the left while they are unambiguous (a literal; a fixed-width
        time; a variable that never holds a space, followed by a literal that starts with
        one), then from the right (literals, fixed-width times); what is left in the middle
        must be a single variable, which takes all of it (so it may hold anything, spaces
        included: a Basic-auth user, a user agent).
        """
        parts = list(self.parts)
        if len({p for p in parts if isinstance(p, tuple)}) != len(self.variables):
            return None  # a variable named twice: the regex checks they agree
        left: list[Step] = []
        while parts:
            head = parts[0]
            if isinstance(head, str):
                left.append(("lit", head))
                parts.pop(0)
            elif head[0] in FIXED_WIDTH:
                left.append(("fixed", head[0]))
                parts.pop(0)
            elif (
                len(parts) >= 2
                and head[0] in SPACE_FREE
                and isinstance(parts[1], str)
                and parts[1].startswith(" ")
            ):
                left.append(("word", head[0]))
                parts.pop(0)
            else:
                break
        right: list[Step] = []
        while len(parts) > 1:
            tail = parts[-1]
            if isinstance(tail, str):
                right.append(("lit", tail))
            elif tail[0] in FIXED_WIDTH:
                right.append(("fixed", tail[0]))
            else:
                return None
            parts.pop()
        if parts and isinstance(parts[0], str):
            right.append(("lit", parts[0]))
            parts.clear()
        middle = parts[0][0] if parts and isinstance(parts[0], tuple) else None
        return SplitPlan(tuple(left), middle, tuple(right))


# A step of a split plan: ("lit", text), ("fixed", variable) or ("word", variable).
Step = tuple[str, str]


@dataclass(frozen=True)
class SplitPlan:
    """A segment taken apart from both ends; `middle` takes what is left (or it must be empty)."""

    left: tuple[Step, ...]
    middle: str | None
    right: tuple[Step, ...]  # from the end of the segment inwards


# Variables whose values never hold a space (addresses, numbers, nginx's own words), and the
# width of fixed-width ones. Others may hold spaces (what a client chooses; see _SPACED).
SPACE_FREE: Final = frozenset(
    {
        "remote_addr",
        "realip_remote_addr",
        "remote_port",
        "server_addr",
        "server_port",
        "status",
        "body_bytes_sent",
        "bytes_sent",
        "request_length",
        "request_time",
        "msec",
        "time_iso8601",
        "host",
        "server_name",
        "hostname",
        "scheme",
        "request_method",
        "server_protocol",
        "upstream_cache_status",
        "gzip_ratio",
        "connection",
        "connection_requests",
        "pipe",
        "request_id",
        "req_id",
        "pid",
        "ssl_protocol",
        "ssl_cipher",
    }
)
FIXED_WIDTH: Final = {"time_local": 26}  # "12/Nov/2026:10:00:00 +0100"


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
    if _QUOTED_PIECES.fullmatch(s):
        # As in nginx.conf: one or more quoted pieces, concatenated, nginx's escapes undone.
        # (A bare format that merely starts with a quote, '"$http_x_forwarded_for" ...', is
        # not one: text stands between its quotes.)
        pieces = _QUOTED_PIECE.findall(s)
        s = "".join(_CONF_ESCAPE.sub(_unescape_conf, a or b) for a, b in pieces)
    return s, escape


_QUOTED_PIECE = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_QUOTED_PIECES = re.compile(r"(?:\s*(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"))+\s*", re.S)
_CONF_ESCAPE = re.compile(r"\\(.)", re.S)


def _unescape_conf(m: re.Match[str]) -> str:
    return {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1))


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
    for a, b in itertools.pairwise(parts):
        if isinstance(a, tuple) and isinstance(b, tuple):
            raise LogFormatError(
                f"log format {text!r}: ${a[0]} and ${b[0]} stand next to each other with nothing "
                "between them, so a line cannot be split between them; nginx writes them so, but "
                "no parser can take them apart. Put a space or another character between them."
            )


# Variables that identify the client (one of them must be in a format).
CLIENT_VARIABLES: Final = frozenset(
    {"remote_addr", "realip_remote_addr", "http_x_forwarded_for", "proxy_add_x_forwarded_for"}
)


def _check_time(fmt: LogFormat, text: str) -> None:
    if not {"time_local", "time_iso8601", "msec"} & set(fmt.variables):
        raise LogFormatError(
            f"log format {text!r} has no time variable ($time_local, $time_iso8601 or $msec); "
            "scraperwatch needs the time of each request. Add one to the log_format in nginx.conf."
        )
    if not CLIENT_VARIABLES & set(fmt.variables):
        raise LogFormatError(
            f"log format {text!r} has no client address ($remote_addr or $http_x_forwarded_for); "
            "scraperwatch needs it to tell clients apart. Add $remote_addr to the log_format."
        )


# One `"key": value` pair of an escape=json format; the value is a quoted template or a bare
# variable (`"status": $status`).
_JSON_PAIR = re.compile(
    r'"((?:[^"\\]|\\.)+)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(\$\{[A-Za-z0-9_]+\}|\$[A-Za-z0-9_]+))'
)

_ONE_VAR = re.compile(r"^\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))$")


def _compile_json(fmt_text: str, name: str) -> LogFormat:
    """`escape=json` formats are JSON objects whose values are templates like "$remote_addr".

    A value that is exactly one variable maps that variable; a value that mixes text and
    variables ("$request_method $uri") is kept as the extra column of its key.
    """
    fields: list[tuple[str, str]] = []
    for m in _JSON_PAIR.finditer(fmt_text):
        key, template = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
        one = _ONE_VAR.match(template.strip())
        if one:
            fields.append((key, (one.group(1) or one.group(2)).lower()))
        elif "$" in template:
            fields.append((key, "json_" + re.sub(r"[^A-Za-z0-9_]", "_", key).lower()))
    if not fields:
        raise LogFormatError(
            f'JSON log format {fmt_text!r}: found no \'"key": "$variable"\' pairs; '
            'write each field as "key":"$variable".'
        )
    fmt = LogFormat(text=fmt_text, name=name, escape=Escape.JSON, json_fields=tuple(fields))
    _check_time(fmt, fmt_text)
    return fmt
