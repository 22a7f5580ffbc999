"""Detect stage: the published sources of crawler ranges: parse, fetch, refresh, and rebuild.

`update_ranges` is `scraperwatch ranges update`: fetch each operator's source_url, parse it by
its source_format, and write the new snapshot atomically, keeping the old one on any failure.
`build_snapshots` rebuilds the shipped rules/ranges/ snapshots from the third-party copies in
shared/external/published-ranges/ (maintainers only), so that they are reproducible.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Final

from scraperwatch import __version__
from scraperwatch.detect.rangefiles import (
    FETCHABLE,
    OperatorRanges,
    Origin,
    SourceFormat,
    normalise_prefix,
    sort_prefixes,
    today_utc,
)
from scraperwatch.detect.ranges import RangeSet
from scraperwatch.errors import OutputError, RangesError

MAX_BYTES: Final = 16 * 1024 * 1024
USER_AGENT: Final = f"scraperwatch/{__version__} (ranges update)"


class SourceParseError(RangesError):
    """A fetched source is not in the format its snapshot names."""


@dataclass(frozen=True)
class ParsedSource:
    prefixes: tuple[str, ...]
    published: str | None = None  # the publisher's creationTime, when it gives one


# --- parsers ---------------------------------------------------------------------------------
def _prefix(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise SourceParseError(f"{where}: {value!r} is not a CIDR string")
    try:
        return normalise_prefix(value, strict=False)
    except ValueError as err:
        raise SourceParseError(f"{where}: {value!r} is not a CIDR ({err})") from None


def _from_json_value(data: object) -> ParsedSource:
    published = None
    if isinstance(data, dict):
        if "prefixes" not in data:
            raise SourceParseError("the JSON object has no `prefixes` key")
        published = data.get("creationTime")
        entries = data["prefixes"]
    else:
        entries = data
    if not isinstance(entries, list):
        raise SourceParseError("`prefixes` is not a list")
    out = []
    for n, entry in enumerate(entries):
        if isinstance(entry, dict):
            value = entry.get("ipv4Prefix") or entry.get("ipv6Prefix") or entry.get("ip_prefix")
        else:
            value = entry
        out.append(_prefix(value, f"prefixes[{n}]"))
    return ParsedSource(sort_prefixes(out), None if published is None else str(published))


def parse_json(body: bytes) -> ParsedSource:
    """google-json, openai-json, bing-json and json-cidr-list: the published JSON shapes."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SourceParseError(f"not valid JSON ({err})") from None
    return _from_json_value(data)


def parse_plain(body: bytes) -> ParsedSource:
    """plain-cidr-list: one CIDR or address a line; blank lines and `#` comments ignored."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SourceParseError(f"not UTF-8 text ({err})") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].strip()
        if value:
            out.append(_prefix(value, f"line {n}"))
    return ParsedSource(sort_prefixes(out))


_PRE = re.compile(r"<pre\b[^>]*>(.*?)</pre>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


def parse_amazon_html(body: bytes) -> ParsedSource:
    """amazon-html: Amazon's address pages carry the google-json shape in a <pre> block."""
    text = body.decode("utf-8", errors="replace")
    for block in _PRE.findall(text):
        candidate = html.unescape(_TAG.sub("", block)).strip()
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue  # another code example on the page
        if isinstance(data, dict) and "prefixes" in data:
            return _from_json_value(data)
    raise SourceParseError("the page holds no <pre> block with a JSON `prefixes` list")


def parse_anubis_yaml(body: bytes, rule: str) -> ParsedSource:
    """anubis-yaml: the `remote_addresses` of rule `rule` in a TecharoHQ/anubis crawler file.

    A small reader for the two list styles those files use (flow `[...]` and block `- x`),
    so that building snapshots needs no YAML library.
    """
    lines = body.decode("utf-8").splitlines()
    start = next(
        (
            i
            for i, ln in enumerate(lines)
            if re.match(rf"^- name:\s*\"?{re.escape(rule)}\"?\s*$", ln)
        ),
        None,
    )
    if start is None:
        raise SourceParseError(f"no rule named {rule!r}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("- ")), len(lines))
    item = lines[start:end]
    at = next((i for i, ln in enumerate(item) if ln.strip().startswith("remote_addresses:")), None)
    if at is None:
        raise SourceParseError(f"rule {rule!r} has no remote_addresses")
    rest = item[at].split(":", 1)[1].strip()
    values: list[str] = []
    if rest or (at + 1 < len(item) and item[at + 1].strip().startswith("[")):
        flow = " ".join([rest, *(ln.split("#", 1)[0] for ln in item[at + 1 :])])
        inner = flow[flow.index("[") + 1 : flow.index("]")]
        values = [v.strip().strip("\"'") for v in inner.split(",") if v.strip()]
    else:
        for ln in item[at + 1 :]:
            m = re.match(r"^\s+-\s+(\S+)", ln)
            if m:
                values.append(m.group(1).strip("\"'"))
            elif ln.strip() and not ln.strip().startswith("#"):
                break
    return ParsedSource(sort_prefixes(_prefix(v, f"rule {rule}") for v in values))


PARSERS: Final[dict[SourceFormat, Callable[[bytes], ParsedSource]]] = {
    SourceFormat.GOOGLE_JSON: parse_json,
    SourceFormat.OPENAI_JSON: parse_json,
    SourceFormat.BING_JSON: parse_json,
    SourceFormat.JSON_CIDR_LIST: parse_json,
    SourceFormat.PLAIN_CIDR_LIST: parse_plain,
    SourceFormat.AMAZON_HTML: parse_amazon_html,
}


# --- fetching --------------------------------------------------------------------------------
def fetch_url(url: str, timeout: float) -> bytes:
    """GET one http(s) URL with the standard library; errors become SourceParseError messages."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise SourceParseError(f"{url}: only http and https sources can be fetched")
    request = urllib.request.Request(
        url,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json, text/plain, */*"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as err:
        err.close()
        raise SourceParseError(f"{url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise SourceParseError(f"{url}: no answer within {timeout:g} s") from None
        raise SourceParseError(f"{url}: cannot fetch ({err.reason})") from None
    except TimeoutError:
        raise SourceParseError(f"{url}: no answer within {timeout:g} s") from None
    except OSError as err:
        raise SourceParseError(f"{url}: cannot fetch ({err})") from None
    if len(body) > MAX_BYTES:
        raise SourceParseError(f"{url}: larger than {MAX_BYTES // 2**20} MiB, not an address list")
    return body


def rebase_url(url: str, base: str) -> str:
    """`https://openai.com/gptbot.json` on base `http://127.0.0.1:8000/m` gives
    `http://127.0.0.1:8000/m/openai.com/gptbot.json`: a mirror laid out by host and path."""
    parts = urllib.parse.urlsplit(url)
    tail = parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")
    return base.rstrip("/") + "/" + tail


# --- writing ---------------------------------------------------------------------------------
def write_snapshot(ranges: OperatorRanges, directory: Path) -> Path:
    """Write `<operator>.json` atomically (a temporary file in the same folder, then rename)."""
    target = directory / f"{ranges.operator}.json"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{ranges.operator}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(ranges.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).chmod(0o644)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise OutputError(
            f"{target}: cannot write the ranges snapshot ({err.strerror}); "
            "give a writable folder with --dir"
        ) from None
    return target


# --- ranges update ---------------------------------------------------------------------------
class UpdateStatus(StrEnum):
    UPDATED = "updated"  # the prefixes changed
    UNCHANGED = "unchanged"  # same prefixes; the fetched date moved on
    FAILED = "failed"  # fetch or parse failed: the previous snapshot stays
    SKIPPED = "skipped"  # no machine-readable source to fetch


@dataclass(frozen=True)
class UpdateResult:
    operator: str
    status: UpdateStatus
    message: str
    prefixes: int = 0
    added: int = 0
    removed: int = 0
    path: Path | None = None


Fetcher = Callable[[str, float], bytes]


def update_ranges(
    ranges: RangeSet,
    directory: Path,
    *,
    operators: Sequence[str] = (),
    timeout: float = 30.0,
    source_base: str | None = None,
    today: date | None = None,
    fetch: Fetcher = fetch_url,
) -> list[UpdateResult]:
    """Refresh operators' snapshots from their source_url into `directory`.

    A failure of one operator is a FAILED result that leaves its old file in place; only an
    unknown operator name or an unwritable folder raises.
    """
    unknown = [o for o in operators if o not in ranges]
    if unknown:
        raise RangesError(
            f"unknown operator {', '.join(unknown)}; known: {', '.join(ranges.operators)}"
        )
    day = today or today_utc()
    results = []
    for name in operators or ranges.operators:
        old = ranges[name]
        if old.source_format not in FETCHABLE or not old.source_url:
            why = (
                "publishes no address list (reverse DNS only)"
                if old.source_format == SourceFormat.FCRDNS
                else f"no machine-readable source ({old.source_url or 'none'}): keep it by hand"
            )
            results.append(UpdateResult(name, UpdateStatus.SKIPPED, why, len(old.prefixes)))
            continue
        url = rebase_url(old.source_url, source_base) if source_base else old.source_url
        try:
            parsed = PARSERS[old.source_format](fetch(url, timeout))
            if not parsed.prefixes:
                raise SourceParseError(f"{url}: the list is empty")
        except SourceParseError as err:
            msg = str(err) if str(err).startswith(url) else f"{url}: {err}"
            results.append(
                UpdateResult(
                    name, UpdateStatus.FAILED, f"{msg}; kept the previous ranges", len(old.prefixes)
                )
            )
            continue
        new = replace(
            old,
            prefixes=parsed.prefixes,
            fetched=day,
            published=parsed.published,
            derived_from={"source": url, "origin": "scraperwatch ranges update", "licence": None},
            origin=Origin.UPDATED,
        )
        path = write_snapshot(new, directory)
        before, after = set(old.prefixes), set(new.prefixes)
        added, removed = len(after - before), len(before - after)
        status = UpdateStatus.UPDATED if added or removed else UpdateStatus.UNCHANGED
        results.append(
            UpdateResult(
                name,
                status,
                f"{len(after)} prefixes (+{added} -{removed}) from {url}",
                len(after),
                added,
                removed,
                path,
            )
        )
    return results


# --- the shipped snapshots -------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotSpec:
    """How one shipped snapshot is built: the operator's facts and the third-party copy used."""

    operator: str
    agents: tuple[str, ...]
    source_url: str
    source_format: SourceFormat
    rdns: tuple[str, ...] = ()
    file: str | None = None  # under shared/external/published-ranges/
    rule: str | None = None  # the Anubis rule name, for anubis-yaml files
    fetched: str | None = None
    origin: str | None = None
    licence: str | None = None
    note: str | None = None


_ANUBIS = "TecharoHQ/anubis data/crawlers/{}, commit 2f45638 (2026-08-20)"
_ANUBIS_NOTE = (
    "Anubis refreshes its embedded lists by hand, so these prefixes may be older than the "
    "commit date recorded as `fetched`."
)
_HYPERWATCH = "hyperwatch/hyperwatch src/data/{}, snapshot of March 2026"
_HYPERWATCH_NOTE = "The hyperwatch snapshot records the month only; `fetched` is its first day."
_GOOGLE = "https://developers.google.com/static/crawling/ipranges/"
_AMAZON = "https://developer.amazon.com/amazonbot/"


def _anubis(
    op: str,
    agents: tuple[str, ...],
    url: str,
    fmt: SourceFormat,
    file: str,
    rule: str,
    rdns: tuple[str, ...] = (),
) -> SnapshotSpec:
    return SnapshotSpec(
        op,
        agents,
        url,
        fmt,
        rdns=rdns,
        file=f"anubis-crawlers/{file}",
        rule=rule,
        fetched="2026-08-20",
        origin=_ANUBIS.format(file),
        licence="MIT",
        note=_ANUBIS_NOTE,
    )


def _hyperwatch(
    op: str, agents: tuple[str, ...], url: str, fmt: SourceFormat, file: str
) -> SnapshotSpec:
    return SnapshotSpec(
        op,
        agents,
        url,
        fmt,
        file=file,
        fetched="2026-03-01",
        origin=_HYPERWATCH.format(file),
        licence="Apache-2.0",
        note=_HYPERWATCH_NOTE,
    )


def _unfetched(
    op: str, agents: tuple[str, ...], url: str, rdns: tuple[str, ...] = ()
) -> SnapshotSpec:
    return SnapshotSpec(
        op,
        agents,
        url,
        SourceFormat.GOOGLE_JSON,
        rdns=rdns,
        note="No copy of this list was available when the package was built: run "
        "`scraperwatch ranges update` to fetch it.",
    )


G = SourceFormat.GOOGLE_JSON
# fmt: off
SNAPSHOT_SPECS: Final[tuple[SnapshotSpec, ...]] = (
    _anubis("googlebot", ("Googlebot", "Storebot-Google", "GoogleOther", "Google-InspectionTool"),
            _GOOGLE + "common-crawlers.json", G, "googlebot.yaml", "googlebot",
            rdns=(".googlebot.com", ".google.com")),
    _unfetched("google-special", ("AdsBot-Google",), _GOOGLE + "special-crawlers.json",
               rdns=(".google.com",)),
    _anubis("bingbot", ("bingbot",), "https://www.bing.com/toolbox/bingbot.json",
            SourceFormat.BING_JSON, "bingbot.yaml", "bingbot", rdns=(".search.msn.com",)),
    _anubis("applebot", ("Applebot",), "https://search.developer.apple.com/applebot.json", G,
            "applebot.yaml", "applebot", rdns=(".applebot.apple.com",)),
    _anubis("duckduckbot", ("DuckDuckBot",), "https://duckduckgo.com/duckduckbot.json", G,
            "duckduckbot.yaml", "duckduckbot"),
    _unfetched("duckassistbot", ("DuckAssistBot",), "https://duckduckgo.com/duckassistbot.json"),
    _hyperwatch("gptbot", ("GPTBot",), "https://openai.com/gptbot.json",
                SourceFormat.OPENAI_JSON, "gptbot-ips.json"),
    _hyperwatch("oai-searchbot", ("OAI-SearchBot",), "https://openai.com/searchbot.json",
                SourceFormat.OPENAI_JSON, "openai-searchbot-ips.json"),
    _hyperwatch("chatgpt-user", ("ChatGPT-User",), "https://openai.com/chatgpt-user.json",
                SourceFormat.OPENAI_JSON, "chatgpt-user-ips.json"),
    _unfetched("claudebot", ("ClaudeBot", "Claude-SearchBot", "Claude-User"),
               "https://claude.com/crawling/bots.json"),
    _anubis("perplexitybot", ("PerplexityBot",), "https://www.perplexity.ai/perplexitybot.json", G,
            "perplexitybot.yaml", "perplexitybot"),
    _unfetched("perplexity-user", ("Perplexity-User",),
               "https://www.perplexity.ai/perplexity-user.json"),
    _unfetched("mistralai-user", ("MistralAI-User",), "https://mistral.ai/mistralai-user-ips.json"),
    _anubis("ccbot", ("CCBot",), "https://index.commoncrawl.org/ccbot.json", G,
            "commoncrawl.yaml", "common-crawl"),
    _hyperwatch("amazonbot", ("Amazonbot",), _AMAZON + "ip-addresses/", SourceFormat.AMAZON_HTML,
                "amazonbot-ips.json"),
    _hyperwatch("amzn-searchbot", ("Amzn-SearchBot",), _AMAZON + "searchbot-ip-addresses/",
                SourceFormat.AMAZON_HTML, "amazon-searchbot-ips.json"),
    _hyperwatch("amzn-user", ("Amzn-User",), _AMAZON + "live-ip-addresses/",
                SourceFormat.AMAZON_HTML, "amazon-user-ips.json"),
    _anubis("qwantbot", ("Qwantbot",),
            "https://help.qwant.com/wp-content/uploads/sites/latest/qwantbot.json", G,
            "qwantbot.yaml", "qwantbot"),
    _anubis("mojeekbot", ("MojeekBot",), "https://www.mojeek.com/mojeekbot.json", G,
            "mojeekbot.yaml", "mojeekbot"),
    _anubis("kagibot", ("Kagibot",), "https://kagi.com/bot", SourceFormat.MANUAL,
            "kagibot.yaml", "kagibot"),
    SnapshotSpec("yandexbot", ("YandexBot",), "http://yandex.com/bots", SourceFormat.FCRDNS,
                 rdns=(".yandex.ru", ".yandex.com", ".yandex.net"), file="anubis-crawlers/yandexbot.yaml",
                 fetched="2026-08-20", origin=_ANUBIS.format("yandexbot.yaml"), licence="MIT",
                 note="Yandex publishes no address list; its robots are verified by "
                 "forward-confirmed reverse DNS under yandex.ru, yandex.com or yandex.net."),
)
# fmt: on


def build_snapshot(spec: SnapshotSpec, external_dir: Path) -> OperatorRanges:
    """One shipped snapshot from its spec and the third-party copy in `external_dir`."""
    prefixes: tuple[str, ...] = ()
    if spec.file is not None and spec.source_format != SourceFormat.FCRDNS:
        path = external_dir / spec.file
        try:
            body = path.read_bytes()
        except OSError as err:
            raise RangesError(f"{path}: cannot read ({err.strerror})") from None
        try:
            parsed = parse_anubis_yaml(body, spec.rule) if spec.rule else parse_json(body)
        except SourceParseError as err:
            raise RangesError(f"{path}: {err}") from None
        prefixes = parsed.prefixes
    derived: dict[str, str | None] = {}
    if spec.file is not None:
        derived = {
            "file": f"published-ranges/{spec.file}",
            "origin": spec.origin,
            "licence": spec.licence,
        }
    return OperatorRanges(
        operator=spec.operator,
        prefixes=prefixes,
        agents=spec.agents,
        source_url=spec.source_url,
        source_format=spec.source_format,
        fetched=date.fromisoformat(spec.fetched) if spec.fetched else None,
        derived_from=derived,
        rdns=spec.rdns,
        note=spec.note,
    )


def build_snapshots(external_dir: Path, out_dir: Path) -> list[Path]:
    """Rebuild every shipped snapshot from shared/external/published-ranges into `out_dir`."""
    return [write_snapshot(build_snapshot(s, external_dir), out_dir) for s in SNAPSHOT_SPECS]
