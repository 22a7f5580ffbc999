"""Configuration stage: scraperwatch.toml read and checked, every error with file, line and key.

docs/config.md documents each key; `scraperwatch init` writes a commented file (TEMPLATE).
Relative paths in the file are taken from the file's own directory.
"""

from __future__ import annotations

import difflib
import inspect
import ipaddress
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from scraperwatch.detect.heuristics import Thresholds
from scraperwatch.errors import ConfigError
from scraperwatch.exporters import ExportFormat

DEFAULT_PATH: Final = Path("/etc/scraperwatch.toml")
_WINDOW: Final = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TOML_POS: Final = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Window:
    """A span of time ending at the newest request, over which verdicts are judged."""

    text: str  # as written: "24h", "7d"
    span: timedelta

    @property
    def label(self) -> str:
        return self.text


def parse_window(text: str) -> Window:
    """`90m`, `24h`, `7d`, `2w` (s, m, h, d, w); raises ValueError with the fix."""
    m = _WINDOW.match(text)
    if not m or int(m.group(1)) == 0:
        raise ValueError(
            f"{text!r} is not a window: write a positive number and a unit, e.g. 24h, 7d, 2w "
            "(units s, m, h, d, w)"
        )
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return Window(f"{m.group(1)}{m.group(2)}", timedelta(seconds=seconds))


@dataclass(frozen=True)
class LogSpec:
    path: str  # a file, glob or directory
    format: str | None  # None: detected per file


@dataclass(frozen=True)
class ExportSpec:
    format: ExportFormat
    path: Path
    check_cmd: str | None = None
    reload_cmd: str | None = None
    status: int = 403


@dataclass(frozen=True)
class Config:
    """The file's values; None (or empty) where the file does not set the key."""

    path: Path
    logs: tuple[LogSpec, ...] = ()
    log_format: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    policy: str | None = None
    allowlist: tuple[str, ...] = ()
    allow_private: bool | None = None
    rules: tuple[Path, ...] = ()
    ranges: tuple[Path, ...] = ()
    robots: Path | None = None
    canary: tuple[str, ...] = ()
    asn_db: Path | None = None
    geo_db: Path | None = None
    thresholds: Thresholds | None = None
    windows: tuple[Window, ...] = ()
    exports: tuple[ExportSpec, ...] = ()
    state: Path | None = None
    store: Path | None = None
    expiry_days: int | None = None
    strict: bool | None = None
    fail_on_offenders: bool | None = None
    lock_timeout: float | None = None


# Top-level keys and what each holds (for "did you mean" and docs/config.md).
KEYS: Final = {
    "logs": "list of tables {path, format}",
    "log_format": "string",
    "trusted_proxies": "list of addresses or CIDRs",
    "policy": "string",
    "allowlist": "list of addresses or CIDRs",
    "allow_private": "boolean",
    "rules": "list of folders",
    "ranges": "list of files or folders",
    "robots": "file",
    "canary": "list of path prefixes",
    "asn_db": "file",
    "geo_db": "file",
    "thresholds": "table",
    "windows": 'list of windows such as "24h"',
    "exports": "list of tables {format, path, check_cmd, reload_cmd, status}",
    "state": "folder",
    "store": "folder",
    "expiry_days": "integer",
    "strict": "boolean",
    "fail_on_offenders": "boolean",
    "lock_timeout": "number of seconds",
}
_LOG_KEYS: Final = ("path", "format")
_EXPORT_KEYS: Final = ("format", "path", "check_cmd", "reload_cmd", "status")

KeyPath = tuple[str | int, ...]


def _dotted(key: KeyPath) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Lines:
    """Finds the line of a key in TOML text by scanning it (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
    _KEY = re.compile(
        r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
    )

    def __init__(self, text: str) -> None:
        self.where: dict[KeyPath, int] = {}
        table: KeyPath = ()
        counts: dict[KeyPath, int] = {}
        in_string: str | None = None
        for n, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = self._HEADER.match(line)
            if header:
                parts = tuple(self._split(header.group(2)))
                if header.group(1) == "[[":
                    counts[parts] = counts.get(parts, 0) + 1
                    table = (*parts, counts[parts] - 1)
                else:
                    table = parts
                self.where.setdefault(table, n)
                continue
            key = self._KEY.match(line)
            if key:
                full = (*table, *self._split(key.group(1)))
                self.where.setdefault(full, n)
                rest = line[key.end() :]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_string = quote

    @staticmethod
    def _split(dotted: str) -> list[str]:
        return [
            p.strip().strip("\"'")
            for p in re.findall(r"""[^."']+|"[^"]*"|'[^']*'""", dotted)
            if p.strip()
        ]

    def line(self, key: KeyPath) -> int | None:
        """The line of key, else of its nearest parent written in the text."""
        probe = tuple(key)
        while probe:
            if probe in self.where:
                return self.where[probe]
            probe = probe[:-1]
        return None


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.base = path.parent
        self.lines = _Lines(text)

    def where(self, key: KeyPath) -> str:
        line = self.lines.line(key)
        return f"{self.path}:{line}" if line else str(self.path)

    def fail(self, key: KeyPath, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: `{_dotted(key)}`: {message}")

    # --- typed getters ---
    def string(self, key: KeyPath, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        return value

    def boolean(self, key: KeyPath, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def strings(self, key: KeyPath, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of strings, not {value!r}")
        return tuple(self.string((*key, i), v) for i, v in enumerate(value))

    def file(self, key: KeyPath, value: Any, *, must_exist: bool = True) -> Path:
        path = Path(self.string(key, value)).expanduser()
        if not path.is_absolute():
            path = self.base / path
        if must_exist and not path.is_file():
            raise self.fail(key, f"{path} is not a file; check the path")
        return path

    def paths(self, key: KeyPath, value: Any) -> tuple[Path, ...]:
        out = []
        for i, item in enumerate(self.strings(key, value)):
            path = Path(item).expanduser()
            path = path if path.is_absolute() else self.base / path
            if not path.exists():
                raise self.fail((*key, i), f"{path} does not exist; check the path")
            out.append(path)
        return tuple(out)

    def folder(self, key: KeyPath, value: Any) -> Path:
        path = Path(self.string(key, value)).expanduser()
        return path if path.is_absolute() else self.base / path

    def networks(self, key: KeyPath, value: Any, *, unix: bool = False) -> tuple[str, ...]:
        out = self.strings(key, value)
        for i, item in enumerate(out):
            if unix and item == "unix:":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise self.fail(
                    (*key, i), f"{item!r} is not an address or CIDR (e.g. 10.0.0.0/8, ::1)"
                ) from None
        return out

    def number(self, key: KeyPath, value: Any, *, integer: bool, minimum: float) -> float:
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if not ok or isinstance(value, bool) or value < minimum:
            kind = "a whole number" if integer else "a number"
            raise self.fail(key, f"must be {kind} of at least {minimum:g}, not {value!r}")
        return float(value)


def load_config(path: Path) -> Config:
    """Read and check a scraperwatch.toml; a ConfigError names the file, line and key."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such configuration file; write one with `scraperwatch init {path}`"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it ({err.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: the file is not UTF-8; save it as UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        pos = _TOML_POS.search(msg)
        where = f"{path}:{pos.group(1)}:{pos.group(2)}" if pos else str(path)
        reason = _TOML_POS.sub("", msg).strip()
        raise ConfigError(
            f"{where}: not valid TOML ({reason}); strings need quotes, lists brackets, and a "
            "table [name] or [[name]] opens a section"
        ) from None
    return _build(_Reader(path, text), doc)


def _build(r: _Reader, doc: dict[str, Any]) -> Config:
    for key in doc:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(KEYS)}"
            raise r.fail((key,), f"unknown key; {hint} (docs/config.md)")
    values: dict[str, Any] = {"path": r.path}
    for key, value in doc.items():
        k: KeyPath = (key,)
        if key == "logs":
            values["logs"] = _logs(r, value)
        elif key in ("log_format", "policy"):
            values[key] = r.string(k, value)
        elif key in ("allow_private", "strict", "fail_on_offenders"):
            values[key] = r.boolean(k, value)
        elif key == "trusted_proxies":
            values[key] = r.networks(k, value, unix=True)
        elif key == "allowlist":
            values[key] = r.networks(k, value)
        elif key in ("rules", "ranges"):
            values[key] = r.paths(k, value)
        elif key in ("robots", "asn_db", "geo_db"):
            values[key] = r.file(k, value)
        elif key == "canary":
            values[key] = r.strings(k, value)
            for i, prefix in enumerate(values[key]):
                if not prefix.startswith("/"):
                    raise r.fail((key, i), f"{prefix!r} must be a path starting with /")
        elif key == "thresholds":
            values[key] = _thresholds(r, value)
        elif key == "windows":
            out = []
            for i, text in enumerate(r.strings(k, value)):
                try:
                    out.append(parse_window(text))
                except ValueError as err:
                    raise r.fail((key, i), str(err)) from None
            values[key] = tuple(out)
        elif key == "exports":
            values[key] = _exports(r, value)
        elif key in ("state", "store"):
            values[key] = r.folder(k, value)
        elif key == "expiry_days":
            values[key] = int(r.number(k, value, integer=True, minimum=1))
        elif key == "lock_timeout":
            values[key] = r.number(k, value, integer=False, minimum=0)
    return Config(**values)


def _tables(r: _Reader, key: str, value: Any, known: Sequence[str]) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise r.fail((key,), f"must be tables: write [[{key}]] sections ({KEYS[key]})")
    for i, table in enumerate(value):
        for name in table:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"known: {', '.join(known)}"
                if name in KEYS:
                    hint = (
                        f"`{name}` is a top-level key: in TOML every key after a [[{key}]] "
                        "line belongs to that table, so move it above the first table"
                    )
                raise r.fail((key, i, name), f"unknown key; {hint}")
    return list(value)


def _logs(r: _Reader, value: Any) -> tuple[LogSpec, ...]:
    out = []
    for i, table in enumerate(_tables(r, "logs", value, _LOG_KEYS)):
        if "path" not in table:
            raise r.fail(("logs", i), "a [[logs]] table needs `path` (a file, glob or folder)")
        path = r.string(("logs", i, "path"), table["path"])
        if path != "-" and not Path(path).expanduser().is_absolute():
            path = str(r.base / Path(path).expanduser())
        fmt = table.get("format")
        out.append(LogSpec(path, None if fmt is None else r.string(("logs", i, "format"), fmt)))
    return tuple(out)


def _exports(r: _Reader, value: Any) -> tuple[ExportSpec, ...]:
    out = []
    for i, table in enumerate(_tables(r, "exports", value, _EXPORT_KEYS)):
        for need in ("format", "path"):
            if need not in table:
                raise r.fail(("exports", i), f"an [[exports]] table needs `{need}`")
        fmt_text = r.string(("exports", i, "format"), table["format"])
        try:
            fmt = ExportFormat(fmt_text)
        except ValueError:
            known = ", ".join(m.value for m in ExportFormat)
            raise r.fail(
                ("exports", i, "format"), f"unknown format {fmt_text!r}; use one of {known}"
            ) from None
        cmds = {
            c: r.string(("exports", i, c), table[c]) if c in table else None
            for c in ("check_cmd", "reload_cmd")
        }
        status = 403
        if "status" in table:
            status = int(
                r.number(("exports", i, "status"), table["status"], integer=True, minimum=100)
            )
            if status > 599:
                raise r.fail(("exports", i, "status"), f"{status} is not an HTTP status")
        out.append(
            ExportSpec(
                fmt,
                r.folder(("exports", i, "path"), table["path"]),
                check_cmd=cmds["check_cmd"],
                reload_cmd=cmds["reload_cmd"],
                status=status,
            )
        )
    return tuple(out)


def _thresholds(r: _Reader, value: Any) -> Thresholds:
    if not isinstance(value, dict):
        raise r.fail(("thresholds",), "must be a table: write a [thresholds] section")
    for key, item in value.items():  # one at a time, so the error names the key's own line
        Thresholds.from_mapping({key: item}, where=f"{r.where(('thresholds', key))}")
    return Thresholds.from_mapping(dict(value), where=r.where(("thresholds",)))


def template() -> str:
    """The commented configuration `scraperwatch init` writes (every key, safe defaults)."""
    defaults = Thresholds()
    notes = _threshold_notes()
    lines = []
    for f in fields(Thresholds):
        note = f"  # {notes[f.name]}" if f.name in notes else ""
        lines.append(f"# {f.name} = {getattr(defaults, f.name)!r}{note}")
    return TEMPLATE.replace("@THRESHOLDS@", "\n".join(lines))


def _threshold_notes() -> dict[str, str]:
    """The comment beside each field of Thresholds in its source, when the source is there."""
    try:
        source = inspect.getsource(Thresholds)
    except (OSError, TypeError):
        return {}
    found = re.findall(r"^\s+(\w+): [^=\n]+=[^#\n]+#\s*(.+?)\s*$", source, re.MULTILINE)
    return dict(found)


TEMPLATE: Final = """\
# scraperwatch.toml: the nightly scan of the web server's access logs.
# Every key is documented in docs/config.md; options given on the command line win over
# this file. Relative paths are taken from this file's folder.
#
#   scraperwatch scan --config /etc/scraperwatch.toml
#
# TOML: the plain `key = value` lines come first; every line after a [table] or
# [[table]] header belongs to that table.

# Where each log file was left, and the lock that stops two runs at once.
state = "/var/lib/scraperwatch"
# The history of every request (Parquet, one folder per day); verdicts are judged from it.
store = "/var/lib/scraperwatch/store"

# Verdicts are judged over each window, ending at the newest request; a client is an
# offender if it is one in any window (a slow crawler shows up over days).
windows = ["24h", "7d"]

# A block stays in the exports this many days after the client was last seen.
expiry_days = 7

# Reverse proxies in front of the logging server: the client is then taken from
# X-Forwarded-For, as nginx's realip module does ("unix:" for a unix socket).
# trusted_proxies = ["127.0.0.1", "::1"]

# The instance's terms: a shipped policy name or a policy file (docs/rules.md).
# policy = "mastodon-social"

# Addresses and networks that are never offenders (your monitoring, your own servers).
# allowlist = ["203.0.113.7", "2001:db8::/48"]

# Loopback and private addresses are never offenders unless this is false.
# allow_private = true

# Extra rule folders, crawler address ranges, and the instance's robots.txt.
# rules = ["/etc/scraperwatch/rules"]
# ranges = ["/etc/scraperwatch/ranges"]
# robots = "/home/mastodon/live/public/robots.txt"

# Paths linked nowhere: one request is proof of a crawler that ignores robots.txt.
# canary = ["/trap-9f3c/"]

# MaxMind GeoLite2 or DB-IP databases: ASN, organisation and country in each verdict.
# asn_db = "/var/lib/GeoIP/GeoLite2-ASN.mmdb"
# geo_db = "/var/lib/GeoIP/GeoLite2-Country.mmdb"

# Exit 1 when any client is to be blocked (to alert on the job); fail on any line that
# does not parse; wait this many seconds for another run to finish.
# fail_on_offenders = false
# strict = false
# lock_timeout = 0

# The access logs. Name the live file: its rotations (access.log.1, access.log.2.gz ...)
# are followed to finish what earlier runs started. `format` is a name (combined, main,
# vhost, timed, upstreaminfo, caddy ...) or the log_format string from nginx.conf; leave
# it out to have the format detected per file.
[[logs]]
path = "/var/log/nginx/access.log"
format = "combined"

# [[logs]]
# path = "/var/log/caddy/access.log"
# format = "caddy"

# Exports written after each run. check_cmd runs after writing (the previous file is put
# back if it fails); reload_cmd runs only after a passing check. Keep the nginx export in
# a folder of its own (the service may write only there) and include it in nginx.conf:
#   include /etc/nginx/scraperwatch/*.conf;
[[exports]]
format = "nginx"
path = "/etc/nginx/scraperwatch/blocklist.conf"
check_cmd = "nginx -t"
reload_cmd = "systemctl reload nginx"
# status = 403

# [[exports]]
# format = "json"
# path = "/var/lib/scraperwatch/offenders.json"

# Behaviour thresholds (docs/config.md); the values shown are the defaults.
[thresholds]
@THRESHOLDS@
"""
