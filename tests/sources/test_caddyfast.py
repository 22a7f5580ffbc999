"""The fast Caddy reader (DuckDB, sources/caddyfast.py) gives what the line reader gives.

The fast reader is an optimisation that must never change a result. Every input here is read
twice, with `fast_json` on and off, and both reads must agree on everything: the requests,
the rejected lines, each file's counts and notes. On clean files the fast path must really be
taken (report.reader == "duckdb"); each reason to fall back to the line reader is shown on a
small file of its own, with the reason the report gives. Three known differences are pinned
(docs/schema.md, "Two readers for Caddy"), and a hypothesis property feeds both readers
Caddy-like lines with odd values in every field.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import EXTERNAL_FIXTURES, LOG_FIXTURES, Ingested, load_generator
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scraperwatch import schema as s
from scraperwatch.errors import ScraperwatchError
from scraperwatch.reader import FileReport, ReadOptions, open_inputs
from scraperwatch.sources import caddyfast
from scraperwatch.sources.caddy import DOCKER_PREFIX, UNSURE_REASON, CaddySource
from scraperwatch.sources.fields import REASON, ROW
from scraperwatch.sources.files import expand_inputs

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOGS = ROOT / "sample_logs"
LNAV = EXTERNAL_FIXTURES / "lnav"
CROWDSEC_CADDY = EXTERNAL_FIXTURES / "crowdsec" / "caddy-logs"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
TS = 1763000000.25  # 2025-11-13T02:13:20.25Z
DROP = object()  # a field value that leaves the field out of the line
BLANK_LINES = re.compile(r"^DuckDB gave \d+ rows for \d+ lines \(blank lines\?\)$")
REJECTED_ROWS = "lines were rejected, and a rejected record needs the line's text"
NO_TS = "no usable `ts` time (Caddy's time_format must be a number or RFC 3339 with a zone)"


@pytest.fixture(autouse=True, scope="module")
def _fast_json_allowed() -> Iterator[None]:
    """SCRAPERWATCH_FAST_JSON=0 in the environment would turn the fast reader off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SCRAPERWATCH_FAST_JSON", raising=False)
        yield


# --- helpers ------------------------------------------------------------------------------


def read(
    paths: Sequence[Path],
    *,
    fast: bool,
    log_format: str | None = "caddy",
    line_offsets: Sequence[int] = (),
) -> Ingested:
    """Read files through the real reader, with the fast reader allowed or not."""
    options = ReadOptions(log_format=log_format, fast_json=fast)
    logs = open_inputs(expand_inputs(list(paths)), options, line_offsets=line_offsets)
    try:
        (requests,), rejected = logs.run(lambda r: [r])
    finally:
        logs.cleanup()
    return Ingested(requests, rejected, logs.reports)


FALLBACK_NOTE = "read by the line reader, not DuckDB: "


def _file_counts(rep: FileReport) -> tuple[object, ...]:
    return (
        rep.name,
        rep.format,
        rep.how,
        rep.lines,
        rep.parsed,
        rep.skipped,
        rep.rejected,
        # (the fast read's own note when it fell back is checked by the tests of fallbacks)
        [n for n in rep.notes if not n.startswith(FALLBACK_NOTE)],
    )


def assert_same(fast: Ingested, slow: Ingested) -> None:
    """Both reads gave the very same requests, rejected lines, counts and notes."""
    key = [s.SOURCE_FILE, s.LINE_NO]
    fast_requests, slow_requests = fast.requests.sort(key), slow.requests.sort(key)
    assert_frame_equal(fast_requests, slow_requests, check_exact=True)
    assert fast_requests.equals(slow_requests)
    assert_frame_equal(fast.rejected.sort(key), slow.rejected.sort(key), check_exact=True)
    assert [_file_counts(r) for r in fast.reports] == [_file_counts(r) for r in slow.reports]
    assert [(r.reader, r.fallback) for r in slow.reports] == [("lines", None)] * len(slow.reports)


def same(paths: Sequence[Path], **kwargs: Any) -> Ingested:
    """Read with both readers, assert that they agree, and return the fast read."""
    fast = read(paths, fast=True, **kwargs)
    assert_same(fast, read(paths, fast=False, **kwargs))
    return fast


def caddy(n: int = 1, *, request: dict[str, Any] | None = None, **top: Any) -> str:
    """An access-log line as Caddy 2.7+ writes it (compact JSON, UTF-8), request `n` of a
    client; `top` and `request` replace fields (DROP leaves one out)."""
    req: dict[str, Any] = {
        "remote_ip": "192.0.2.5",
        "remote_port": "40000",
        "client_ip": "192.0.2.5",
        "proto": "HTTP/2.0",
        "method": "GET",
        "host": "social.example",
        "uri": f"/@alice/{n}?page=2",
        "headers": {"User-Agent": [UA], "Accept": ["text/html"], "Accept-Encoding": ["gzip"]},
        "tls": {"resumed": False, "version": 772, "proto": "h2"},
    }
    doc: dict[str, Any] = {
        "level": "info",
        "ts": TS + n,
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": req | (request or {}),
        "bytes_read": 0,
        "user_id": "",
        "duration": 0.0012,
        "size": 1000 + n,
        "status": 200,
        "resp_headers": {"Server": ["Caddy"], "Content-Type": ["text/html"]},
    } | top
    doc["request"] = {k: v for k, v in doc["request"].items() if v is not DROP}
    doc = {k: v for k, v in doc.items() if v is not DROP}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def write(path: Path, lines: Sequence[str | bytes], *, end: bytes = b"\n") -> Path:
    data = b"\n".join(x if isinstance(x, bytes) else x.encode("utf-8") for x in lines)
    path.write_bytes(data + end if lines else b"")
    return path


def around(odd: str | bytes) -> list[str | bytes]:
    """Four good lines with the odd one in the middle (line 3)."""
    return [caddy(1), caddy(2), odd, caddy(4), caddy(5)]


def fast_reasons(path: Path) -> dict[int, str | None]:
    """What the fast reader alone says of each line: None (a request) or its reason."""
    frame = CaddySource().fields(caddyfast.scan(path)).select(ROW, REASON).collect()
    return dict(frame.iter_rows())


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 lines of benchmarks/generate_logs.py's Caddy log (24 MB), plain."""
    out = tmp_path_factory.mktemp("generated") / "caddy.access.log"
    args = ["--format", "caddy", "--lines", "20000", "--seed", "11", "-o", str(out)]
    assert load_generator().main(args) == 0
    return out


# --- 1. the same result on real Caddy data ------------------------------------------------


def test_sample_logs_caddy_files(tmp_path: Path) -> None:
    """Every Caddy file of sample_logs/ (by format detection): the compressed file as it is
    (the line reader reads compressed files) and inflated (the fast reader reads it)."""
    caddy_files = []
    for path in sorted(SAMPLE_LOGS.iterdir()):
        if not path.is_file() or path.suffix == ".md":
            continue
        logs = open_inputs(expand_inputs([path]), ReadOptions())
        logs.cleanup()
        if logs.reports[0].format != "caddy":
            continue
        caddy_files.append(path.name)
        got = same([path], log_format=None)
        assert got.report.how == "detected"
        assert (got.report.reader, got.report.fallback) == ("lines", None)
        plain = tmp_path / path.name.removesuffix(".gz")
        with gzip.open(path) as fh:
            plain.write_bytes(fh.read())
        got = same([plain], log_format=None)
        assert (got.report.reader, got.report.fallback) == ("duckdb", None)
        assert got.report.lines == got.report.parsed > 1000
    assert caddy_files == ["caddy.access.log.gz"]


def test_generated_log(generated: Path) -> None:
    got = same([generated])
    assert (got.report.reader, got.report.fallback) == ("duckdb", None)
    assert (got.report.lines, got.report.parsed, got.report.rejected) == (20_000, 20_000, 0)
    assert got.requests[s.LINE_NO].to_list() == list(range(1, 20_001))


def _suite_lines() -> dict[str, list[str]]:
    """The Caddy lines of the third-party suites of test_external_suites.py."""
    crowdsec = json.loads((CROWDSEC_CADDY / "parser-expected.derived.json").read_text())
    docker = (LNAV / "logfile_caddy_log.0").read_text(encoding="utf-8").splitlines()
    return {
        "crowdsec": [e["line"] for e in crowdsec["entries"]],
        "lnav-1": (LNAV / "logfile_caddy_log.1").read_text(encoding="utf-8").splitlines(),
        "lnav-0-without-docker-prefix": [re.sub(DOCKER_PREFIX, "", x) for x in docker],
    }


@pytest.mark.parametrize("spaced", [False, True], ids=["as-written", "json-dumps-spaced"])
@pytest.mark.parametrize("suite", sorted(_suite_lines()))
def test_external_suite_lines(tmp_path: Path, suite: str, spaced: bool) -> None:
    """The suites' lines, as their authors wrote them and as test_external_suites.py writes
    them again (json.dumps: a space after each `:` and `,`)."""
    lines = _suite_lines()[suite]
    if spaced:
        lines = [json.dumps(json.loads(x), ensure_ascii=False) for x in lines]
    got = same([write(tmp_path / "caddy.log", lines)])
    assert (got.report.reader, got.report.fallback) == ("duckdb", None)
    assert got.report.lines == len(lines)
    assert got.report.parsed > 0
    assert got.report.rejected == 0


@pytest.mark.parametrize(
    ("path", "reader", "fallback"),
    [
        (LNAV / "logfile_caddy_log.1", "duckdb", None),
        (LOG_FIXTURES / "caddy-as-combined.json", "duckdb", None),
        # The file ends with an empty line, which DuckDB skips.
        (CROWDSEC_CADDY / "caddy-logs.log", "lines", BLANK_LINES),
        # `docker compose logs` output: DuckDB cannot read the prefixed lines.
        (LNAV / "logfile_caddy_log.0", "lines", re.compile(r"^DuckDB could not read it: .*JSON")),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else None,
)
def test_external_files_as_they_are(
    path: Path, reader: str, fallback: re.Pattern[str] | None
) -> None:
    got = same([path], log_format=None)
    assert got.report.format == "caddy"
    assert got.report.reader == reader
    if fallback is None:
        assert got.report.fallback is None
    else:
        assert got.report.fallback is not None
        assert fallback.search(got.report.fallback), got.report.fallback
    assert got.report.rejected == 0


def test_many_files_in_one_read(tmp_path: Path) -> None:
    """Files the fast reader gives up (two of them for DuckDB errors) beside files it reads:
    each falls back alone, and the whole read equals the line reader's."""
    sample = tmp_path / "caddy.access.log"
    with gzip.open(SAMPLE_LOGS / "caddy.access.log.gz") as fh:
        sample.write_bytes(fh.read())
    broken = write(tmp_path / "broken.log", around(caddy(3)[:-40]))
    paths = [
        sample,
        LNAV / "logfile_caddy_log.0",
        LNAV / "logfile_caddy_log.1",
        CROWDSEC_CADDY / "caddy-logs.log",
        broken,
        write(tmp_path / "unsure.log", around(caddy(3, size=5.5))),
    ]
    got = same(paths)
    readers = {Path(r.name).name: (r.reader, r.fallback is None) for r in got.reports}
    assert readers == {
        "caddy.access.log": ("duckdb", True),
        "logfile_caddy_log.0": ("lines", False),
        "logfile_caddy_log.1": ("duckdb", True),
        "caddy-logs.log": ("lines", False),
        "broken.log": ("lines", False),
        "unsure.log": ("lines", False),
    }
    assert got.rejected[s.SOURCE_FILE].to_list() == [str(broken)]


# --- 2. each reason to fall back ----------------------------------------------------------

DUCKDB_FAILS = "DuckDB could not read it: "
UNSURE_ROWS = re.escape(UNSURE_REASON + ": rejected")
CASES_FALLBACK: dict[str, tuple[str | bytes, str, str | None]] = {
    # id: (the odd line 3, a regex the fallback reason matches, the fast reader's own reason
    # for line 3 when it read the file to its end)
    "docker-compose-prefix": (
        "caddy-1  | " + caddy(3),
        DUCKDB_FAILS + "Invalid Input Error: Malformed JSON .*unexpected character",
        None,
    ),
    "blank-line": ("", BLANK_LINES.pattern, None),
    "whitespace-only-line": (" \t ", BLANK_LINES.pattern, None),
    "status-as-string": (caddy(3, status="200"), UNSURE_ROWS, UNSURE_REASON),
    "size-with-fraction": (caddy(3, size=5.5), UNSURE_ROWS, UNSURE_REASON),
    "status-as-float": (
        caddy(3).replace('"status":200', '"status":200.0'),
        UNSURE_ROWS,
        UNSURE_REASON,
    ),
    "status-with-exponent": (
        caddy(3).replace('"status":200', '"status":2e2'),
        UNSURE_ROWS,
        UNSURE_REASON,
    ),
    # A string escape that DuckDB writes back as an escape (it decodes `\u005a`; see below).
    "escape-kept-in-ts": (caddy(3, ts="2026-11-12T10:00:00Z\t"), UNSURE_ROWS, UNSURE_REASON),
    "escape-kept-in-duration": (caddy(3, duration='1.5"ms'), UNSURE_ROWS, UNSURE_REASON),
    "cut-short": (caddy(3)[:-40], DUCKDB_FAILS + "Invalid Input Error: Malformed JSON", None),
    "invalid-utf8": (
        caddy(3).encode().replace(b"Firefox", b"Fire\xff\xfefox"),
        DUCKDB_FAILS + ".*invalid UTF-8",
        None,
    ),
    "nul-byte": (
        caddy(3).encode().replace(b"Firefox", b"Fire\x00fox"),
        DUCKDB_FAILS + ".*control character",
        None,
    ),
    "unusable-ts": (caddy(3, ts="yesterday"), REJECTED_ROWS, NO_TS),
    "status-array": (caddy(3, status=[200]), UNSURE_ROWS, UNSURE_REASON),
    "header-as-string": (
        caddy(3, request={"headers": {"User-Agent": UA}}),
        DUCKDB_FAILS + ".*Expected ARRAY",
        None,
    ),
}


@pytest.mark.parametrize(
    ("odd", "why", "fast_reason"), CASES_FALLBACK.values(), ids=list(CASES_FALLBACK)
)
def test_fallback(tmp_path: Path, odd: str | bytes, why: str, fast_reason: str | None) -> None:
    path = write(tmp_path / "access.log", around(odd))
    got = same([path])
    assert got.report.reader == "lines"
    assert got.report.fallback is not None
    assert re.search(why, got.report.fallback), got.report.fallback
    assert FALLBACK_NOTE + got.report.fallback in got.report.notes, "the summary says why"
    assert got.report.lines == 5
    assert got.requests[s.LINE_NO].to_list()[:2] == [1, 2]
    assert got.requests[s.LINE_NO].to_list()[-2:] == [4, 5], "line numbers after it are right"
    if fast_reason is not None:
        assert fast_reasons(path)[3] == fast_reason


def test_fallback_values(tmp_path: Path) -> None:
    """What the line reader makes of the lines the fast reader gave up (the fast reader would
    read some of them otherwise: 5.5 rounded to 6 where Polars truncates it, "200" as 200)."""
    odd = [
        caddy(1, size=5.5),
        caddy(2).replace('"status":200', '"status":200.0'),
        caddy(3, status="200"),
        "",
        caddy(5, ts="yesterday"),
        caddy(6),
    ]
    got = same([write(tmp_path / "access.log", odd)])
    assert got.report.reader == "lines"
    assert (got.report.lines, got.report.parsed, got.report.skipped, got.report.rejected) == (
        6,
        3,
        1,
        2,
    )
    rows = got.requests.select(s.LINE_NO, s.BYTES_SENT, s.STATUS).rows()
    assert rows == [(1, 5, 200), (2, 1002, 200), (6, 1006, 200)]
    assert got.rejected[s.LINE_NO].to_list() == [3, 5]
    assert got.rejected[s.REASON][1] == NO_TS


# --- 3. what the fast reader reads itself ---------------------------------------------------


def _v6(addr: str) -> dict[str, Any]:
    return {"remote_ip": addr, "client_ip": addr}


CASES_FAST: dict[str, tuple[list[str | bytes], dict[str, Any]]] = {
    # id: (the lines between a good first and last line, values of the second line's request)
    "other-loggers-and-objects": (
        [
            caddy(2, logger="tls.handshake"),
            '{"foo":1}',
            caddy(4, logger="http.handlers.reverse_proxy", msg="upstream roundtrip"),
        ],
        {},
    ),
    "ts-rfc3339": (
        [caddy(2, ts="2026-11-12T10:00:00.123456Z")],
        {s.TS: datetime(2026, 11, 12, 10, 0, 0, 123456, tzinfo=UTC)},
    ),
    "ts-rfc3339-with-offset": (
        [caddy(2, ts="2026-11-12T11:00:00+01:00")],
        {s.TS: datetime(2026, 11, 12, 10, 0, tzinfo=UTC)},
    ),
    # DuckDB writes a JSON-typed value back with the escape decoded: "...Z", no backslash.
    "ts-with-json-escape": (
        [caddy(2, ts="X").replace('"X"', '"2026-11-12T10:00:00\\u005a"')],
        {s.TS: datetime(2026, 11, 12, 10, 0, tzinfo=UTC)},
    ),
    "ts-unix-milli": (
        [caddy(2, ts=1763000000123)],
        {s.TS: datetime(2025, 11, 13, 2, 13, 20, 123000, tzinfo=UTC)},
    ),
    "ts-unix-nano": (
        [caddy(2, ts=1763000000123456789)],
        {s.TS: datetime(2025, 11, 13, 2, 13, 20, 123457, tzinfo=UTC)},
    ),
    "ts-with-exponent": (
        [caddy(2, ts="X").replace('"X"', "1.7630000001e9")],
        {s.TS: datetime(2025, 11, 13, 2, 13, 20, 100000, tzinfo=UTC)},
    ),
    "duration-format-string": ([caddy(2, duration="1.5ms")], {s.REQUEST_TIME: 0.0015}),
    "duration-with-exponent": ([caddy(2, duration=2e-06)], {s.REQUEST_TIME: 2e-06}),
    "header-sent-twice-and-empty-header": (
        [caddy(2, request={"headers": {"Accept": ["a", "b"], "Referer": [""]}})],
        {s.ACCEPT: "a, b", s.REFERER: None, s.USER_AGENT: None},
    ),
    "header-null-items": (
        [caddy(2, request={"headers": {"User-Agent": [None, "x"], "Accept": []}})],
        {s.ACCEPT: None},
    ),
    "ipv6": (
        [caddy(2, request=_v6("2001:DB8:0:0::1"))],
        {s.CLIENT_IP: "2001:db8::1", s.PEER_IP: "2001:db8::1"},
    ),
    "ipv4-mapped": ([caddy(2, request=_v6("::ffff:192.0.2.9"))], {s.CLIENT_IP: "192.0.2.9"}),
    "old-caddy-remote-addr": (
        [
            caddy(
                2,
                request={"remote_ip": DROP, "client_ip": DROP, "remote_addr": "[2001:db8::7]:443"},
            )
        ],
        {s.CLIENT_IP: "2001:db8::7"},
    ),
    "client-ip-behind-a-proxy": (
        [caddy(2, request={"remote_ip": "10.0.0.1", "client_ip": "198.51.100.4"})],
        {s.CLIENT_IP: "198.51.100.4", s.PEER_IP: "10.0.0.1"},
    ),
    "host-with-port": (
        [caddy(2, request={"host": "Social.Example:8443"})],
        {s.HOST: "Social.Example"},
    ),
    "unicode-and-escapes-in-strings": (
        [
            caddy(
                2,
                request={"uri": '/tag/été?q="a\\b"', "headers": {"User-Agent": ["UA\t\u2028é😀"]}},
            )
        ],
        {s.PATH: "/tag/été", s.QUERY: 'q="a\\b"', s.USER_AGENT: "UA\t\u2028é😀"},
    ),
    "ascii-escaped-unicode": (
        [json.dumps(json.loads(caddy(2, request={"uri": "/été"})), ensure_ascii=True)],
        {s.PATH: "/été"},
    ),
    "numbers-where-strings-go": (
        [caddy(2, user_id=7, request={"method": 5, "proto": True})],
        {s.METHOD: "5", s.REMOTE_USER: "7", s.PROTOCOL: "true"},
    ),
    "no-request-headers": ([caddy(2, request={"headers": DROP})], {s.USER_AGENT: None}),
    "user-id": ([caddy(2, user_id="alice")], {s.REMOTE_USER: "alice"}),
}


@pytest.mark.parametrize(("middle", "expect"), CASES_FAST.values(), ids=list(CASES_FAST))
def test_read_by_duckdb(tmp_path: Path, middle: list[str | bytes], expect: dict[str, Any]) -> None:
    lines: list[str | bytes] = [caddy(1), *middle, caddy(9)]
    got = same([write(tmp_path / "access.log", lines)])
    assert (got.report.reader, got.report.fallback) == ("duckdb", None)
    assert got.report.lines == len(lines)
    assert got.report.rejected == 0
    row = got.requests.row(1, named=True) if expect else {}
    assert row == row | expect


def test_other_loggers_are_skipped(tmp_path: Path) -> None:
    lines: list[str | bytes] = [caddy(1), *CASES_FAST["other-loggers-and-objects"][0], caddy(9)]
    got = same([write(tmp_path / "access.log", lines)])
    assert (got.report.parsed, got.report.skipped) == (2, 3)
    assert got.requests[s.LINE_NO].to_list() == [1, 5]


def test_last_line_without_newline(tmp_path: Path) -> None:
    path = write(tmp_path / "access.log", [caddy(1), caddy(2), caddy(3)], end=b"")
    got = same([path])
    assert (got.report.reader, got.report.fallback) == ("duckdb", None)
    assert got.requests[s.LINE_NO].to_list() == [1, 2, 3]


def test_crlf_line_ends(tmp_path: Path) -> None:
    """A log copied through Windows: `\\r\\n` line ends (the line reader drops the `\\r`)."""
    path = write(tmp_path / "access.log", [caddy(1) + "\r", caddy(2) + "\r"])
    got = same([path])
    assert (got.report.reader, got.report.fallback) == ("duckdb", None)
    assert got.report.parsed == 2


def test_empty_file(tmp_path: Path) -> None:
    got = same([write(tmp_path / "access.log", [])])
    assert (got.report.reader, got.report.fallback) == ("duckdb", None)
    assert (got.report.lines, got.requests.height, got.rejected.height) == (0, 0, 0)
    assert got.report.notes == ["the file is empty"]


@pytest.mark.parametrize(
    ("lines", "requests", "rejected", "reader"),
    [
        ([caddy(1), caddy(2), caddy(3)], [101, 102, 103], [], "duckdb"),
        ([caddy(1), "", caddy(3, ts="yesterday"), caddy(4)], [101, 104], [103], "lines"),
    ],
    ids=["clean", "blank-and-rejected"],
)
def test_line_offsets_of_a_nightly_tail(
    tmp_path: Path, lines: list[str], requests: list[int], rejected: list[int], reader: str
) -> None:
    """A nightly run reads the tail of a log: 100 lines precede it, and the line numbers are
    those of the whole file in both readers."""
    got = same([write(tmp_path / "tail.log", lines)], line_offsets=[100])
    assert got.report.reader == reader
    assert got.requests[s.LINE_NO].to_list() == requests
    assert got.rejected[s.LINE_NO].to_list() == rejected


# --- 4. known differences -----------------------------------------------------------------
# Documented in docs/schema.md ("Two readers for Caddy"), with a third in section 6: no Caddy
# writes such a line, and each reader's answer is defensible. Pinned so that a DuckDB upgrade
# that changes one is noticed.


def test_known_difference_trailing_comma(tmp_path: Path) -> None:
    """`...,"status":200,}`: DuckDB's parser accepts the comma and keeps the request; the
    line reader rejects the line as broken JSON."""
    odd = caddy(3).removesuffix("}") + ",}"
    path = write(tmp_path / "access.log", around(odd))
    fast, slow = read([path], fast=True), read([path], fast=False)
    assert (fast.report.reader, fast.report.fallback) == ("duckdb", None)
    assert fast.requests[s.LINE_NO].to_list() == [1, 2, 3, 4, 5]
    assert fast.requests.row(2, named=True)[s.PATH] == "/@alice/3"
    assert fast.rejected.height == 0
    assert slow.requests[s.LINE_NO].to_list() == [1, 2, 4, 5]
    assert slow.rejected[s.LINE_NO].to_list() == [3]
    assert slow.rejected[s.REASON][0].startswith("broken JSON (")
    assert slow.report.notes == ["1 lines are broken JSON objects and were rejected"]
    # The other lines agree.
    assert_frame_equal(fast.requests.filter(pl.col(s.LINE_NO) != 3), slow.requests)


def test_known_difference_uri_object(tmp_path: Path) -> None:
    """`"uri":{"a":1}`: DuckDB reads the object as its JSON text and keeps it as the path; the
    line reader cannot decode the line and rejects it."""
    odd = caddy(3, request={"uri": {"a": 1}})
    path = write(tmp_path / "access.log", around(odd))
    fast, slow = read([path], fast=True), read([path], fast=False)
    assert (fast.report.reader, fast.report.fallback) == ("duckdb", None)
    assert fast.requests.row(2, named=True)[s.PATH] == '{"a":1}'
    assert fast.rejected.height == 0
    assert slow.requests[s.LINE_NO].to_list() == [1, 2, 4, 5]
    assert slow.rejected[s.LINE_NO].to_list() == [3]
    assert slow.rejected[s.REASON][0].startswith("cannot be parsed")
    assert_frame_equal(fast.requests.filter(pl.col(s.LINE_NO) != 3), slow.requests)


# --- 5. property: any Caddy-like line, the same answer --------------------------------------
# Tame values are of the types Caddy writes, which the fast reader reads itself (any text in
# the strings, every time_format and duration_format): there both readers' own results are
# compared. Wild values are of any type (a field may be left out, a string hold a lone
# surrogate): the fast reader gives many of those up, and the property checks that it does
# whenever its answer would differ.

# Quotes, backslashes, control characters (NUL too), non-ASCII, JSON's own punctuation.
ODD = '"\\/ \t\n\r\x00\x01\x1b\x7f\u00e9\u00b5\u2028\ufeff\U0001f600?&=:;%[]{},.-+e0123456789'
odd_text = st.text(alphabet=st.sampled_from(ODD) | st.characters(codec="utf-8"), max_size=20)
# Lone surrogates: with ensure_ascii JSON writes them `\ud800`; without, their bytes are not
# UTF-8.
any_text = odd_text | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2)
finite = st.floats(allow_nan=False, allow_infinity=False)
TIME_TEXTS = [
    "2026-11-12T10:00:00Z",
    "2026-11-12T10:00:00.123456789Z",
    "2026-11-12T10:00:00.5+01:00",
    "2026-11-12T10:00:00-07:00",
]
GO_DURATIONS = ["1.5ms", "2s", "250µs", "250us", "12ns", "3m", "1h", "1m3s", "NaN", "0"]
TAME: dict[str, st.SearchStrategy[Any]] = {
    # unix seconds (float), unix_milli, _micro, _nano (integers), RFC 3339 and ISO 8601 text
    "ts": st.floats(1e9, 2e9) | st.integers(10**12, 2 * 10**18) | st.sampled_from(TIME_TEXTS),
    "status": st.integers(0, 999),
    "size": st.integers(0, 2**63 - 1),
    "duration": st.floats(0, 1e6) | st.sampled_from(GO_DURATIONS),
    "address": st.ip_addresses().map(str) | st.sampled_from(["2001:DB8::1", "::ffff:192.0.2.1"]),
    "text": odd_text,
}
WILD: dict[str, st.SearchStrategy[Any]] = {
    "ts": st.one_of(
        TAME["ts"],
        finite,
        st.integers(),
        st.sampled_from(["2026-11-12 10:00:00", "1763000000.5", "yesterday", ""]),
        any_text,
        st.booleans(),
        st.none(),
    ),
    "status": st.one_of(
        st.integers(100, 599),
        st.integers(),
        finite,
        st.sampled_from(["200", "0x1F", " 5"]),
        any_text,
        st.none(),
    ),
    "size": st.one_of(st.integers(), finite, st.just("100"), any_text, st.none()),
    "duration": TAME["duration"] | finite | any_text,
    "address": st.one_of(
        TAME["address"],
        st.sampled_from(["192.0.2.1:443", "[2001:db8::1]:443", "unix:", "", "-"]),
        any_text,
        st.none(),
    ),
    # No object or array (known difference 2) and no float (known difference 3, pinned by
    # test_known_difference_fraction_where_text_goes below).
    "text": any_text | st.integers() | st.booleans(),
}
HEADER_NAMES = ["User-Agent", "Referer", "Accept", "X-Forwarded-For", "Sec-Fetch-Mode", "Cookie"]
LOGGERS = ["http.log.access", "http.log.access.log0", "tls.handshake", "http"]


def _field_strategies(v: dict[str, st.SearchStrategy[Any]]) -> dict[str, st.SearchStrategy[Any]]:
    """The strategy of each field of a line (request.NAME: a field of `request`); a wild
    field is sometimes left out, and a wild header sometimes a plain string."""
    wild = v is WILD
    text = v["text"]
    header = st.lists(text, max_size=3)
    if wild:
        header = header | text  # no Caddy writes it

    def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(values, values, values, st.just(DROP)) if wild else values

    return {
        "ts": maybe(v["ts"]),
        "logger": maybe(st.sampled_from(LOGGERS)),
        "request.remote_ip": maybe(v["address"]),
        "request.remote_addr": st.just(DROP) | v["address"],  # Caddy < 2.5
        "request.client_ip": st.just(DROP) | v["address"],  # Caddy >= 2.7
        "request.proto": maybe(st.sampled_from(["HTTP/1.1", "HTTP/2.0"]) | text),
        "request.method": maybe(st.sampled_from(["GET", "POST"]) | text),
        "request.host": maybe(st.sampled_from(["social.example", "a.example:8443"]) | text),
        "request.uri": maybe(st.sampled_from(["/", "/@a?x=1"]) | text),
        "request.headers": maybe(st.dictionaries(st.sampled_from(HEADER_NAMES), header)),
        "user_id": maybe(st.just("") | text),
        "duration": maybe(v["duration"]),
        "size": maybe(v["size"]),
        "status": maybe(v["status"]),
    }


TAME_FIELDS = _field_strategies(TAME)
WILD_FIELDS = _field_strategies(WILD)
# tame: every field tame; one-odd: one field of each line wild (the fast reader reads most
# such lines itself, which is where a divergence would hide); wild: every field wild.
MODES = ["tame", "one-odd", "wild"]


@st.composite
def caddy_like(draw: st.DrawFn, mode: str) -> bytes:
    """A line shaped like Caddy's (no object or array where a string goes: difference 2)."""
    odd = draw(st.sampled_from(sorted(WILD_FIELDS))) if mode == "one-odd" else None
    values = {
        name: draw(WILD_FIELDS[name] if mode == "wild" or name == odd else tame)
        for name, tame in TAME_FIELDS.items()
    }
    request = {
        name.removeprefix("request."): value
        for name, value in values.items()
        if name.startswith("request.") and value is not DROP
    }
    doc = {"level": "info", "ts": values["ts"], "logger": values["logger"]}
    doc |= {"msg": "handled request", "request": request}
    doc |= {k: values[k] for k in ("user_id", "duration", "size", "status")}
    line = json.dumps(
        {k: x for k, x in doc.items() if x is not DROP},
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )
    return line.encode("utf-8", "surrogatepass")


def _outcome(path: Path, *, fast: bool) -> Ingested | str:
    try:
        return read([path], fast=fast)
    except ScraperwatchError as err:
        return f"{type(err).__name__}: {err}"


_files = itertools.count()


@settings(
    max_examples=int(__import__("os").environ.get("SW_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    example=st.sampled_from(MODES).flatmap(
        lambda mode: st.tuples(st.just(mode), st.lists(caddy_like(mode), min_size=1, max_size=5))
    )
)
def test_any_caddy_like_line_reads_the_same(
    tmp_path: Path, example: tuple[str, list[bytes]]
) -> None:
    mode, lines = example
    path = write(tmp_path / f"access{next(_files)}.log", [caddy(1), *lines, caddy(9)])
    fast = _outcome(path, fast=True)
    slow = _outcome(path, fast=False)
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow
        event(f"{mode}: both refused the file")
        return
    assert_same(fast, slow)
    event(f"{mode}: reader={fast.report.reader}")


# --- 6. found by this file ------------------------------------------------------------------


def test_ts_below_a_microsecond_falls_back(tmp_path: Path) -> None:
    """DuckDB writes the number 5e-07 back as `5e-7`, which would miss the exact decimal
    reading that Polars' `0.0000005` takes (0.49999999999999994 us rounds to 0 where the
    digits round half up to 1 us): a ts number with an exponent is unsure."""
    path = write(tmp_path / "access.log", [caddy(1, ts="X").replace('"X"', "5e-07")])
    got = same([path])
    assert got.report.reader == "lines"
    assert got.requests[s.TS].to_list() == [datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("odd", "column", "fast_text", "line_text"),
    [
        (caddy(1, user_id=1e-07), s.REMOTE_USER, "1e-07", "0.0000001"),
        (caddy(1, user_id=0.0), s.REMOTE_USER, "0.0", "0"),  # as the property shrank it
        (caddy(1, request={"uri": 1e22}), s.PATH, "1e+22", "10000000000000000000000"),
        (caddy(1, request={"headers": {"Accept": [1.0]}}), s.ACCEPT, "1.0", "1"),
    ],
    ids=["user_id-1e-07", "user_id-0.0", "uri-1e22", "header-item"],
)
def test_known_difference_fraction_where_text_goes(
    tmp_path: Path, odd: str, column: str, fast_text: str, line_text: str
) -> None:
    """Known difference 3 (docs/schema.md): a JSON number with a fraction or an exponent
    where Caddy writes text. Each decoder writes it as text its own way; integers and
    booleans come out the same (the property covers them)."""
    path = write(tmp_path / "access.log", [odd])
    fast, slow = read([path], fast=True), read([path], fast=False)
    assert (fast.report.reader, fast.report.fallback) == ("duckdb", None)
    assert (fast.requests[column][0], slow.requests[column][0]) == (fast_text, line_text)
    assert_frame_equal(fast.requests.drop(column), slow.requests.drop(column))


def test_without_duckdb_the_line_reader_reads_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken install (DuckDB not importable) still reads every line, and says so."""
    path = write(tmp_path / "access.log", around(caddy(3)))
    monkeypatch.setitem(sys.modules, "duckdb", None)  # what `import duckdb` cannot find
    assert not caddyfast.available()
    got = read([path], fast=True)
    assert (got.report.reader, got.report.lines, got.report.parsed) == ("lines", 5, 5)
    assert got.report.fallback is not None
    assert "DuckDB is not installed" in got.report.fallback
    assert FALLBACK_NOTE + got.report.fallback in got.report.notes
