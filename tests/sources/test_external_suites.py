"""Every line of other projects' parser suites parses to the values those tools expect.

CrowdSec hub (nginx, Nginx Proxy Manager, malformed requests, Caddy), Vector's VRL
`parse_nginx_log` vectors, Filebeat's nginx module test and lnav's nginx and Caddy lines
(tests/fixtures/external/, origin and licence in its README.md).

Where scraperwatch's schema differs on purpose the case says so, in its id and a comment:
- `-` (nginx's "no value") is null, not the text "-";
- `path` is the request target without its query, which goes to `query`;
- nginx's `\\xHH` escapes are decoded (bytes that are not UTF-8 stay written `\\xHH`);
- addresses are normalised (IPv6 compressed, ports stripped), the host loses its port;
- a request line that is not `METHOD TARGET [PROTOCOL]` keeps only `request` (method and
  path are null), where CrowdSec copies it into its path;
- nginx error-log lines and other loggers' Caddy lines are skipped and counted: scraperwatch
  reads access logs; CrowdSec and VRL parse error logs too.
"""

from __future__ import annotations

import codecs
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
import pytest
from conftest import EXTERNAL_FIXTURES, Ingested, ingest_paths

from scraperwatch import schema as s

CROWDSEC = EXTERNAL_FIXTURES / "crowdsec"
SKIPPED = "skipped"
REJECTED = "rejected"

# Formats the suites use that scraperwatch has no name for, as written in nginx.conf.
NO_REMOTE_USER = (
    '$remote_addr - [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent"'
)
# CrowdSec's nginx_http-catch-npm test: a custom format with the host, request time and
# $bytes_sent, the referer and user agent unquoted at the end.
CATCH_NPM = (
    '[$time_local] $host $remote_addr $request_time "$request" $status $body_bytes_sent '
    "$bytes_sent $http_referer $http_user_agent"
)
# Nginx Proxy Manager's `standard` format with the `[Sent-to $server]` field of `proxy`.
NPM_STANDARD_SENT_TO = (
    '[$time_local] $status - $request_method $scheme $host "$request_uri" '
    "[Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "
    '"$http_user_agent" "$http_referer"'
)
# Nginx Proxy Manager's `proxy` format before `[Sent-to $server]` was added.
NPM_PROXY_NO_SENT_TO = (
    "[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme "
    '$host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] '
    '"$http_user_agent" "$http_referer"'
)
# Filebeat's lines: the first field is an X-Forwarded-For list.
XFF_PLUS_PEER = (  # $proxy_add_x_forwarded_for: X-Forwarded-For with $remote_addr appended
    '$proxy_add_x_forwarded_for - $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent"'
)
QUOTED_XFF_THEN_PEER = (
    '"$http_x_forwarded_for" $remote_addr - $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent"'
)
XFF_THEN_PEER = (
    '$http_x_forwarded_for $remote_addr - $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent"'
)


def _upper_hex(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    return "".join(f"\\x{b:02X}" for b in err.object[err.start : err.end]), err.end


codecs.register_error("test-upper-hex", _upper_hex)


def nginx_decode(text: str) -> str:
    """The test's own decoder of nginx escapes: bytes, then UTF-8, invalid bytes kept `\\xHH`."""
    raw = re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), text.encode())
    return raw.decode("utf-8", "test-upper-hex")


def dash(value: str | None) -> str | None:
    """nginx's `-` (no value) is null in scraperwatch's schema."""
    return None if value in (None, "-") else value


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def from_epoch(ts: str) -> datetime:
    """Caddy's float seconds to a UTC time, to the microsecond, rounding half up."""
    micros = int((Decimal(ts) * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return datetime.fromtimestamp(0, UTC) + (micros * datetime.resolution)


@dataclass
class Case:
    """One log line, the format to read it with, and what must come out."""

    id: str
    line: str
    log_format: str | None
    expect: dict[str, Any] | str  # column -> value, or SKIPPED / REJECTED
    trusted: tuple[str, ...] = ()
    note: str = ""  # why the expectation differs from the other tool's, when it does
    extra: dict[str, Any] = field(default_factory=dict)  # var_* columns


# --- CrowdSec hub -------------------------------------------------------------------------

# Which format wrote each line of the CrowdSec test logs (they mix formats in one file).
CROWDSEC_FORMATS: dict[str, dict[int, str]] = {
    "nginx_http-logs": {
        0: "combined",
        1: "combined",
        2: "combined",
        3: "vhost",
        4: "vhost",
        5: "vhost",
        6: "combined",
        7: NO_REMOTE_USER,
        8: "combined",
    },
    "nginx-http-malformed": dict.fromkeys(range(12), "combined"),
    "nginx-proxy-manager-logs": {
        0: "npm-proxy",
        1: "combined",
        2: "npm-standard",
        3: "npm-proxy",
        4: "npm-proxy",
        5: "npm-proxy",
        6: "npm-proxy",
        7: "npm-proxy",
        8: "npm-proxy",
        9: "npm-proxy",
        10: "npm-standard",
        11: "npm-standard",
        12: "npm-standard",
        13: "npm-standard",
    },
    "nginx_http-catch-npm": {
        0: CATCH_NPM,
        1: CATCH_NPM,
        2: CATCH_NPM,
        3: CATCH_NPM,
        4: NPM_STANDARD_SENT_TO,
        5: NPM_PROXY_NO_SENT_TO,
    },
    "caddy-logs": dict.fromkeys(range(11), "caddy"),
}
# nginx/NPM fields CrowdSec extracts that scraperwatch keeps as extra var_* columns.
CROWDSEC_EXTRAS = {
    "scheme": "var_scheme",
    "gzip_ratio": "var_gzip_ratio",
    "upstream_status": "var_upstream_status",
    "upstream_cache_status": "var_upstream_cache_status",
    "target_server": "var_server",
    "bytes_sent": "var_bytes_sent",
}


def _crowdsec_expect(
    line: str, stages: dict[str, Any], caddy: bool
) -> tuple[dict[str, Any] | str, str]:
    s01 = next(v for k, v in stages.items() if k.startswith("s01-parse/"))
    if not s01["success"]:
        return SKIPPED, "CrowdSec ignores it: another Caddy logger's line, skipped"
    parsed, meta = s01["parsed"], s01["meta"]
    if meta["log_type"] == "http_error-log":
        return SKIPPED, "an nginx error-log line: CrowdSec parses it, scraperwatch skips it"
    when = next(v["meta"]["timestamp"] for k, v in stages.items() if "dateparse" in k)
    exp: dict[str, Any] = {
        s.TS: utc(when),
        s.CLIENT_IP: meta["source_ip"],
        s.STATUS: int(meta["http_status"]),
        s.USER_AGENT: dash(parsed.get("http_user_agent")),
    }
    notes = []
    if caddy:
        # CrowdSec keeps whole seconds of Caddy's float `ts`; scraperwatch keeps microseconds.
        exp[s.TS] = from_epoch(re.search(r'"ts":([0-9.]+)', line)[1])  # type: ignore[index]
        assert exp[s.TS].replace(microsecond=0) == utc(when)
        exp[s.HOST] = meta["target_fqdn"].rsplit(":", 1)[0]
        notes.append("microseconds kept, host without its port")
    elif "target_fqdn" in meta:
        exp[s.HOST] = meta["target_fqdn"]
    if "verb" in parsed:
        exp[s.METHOD] = parsed["verb"]
        target = parsed["request"]
        exp[s.PATH], _, query = target.partition("?")
        exp[s.QUERY] = query if "?" in target else None
        if "?" in target:
            notes.append("query apart from path")
    else:
        exp[s.METHOD] = exp[s.PATH] = None
        exp[s.REQUEST] = nginx_decode(parsed["request"])
        notes.append("a malformed request stays in `request`, decoded")
    if "http_version" in parsed:
        exp[s.PROTOCOL] = "HTTP/" + parsed["http_version"]
    if not caddy:
        exp[s.BYTES_SENT] = int(parsed["body_bytes_sent"])
        exp[s.REFERER] = dash(parsed.get("http_referer"))
        exp[s.REMOTE_USER] = dash(parsed.get("remote_user"))
    if "request_time" in parsed:
        exp[s.REQUEST_TIME] = float(parsed["request_time"])
    for key, col in CROWDSEC_EXTRAS.items():
        if key in parsed:
            exp[col] = dash(parsed[key])
    if exp[s.USER_AGENT] is None or exp.get(s.REFERER, "x") is None:
        notes.append("- is null")
    return exp, ", ".join(notes)


def crowdsec_cases() -> Iterator[Case]:
    for test, formats in CROWDSEC_FORMATS.items():
        data = json.loads((CROWDSEC / test / "parser-expected.derived.json").read_text())
        entries = data["entries"]
        assert set(formats) == {e["index"] for e in entries}, f"{test}: every line has a format"
        for e in entries:
            fmt = formats[e["index"]]
            expect, note = _crowdsec_expect(e["line"], e["stages"], caddy=fmt == "caddy")
            if test == "nginx_http-logs" and e["index"] == 7:
                note = (
                    "no $remote_user field: not nginx's `combined` (which writes `-`), read "
                    "with a format that has none"
                )
            yield Case(f"crowdsec/{test}/{e['index']}", e["line"], fmt, expect, note=note)


# --- Vector VRL ---------------------------------------------------------------------------

# METHOD TARGET [PROTOCOL]: such a request line is stored split, with `request` null.
_REQUEST_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*) ([^ ]+)(?: (HTTP/[0-9.]+))?")

VRL_FORMATS = {"combined": "combined", "main": "main", "ingress_upstreaminfo": "upstreaminfo"}
VRL_FIELDS = {
    "client": s.CLIENT_IP,
    "remote_addr": s.CLIENT_IP,
    "user": s.REMOTE_USER,
    "remote_user": s.REMOTE_USER,
    "request": s.REQUEST,
    "status": s.STATUS,
    "size": s.BYTES_SENT,
    "body_bytes_size": s.BYTES_SENT,
    "referer": s.REFERER,
    "http_referer": s.REFERER,
    "agent": s.USER_AGENT,
    "http_user_agent": s.USER_AGENT,
    "http_x_forwarded_for": s.X_FORWARDED_FOR,
    "request_time": s.REQUEST_TIME,
}
# Optional fields VRL omits when nginx wrote `-`: null here.
VRL_OPTIONAL = (s.REMOTE_USER, s.REFERER, s.X_FORWARDED_FOR)
VRL_UPSTREAM = (
    "request_length",
    "proxy_upstream_name",
    "proxy_alternative_upstream_name",
    "upstream_addr",
    "upstream_response_length",
    "upstream_response_time",
    "upstream_status",
    "req_id",
)


def vrl_cases() -> Iterator[Case]:
    data = json.loads((EXTERNAL_FIXTURES / "vrl" / "vrl-parse-log-test-vectors.json").read_text())
    for v in data["parse_nginx_log"]:
        if v["format"] == "error":
            yield Case(
                f"vrl/{v['name']}",
                v["value"],
                "combined",
                SKIPPED,
                note="VRL parses the error log (format=error); an access log skips its lines",
            )
            continue
        fmt = VRL_FORMATS[v["format"]]
        if "want_error" in v:
            yield Case(
                f"vrl/{v['name']}",
                v["value"],
                fmt,
                SKIPPED,
                note="an error-log line in an access log: VRL fails, scraperwatch skips and counts it",
            )
            continue
        want = v["want"]
        exp: dict[str, Any] = {s.TS: utc(want["timestamp"]["timestamp_utc"])}
        notes = []
        for key, col in VRL_FIELDS.items():
            if key in want:
                value = want[key]
                exp[col] = nginx_decode(value) if col == s.REQUEST else dash(value)
        for col in VRL_OPTIONAL:
            if col not in exp:
                exp[col] = None  # VRL drops the field; here the column is null
        split = _REQUEST_LINE.fullmatch(want["request"])
        if split:
            # The line splits: method, path, query and protocol hold it, `request` is null.
            method, target, protocol = split.groups()
            path, _, query = target.partition("?")
            exp |= {
                s.REQUEST: None,
                s.METHOD: method,
                s.PATH: nginx_decode(path),
                s.QUERY: nginx_decode(query) if "?" in target else None,
                s.PROTOCOL: protocol,
            }
            notes.append("request split into method, path, query, protocol")
        if "\\x" in want["request"]:
            notes.append("escapes decoded")
        if want["request"] == "":
            notes.append("an empty request stays empty")
        extra: dict[str, Any] = {}
        if fmt == "upstreaminfo":
            for key in VRL_UPSTREAM:
                value = want.get(key)
                if key == "proxy_alternative_upstream_name" and value is None:
                    value = ""  # `[]` in the line: VRL drops it, here it is the empty text
                if key == "upstream_addr" and value == "-":
                    notes.append("upstream - is null")  # VRL keeps "-"
                extra[f"var_{key}"] = None if value in (None, "-") else value
        yield Case(f"vrl/{v['name']}", v["value"], fmt, exp, note=", ".join(notes), extra=extra)


# --- Filebeat -----------------------------------------------------------------------------

# Per line of elastic-beats/test.log: the log_format that writes it, and the trusted proxies
# under which nginx's realip module gives Filebeat's source.ip.
FILEBEAT = [
    (XFF_PLUS_PEER, ("10.0.0.0/8", "127.0.0.0/8"), "all hops trusted: the leftmost"),
    ("main", (), ""),
    (XFF_PLUS_PEER, ("10.0.0.0/8", "127.0.0.0/8"), "the rightmost untrusted hop"),
    ("combined", (), ""),
    (
        QUOTED_XFF_THEN_PEER,
        ("10.0.0.0/8", "204.246.1.1"),  # the CloudFront edge that sent the request
        "CloudFront's edge trusted",
    ),
    (XFF_THEN_PEER, ("10.0.0.0/8",), "IPv6 normalised"),
    ("combined", (), "an empty request stays empty"),
]


def filebeat_cases() -> Iterator[Case]:
    lines = (EXTERNAL_FIXTURES / "elastic-beats" / "test.log").read_text().splitlines()
    expected = json.loads(
        (EXTERNAL_FIXTURES / "elastic-beats" / "test.log-expected.json").read_text()
    )
    assert len(lines) == len(expected) == len(FILEBEAT)
    for i, (line, want, (fmt, trusted, note)) in enumerate(
        zip(lines, expected, FILEBEAT, strict=True)
    ):
        url = want.get("url.original")
        exp: dict[str, Any] = {
            s.TS: utc(want["@timestamp"]),
            s.CLIENT_IP: str(ipaddress.ip_address(want["source.ip"])),
            s.METHOD: want.get("http.request.method"),
            s.PATH: url.partition("?")[0] if url else None,
            s.QUERY: url.partition("?")[2] if url and "?" in url else None,
            s.STATUS: want["http.response.status_code"],
            s.BYTES_SENT: want["http.response.body.bytes"],
            s.REFERER: dash(want["http.request.referrer"]),
            s.USER_AGENT: dash(want["user_agent.original"]),
            "remote_ip_list": [
                str(ipaddress.ip_address(a)) for a in want["nginx.access.remote_ip_list"]
            ],
        }
        if want.get("http.version"):
            exp[s.PROTOCOL] = "HTTP/" + want["http.version"]
        yield Case(f"filebeat/{i}", line, fmt, exp, trusted=trusted, note=note)


# --- lnav ---------------------------------------------------------------------------------


def lnav_cases() -> Iterator[Case]:
    lnav = EXTERNAL_FIXTURES / "lnav"
    gpxe = "gPXE/0.9.7"
    rows = [
        ("22:59:26", "/vmw/cgi/tramp", 200, 134),
        ("22:59:29", "/vmw/vSphere/default/vmkboot.gz", 404, 46210),
        ("22:59:29", "/vmw/vSphere/default/vmkernel.gz", 200, 78929),
    ]
    lines = (lnav / "logfile_access_log.0").read_text().splitlines()
    for i, (line, (t, path, status, size)) in enumerate(zip(lines, rows, strict=True)):
        yield Case(
            f"lnav/access_log.0/{i}",
            line,
            "combined",
            {
                s.TS: utc(f"2009-07-20T{t}Z"),
                s.CLIENT_IP: "192.168.202.254",
                s.METHOD: "GET",
                s.PATH: path,
                s.PROTOCOL: "HTTP/1.0",
                s.STATUS: status,
                s.BYTES_SENT: size,
                s.REFERER: None,
                s.USER_AGENT: gpxe,
            },
        )
    yield Case(
        "lnav/access_log.1/0-dash-request-is-null",
        (lnav / "logfile_access_log.1").read_text().strip(),
        "combined",
        {
            s.TS: utc("2013-02-15T06:00:31Z"),
            s.CLIENT_IP: "10.112.81.15",
            s.REQUEST: None,
            s.METHOD: None,
            s.STATUS: 400,
            s.BYTES_SENT: 0,
            s.USER_AGENT: None,
        },
    )
    bad = (lnav / "logfile_bad_access_log.0").read_text().splitlines()
    for i, line in enumerate(bad):
        yield Case(
            f"lnav/bad_access_log.0/{i}",
            line,
            "combined",
            REJECTED if i == 1 else {s.CLIENT_IP: "192.168.202.254", s.STATUS: (200, 404, 200)[i]},
            note="the line lacks its `- -` fields" if i == 1 else "",
        )
    caddy = [json.loads(x) for x in (lnav / "logfile_caddy_log.1").read_text().splitlines()]
    for i, doc in enumerate(caddy):
        req, hdr = doc["request"], doc["request"]["headers"]
        yield Case(
            f"lnav/caddy_log.1/{i}-client_ip-not-remote_ip-host-without-port",
            json.dumps(doc),
            "caddy",
            {
                s.TS: from_epoch(repr(doc["ts"])),
                s.CLIENT_IP: req["client_ip"],
                s.PEER_IP: req["remote_ip"],
                s.METHOD: req["method"],
                s.PATH: req["uri"],
                s.QUERY: None,
                s.PROTOCOL: req["proto"],
                s.HOST: req["host"].split(":")[0],
                s.STATUS: doc["status"],
                s.BYTES_SENT: doc["size"],
                s.REQUEST_TIME: doc["duration"],
                s.USER_AGENT: hdr["User-Agent"][0],
                s.REFERER: hdr.get("Referer", [None])[0],
                s.ACCEPT: hdr["Accept"][0],
                s.SEC_FETCH_DEST: hdr.get("Sec-Fetch-Dest", [None])[0],
                s.SEC_FETCH_MODE: hdr.get("Sec-Fetch-Mode", [None])[0],
                s.SEC_FETCH_SITE: hdr.get("Sec-Fetch-Site", [None])[0],
                s.X_FORWARDED_FOR: hdr.get("X-Forwarded-For", [None])[0],
                s.REMOTE_USER: None,
            },
        )


ALL_CASES = [*crowdsec_cases(), *vrl_cases(), *filebeat_cases(), *lnav_cases()]


def _case_id(case: Case) -> str:
    return f"{case.id}[{case.note}]" if case.note else case.id


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ingested]:
    """Read every case, one file per (format, trusted proxies): line i of a file is case i."""
    groups: dict[tuple[str | None, tuple[str, ...]], list[Case]] = {}
    for case in ALL_CASES:
        groups.setdefault((case.log_format, case.trusted), []).append(case)
    out: dict[str, Ingested] = {}
    base = tmp_path_factory.mktemp("external")
    for n, ((fmt, trusted), cases) in enumerate(groups.items()):
        path = base / f"group{n}.log"
        path.write_text("".join(c.line + "\n" for c in cases), encoding="utf-8")
        got = ingest_paths([path], log_format=fmt, trusted=trusted)
        for i, case in enumerate(cases, start=1):
            out[case.id] = Ingested(
                got.requests.filter(pl.col(s.LINE_NO) == i),
                got.rejected.filter(pl.col(s.LINE_NO) == i),
                got.reports,
            )
    return out


@pytest.mark.parametrize("case", ALL_CASES, ids=_case_id)
def test_line_parses_as_the_other_tool_expects(case: Case, results: dict[str, Ingested]) -> None:
    got = results[case.id]
    if case.expect == SKIPPED:
        assert got.requests.height == 0
        assert got.rejected.height == 0, "skipped, not an error"
        return
    if case.expect == REJECTED:
        assert got.requests.height == 0
        assert got.rejected.height == 1, "the line must be a rejected record"
        assert got.rejected[s.REASON][0]
        return
    assert got.rejected.height == 0, got.rejected.to_dicts()
    assert got.requests.height == 1
    row = got.requests.row(0, named=True)
    assert isinstance(case.expect, dict)
    expect = dict(case.expect)
    remote_list = expect.pop("remote_ip_list", None)
    for col, value in {**expect, **case.extra}.items():
        assert col in row, f"no column {col}"
        if isinstance(value, float) and row[col] is not None:
            assert float(row[col]) == pytest.approx(value), col
        elif isinstance(value, int) and not isinstance(value, bool) and col.startswith("var_"):
            assert row[col] == str(value), col
        else:
            assert row[col] == value, col
    if remote_list is not None:
        # Filebeat's nginx.access.remote_ip_list: the X-Forwarded-For hops, then the peer.
        # x_forwarded_for is kept as logged; its hops compare once normalised.
        xff = row[s.X_FORWARDED_FOR]
        hops = [str(ipaddress.ip_address(h.strip())) for h in xff.split(",")] if xff else []
        assert [*hops, row[s.PEER_IP]] == remote_list


def test_every_suite_line_is_a_case() -> None:
    """No line of the suites is left out (a new upstream line needs a format above)."""
    n_crowdsec = sum(
        len([x for x in next((CROWDSEC / t).glob("*.log")).read_text().splitlines() if x.strip()])
        for t in CROWDSEC_FORMATS
    )
    assert sum(c.id.startswith("crowdsec/") for c in ALL_CASES) == n_crowdsec
    vrl = json.loads((EXTERNAL_FIXTURES / "vrl" / "vrl-parse-log-test-vectors.json").read_text())
    assert sum(c.id.startswith("vrl/") for c in ALL_CASES) == len(vrl["parse_nginx_log"])


def test_crowdsec_line_without_remote_user_is_rejected_as_combined(
    ingest_lines: Any,
) -> None:
    """nginx's `combined` always writes $remote_user (`-` when empty): a line without it was
    not written by `combined`, and is rejected, not guessed at."""
    data = json.loads((CROWDSEC / "nginx_http-logs" / "parser-expected.derived.json").read_text())
    lines = [e["line"] for e in data["entries"]]
    got = ingest_lines([lines[0], lines[1], lines[7]], log_format="combined")
    assert got.requests[s.LINE_NO].to_list() == [1, 2]
    assert got.rejected[s.REASON].to_list() == ["does not match the nginx log format 'combined'"]


def test_filebeat_without_trusted_proxies_takes_the_peer(ingest_lines: Any) -> None:
    """Without --trusted-proxy the client is the address that connected (as nginx)."""
    line = (EXTERNAL_FIXTURES / "elastic-beats" / "test.log").read_text().splitlines()[2]
    got = ingest_lines([line], log_format=XFF_PLUS_PEER)
    row = got.requests.row(0, named=True)
    assert row[s.CLIENT_IP] == row[s.PEER_IP] == "85.181.35.98"
    assert row[s.X_FORWARDED_FOR] == "10.0.0.2, 10.0.0.1"


def test_lnav_docker_compose_caddy_log(ingest_lines: Any) -> None:
    """`docker compose logs` output: the prefix is stripped, the other loggers' lines are
    skipped and counted, none is an error."""
    path = EXTERNAL_FIXTURES / "lnav" / "logfile_caddy_log.0"
    got = ingest_paths([path])
    rep = got.report
    assert (rep.format, rep.how) == ("caddy", "detected")
    assert (rep.lines, rep.parsed, rep.skipped, rep.rejected) == (39, 4, 35, 0)
    assert got.rejected.height == 0
    assert got.requests[s.LINE_NO].to_list() == [16, 37, 38, 39]
    first = got.requests.row(0, named=True)
    assert first[s.TS] == from_epoch("1761019828.6153953")
    assert first[s.CLIENT_IP] == "172.19.0.1"
    assert first[s.STATUS] == 304
    assert first[s.SEC_FETCH_DEST] == "document"
    assert first[s.ACCEPT_LANGUAGE] == "en-US,en;q=0.5"
    assert got.requests[s.PATH].to_list() == ["/", "/", "/", "/index.html"]


def test_lnav_bad_access_log_counts(ingest_lines: Any) -> None:
    got = ingest_paths([EXTERNAL_FIXTURES / "lnav" / "logfile_bad_access_log.0"])
    rep = got.report
    assert (rep.lines, rep.parsed, rep.skipped, rep.rejected) == (3, 2, 0, 1)
    bad = got.rejected.row(0, named=True)
    assert bad[s.LINE_NO] == 2
    assert bad[s.EXCERPT].startswith("192.168.202.254 [20/Jul/2009:22:59:29 +0000]")


def test_external_files_are_documented() -> None:
    readme = (EXTERNAL_FIXTURES / "README.md").read_text()
    for path in sorted(EXTERNAL_FIXTURES.rglob("*")):
        if path.is_file() and path.name != "README.md":
            rel = path.relative_to(EXTERNAL_FIXTURES)
            assert rel.parts[0] in readme, f"{rel} has no origin/licence line in README.md"
