"""Detect stage: the crawler range snapshot files: their format, reading, and where they live.

One JSON file per operator (`rules/ranges/<operator>.json`, docs/ranges.md), refreshed copies
written by `scraperwatch ranges update`, and the user's overrides (`.json` or `<operator>.txt`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from scraperwatch.errors import RangesError

OPERATOR_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class SourceFormat(StrEnum):
    """How an operator publishes its addresses: the parser `ranges update` uses for source_url."""

    GOOGLE_JSON = "google-json"  # {"creationTime", "prefixes": [{"ipv4Prefix"|"ipv6Prefix"}]}
    OPENAI_JSON = "openai-json"  # the same shape, served by openai.com
    BING_JSON = "bing-json"  # the same shape, served by bing.com
    JSON_CIDR_LIST = "json-cidr-list"  # a JSON array of CIDR strings
    PLAIN_CIDR_LIST = "plain-cidr-list"  # text, one CIDR or address a line, '#' comments
    AMAZON_HTML = "amazon-html"  # an HTML page with the google-json shape inside <pre>
    ANUBIS_YAML = "anubis-yaml"  # a TecharoHQ/anubis data/crawlers file (snapshot building only)
    MANUAL = "manual"  # published on a web page for people: kept by hand
    FCRDNS = "fcrdns"  # no address list: verified by forward-confirmed reverse DNS only


FETCHABLE: Final = frozenset(
    {
        SourceFormat.GOOGLE_JSON,
        SourceFormat.OPENAI_JSON,
        SourceFormat.BING_JSON,
        SourceFormat.JSON_CIDR_LIST,
        SourceFormat.PLAIN_CIDR_LIST,
        SourceFormat.AMAZON_HTML,
    }
)


class Origin(StrEnum):
    """Where the effective ranges of an operator were read from."""

    SHIPPED = "shipped"  # rules/ranges/ in the package
    UPDATED = "updated"  # written by `scraperwatch ranges update`
    OVERRIDE = "override"  # a file or folder the user gave


# --- prefixes --------------------------------------------------------------------------------
def normalise_prefix(text: str, *, strict: bool = True) -> str:
    """One CIDR (or a bare address, read as /32 or /128) in canonical form.

    strict: a prefix with host bits set (`66.249.66.1/19`) raises ValueError instead of being
    widened to its network; published lists are parsed leniently, hand-written files strictly.
    """
    value = text.strip()
    net = ipaddress.ip_network(value, strict=strict)
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        mapped = net.network_address.ipv4_mapped
        net = ipaddress.IPv4Network((mapped, max(net.prefixlen - 96, 0)), strict=False)
    return str(net)


def sort_prefixes(prefixes: Iterable[str]) -> tuple[str, ...]:
    """Deduplicated and sorted: IPv4 before IPv6, then by address and length."""
    nets = {ipaddress.ip_network(p) for p in prefixes}
    ordered = sorted(nets, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    return tuple(str(n) for n in ordered)


# --- one operator ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OperatorRanges:
    """The published ranges of one crawler operator, with where and when they were fetched."""

    operator: str
    prefixes: tuple[str, ...]
    agents: tuple[str, ...] = ()
    source_url: str | None = None
    source_format: SourceFormat = SourceFormat.MANUAL
    fetched: date | None = None
    published: str | None = None  # the publisher's own timestamp (creationTime), as given
    derived_from: Mapping[str, str | None] = field(default_factory=dict)
    rdns: tuple[str, ...] = ()
    note: str | None = None
    origin: Origin = Origin.SHIPPED
    path: Path | None = None

    @property
    def v4_count(self) -> int:
        return sum(1 for p in self.prefixes if ":" not in p)

    @property
    def v6_count(self) -> int:
        return sum(1 for p in self.prefixes if ":" in p)

    def age_days(self, today: date | None = None) -> int | None:
        if self.fetched is None:
            return None
        return ((today or today_utc()) - self.fetched).days

    def to_json(self) -> str:
        """The snapshot file text: stable key order and sorted prefixes, so diffs stay small."""
        data: dict[str, Any] = {
            "operator": self.operator,
            "agents": list(self.agents),
            "source_url": self.source_url,
            "source_format": str(self.source_format),
            "fetched": self.fetched.isoformat() if self.fetched else None,
        }
        if self.published is not None:
            data["published"] = self.published
        data["derived_from"] = dict(self.derived_from)
        data["rdns"] = list(self.rdns)
        if self.note is not None:
            data["note"] = self.note
        data["prefixes"] = list(sort_prefixes(self.prefixes))
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def today_utc() -> date:
    return datetime.now(UTC).date()


def _fail(path: Path, what: str, fix: str) -> RangesError:
    return RangesError(f"{path}: {what}; {fix}")


def _str_list(path: Path, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"key `{key}` must be a list of strings", "fix the file")
    return tuple(value)


def _parse_prefixes(path: Path, values: Iterable[str]) -> tuple[str, ...]:
    out = []
    for n, value in enumerate(values, 1):
        try:
            out.append(normalise_prefix(value))
        except ValueError as err:
            raise _fail(
                path,
                f"prefix {n} ({value!r}) is not a valid CIDR ({err})",
                "write it as an address or a network such as 66.249.64.0/19 or 2001:db8::/32",
            ) from None
    return sort_prefixes(out)


def _parse_date(path: Path, key: str, value: object) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _fail(
            path, f"key `{key}` is {value!r}, not a date", "write it as 2026-11-23"
        ) from None


def snapshot_from_mapping(
    data: object, path: Path, *, origin: Origin = Origin.SHIPPED
) -> OperatorRanges:
    """Validate one snapshot (the JSON of a rules/ranges file) and build its OperatorRanges."""
    if not isinstance(data, dict):
        raise _fail(path, "a ranges snapshot must be a JSON object", "see docs/ranges.md")
    name = data.get("operator")
    if not isinstance(name, str) or not OPERATOR_NAME.match(name):
        raise _fail(
            path, f"key `operator` is {name!r}", "give a lower-case name such as `googlebot`"
        )
    if path.suffix == ".json" and path.stem != name:
        raise _fail(
            path, f"operator {name!r} differs from the file name", f"rename it to {name}.json"
        )
    fmt_text = data.get("source_format", SourceFormat.MANUAL)
    try:
        fmt = SourceFormat(fmt_text)
    except ValueError:
        known = ", ".join(f.value for f in SourceFormat)
        raise _fail(path, f"unknown `source_format` {fmt_text!r}", f"use one of {known}") from None
    url = data.get("source_url")
    if url is not None and not isinstance(url, str):
        raise _fail(path, "key `source_url` must be a string or null", "fix the file")
    derived = data.get("derived_from", {})
    if not isinstance(derived, dict):
        derived = {"source": str(derived)}
    rdns = tuple(
        s.lower() if s.startswith(".") else "." + s.lower() for s in _str_list(path, data, "rdns")
    )
    note = data.get("note")
    published = data.get("published")
    return OperatorRanges(
        operator=name,
        prefixes=_parse_prefixes(path, _str_list(path, data, "prefixes")),
        agents=_str_list(path, data, "agents"),
        source_url=url,
        source_format=fmt,
        fetched=_parse_date(path, "fetched", data.get("fetched")),
        published=str(published) if published is not None else None,
        derived_from={str(k): (None if v is None else str(v)) for k, v in derived.items()},
        rdns=rdns,
        note=str(note) if note is not None else None,
        origin=origin,
        path=path,
    )


def read_snapshot(path: Path, *, origin: Origin = Origin.SHIPPED) -> OperatorRanges:
    """Read one `<operator>.json` snapshot file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise RangesError(f"{path}: cannot read ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(path, f"not valid JSON ({err})", "fix it or delete it") from None
    return snapshot_from_mapping(data, path, origin=origin)


_DIRECTIVE = re.compile(r"^#\s*(agents|rdns|source_url|fetched|merge)\s*:\s*(.*)$", re.I)


def read_cidr_text(path: Path, base: OperatorRanges | None) -> tuple[OperatorRanges, bool]:
    """Read `<operator>.txt`: one CIDR or address a line, `#` comments.

    Comment lines `# agents: A, B`, `# rdns: .example.com`, `# fetched: 2026-11-01`,
    `# source_url: URL` and `# merge: extend` set the snapshot's fields. Returns the ranges
    and whether they extend (rather than replace) the operator's other ranges.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise RangesError(f"{path}: cannot read ({err})") from None
    name = path.stem
    if not OPERATOR_NAME.match(name):
        raise _fail(path, f"{name!r} is not an operator name", "name the file <operator>.txt")
    directives: dict[str, str] = {}
    values: list[str] = []
    for line in lines:
        m = _DIRECTIVE.match(line.strip())
        if m:
            directives[m.group(1).lower()] = m.group(2).strip()
            continue
        text = line.split("#", 1)[0].strip()
        if text:
            values.append(text)
    merge = directives.get("merge", "replace").lower()
    if merge not in ("replace", "extend"):
        raise _fail(path, f"`# merge: {merge}`", "write `# merge: extend` or `# merge: replace`")

    def listed(key: str) -> tuple[str, ...] | None:
        if key not in directives:
            return None
        return tuple(v.strip() for v in directives[key].split(",") if v.strip())

    fetched = _parse_date(path, "fetched", directives.get("fetched"))
    if fetched is None:
        fetched = datetime.fromtimestamp(path.stat().st_mtime, UTC).date()
    rdns = listed("rdns")
    ranges = OperatorRanges(
        operator=name,
        prefixes=_parse_prefixes(path, values),
        agents=listed("agents") or (base.agents if base else ()),
        source_url=directives.get("source_url") or (base.source_url if base else None),
        source_format=base.source_format if base else SourceFormat.MANUAL,
        fetched=fetched,
        derived_from={"source": str(path), "origin": "local override", "licence": None},
        rdns=tuple(s if s.startswith(".") else "." + s for s in rdns)
        if rdns is not None
        else (base.rdns if base else ()),
        origin=Origin.OVERRIDE,
        path=path,
    )
    return ranges, merge == "extend"


# --- where snapshots live --------------------------------------------------------------------
def shipped_ranges_dir() -> Path:
    """The snapshots shipped with the package (rules/ranges, installed as scraperwatch._rules)."""
    try:
        import scraperwatch._rules as rules  # a namespace package: data only

        for folder in rules.__path__:
            if (Path(folder) / "ranges").is_dir():
                return Path(folder) / "ranges"
    except ModuleNotFoundError:
        pass
    # A source checkout run without installing: rules/ sits beside the package.
    return Path(__file__).resolve().parents[2] / "rules" / "ranges"


def default_updates_dir() -> Path:
    """Where `ranges update` writes and `load_ranges` reads refreshed snapshots.

    /var/lib/scraperwatch/ranges for root, else $XDG_DATA_HOME/scraperwatch/ranges
    (~/.local/share/scraperwatch/ranges).
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/scraperwatch/ranges")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "scraperwatch" / "ranges"


def snapshot_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))


def apply_update(ops: dict[str, OperatorRanges], new: OperatorRanges) -> None:
    old = ops.get(new.operator)
    if old is None:
        ops[new.operator] = new
        return
    if old.fetched is not None and (new.fetched is None or new.fetched < old.fetched):
        return
    ops[new.operator] = replace(
        old,
        prefixes=new.prefixes,
        fetched=new.fetched,
        published=new.published,
        derived_from=new.derived_from,
        origin=Origin.UPDATED,
        path=new.path,
    )


def override_files(item: Path) -> list[Path]:
    if item.is_dir():
        files = sorted(
            p
            for p in item.iterdir()
            if p.suffix in (".json", ".txt") and p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise RangesError(
                f"{item}: no <operator>.json or <operator>.txt range files in this folder"
            )
        return files
    if not item.exists():
        raise RangesError(f"{item}: no such ranges file or folder")
    if item.suffix not in (".json", ".txt"):
        raise RangesError(
            f"{item}: a ranges override is <operator>.json (snapshot format) or "
            "<operator>.txt (one CIDR a line); rename the file"
        )
    return [item]


def apply_override(ops: dict[str, OperatorRanges], path: Path) -> None:
    if path.suffix == ".txt":
        new, extend = read_cidr_text(path, ops.get(path.stem))
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _fail(path, f"not valid JSON ({err})", "fix the file") from None
        extend = isinstance(data, dict) and data.get("merge") == "extend"
        new = snapshot_from_mapping(data, path, origin=Origin.OVERRIDE)
    old = ops.get(new.operator)
    if extend and old is not None:
        new = replace(
            old,
            prefixes=sort_prefixes((*old.prefixes, *new.prefixes)),
            origin=Origin.OVERRIDE,
            path=path,
        )
    ops[new.operator] = new
