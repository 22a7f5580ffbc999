"""The reading stage: formats, counts, rejects, the careful path, realip, progress."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import LOG_FIXTURES, IngestLines, ingest_paths

from scraperwatch import schema as s
from scraperwatch.errors import InputError, LogSourceError
from scraperwatch.reader import ReadOptions, open_logs

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
T = "[12/Nov/2026:10:00:00 +0100]"
WHEN = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)


def combined(ip: str = "192.0.2.1", request: str = "GET / HTTP/1.1", ua: str = UA) -> str:
    return f'{ip} - - {T} "{request}" 200 10 "-" "{ua}"'


def main_line(peer: str, xff: str) -> str:
    return f'{peer} - - {T} "GET / HTTP/1.1" 200 10 "-" "{UA}" "{xff}"'


# --- nginx formats ------------------------------------------------------------------------


def test_combined_line_in_full(ingest_lines: IngestLines) -> None:
    got = ingest_lines(
        [
            '[2001:db8::1]:443 - alice [12/Nov/2026:10:00:00 +0100] "GET /@bob/1?x=%20y&z '
            'HTTP/2.0" 404 1234 "https://a.example/p?q" "UA \\x22quoted\\x22 \\xC3\\xA9 \\x5C"'
        ],
        log_format="combined",
    )
    row = got.requests.row(0, named=True)
    assert row == row | {
        s.TS: WHEN,
        s.CLIENT_IP: "2001:db8::1",  # brackets and port stripped
        s.PEER_IP: "2001:db8::1",
        s.REMOTE_USER: "alice",
        s.METHOD: "GET",
        s.PATH: "/@bob/1",
        s.QUERY: "x=%20y&z",  # percent-encoding is kept as the client sent it
        s.PROTOCOL: "HTTP/2.0",
        s.STATUS: 404,
        s.BYTES_SENT: 1234,
        s.REFERER: "https://a.example/p?q",
        s.USER_AGENT: 'UA "quoted" é \\',
        s.SOURCE_FORMAT: "nginx-combined",
        s.LINE_NO: 1,
    }


def test_remote_user_with_spaces_cannot_hide_a_line(ingest_lines: IngestLines) -> None:
    """nginx leaves the space unescaped: a Basic-auth user "a b [x]" must not make the line
    unreadable (a scraper could otherwise hide its requests)."""
    line = f'192.0.2.1 - a b [x] - {T} "GET / HTTP/1.1" 401 0 "-" "{UA}"'
    got = ingest_lines([line, combined()], log_format="combined")
    assert got.requests[s.REMOTE_USER].to_list() == ["a b [x] -", None]


def test_custom_format_with_extras(ingest_lines: IngestLines) -> None:
    fmt = (
        'log_format timed \'$host $remote_addr [$time_iso8601] "$request" $status '
        '$body_bytes_sent $request_time "$http_user_agent" $upstream_addr "$http_x_custom"\';'
    )
    line = (
        'Social.Example:8443 192.0.2.3 [2026-11-12T10:00:00+01:00] "POST /inbox HTTP/1.1" 202 0 '
        '0.015 "Mastodon" 10.0.0.1:3000, 10.0.0.2:3000 "v\\x22 1"'
    )
    got = ingest_lines([line], log_format=fmt)
    row = got.requests.row(0, named=True)
    assert row[s.HOST] == "Social.Example"
    assert row[s.TS] == WHEN
    assert row[s.REQUEST_TIME] == pytest.approx(0.015)
    assert row["var_upstream_addr"] == "10.0.0.1:3000, 10.0.0.2:3000"
    assert row["var_http_x_custom"] == 'v" 1'  # extra columns are decoded too
    assert row[s.SOURCE_FORMAT] == "nginx-custom"


def test_msec_and_request_uri(ingest_lines: IngestLines) -> None:
    fmt = '$msec $remote_addr $request_method "$request_uri" $status'
    got = ingest_lines(['1794560400.123 192.0.2.1 GET "/a/b?c=d" 200'], log_format=fmt)
    row = got.requests.row(0, named=True)
    assert row[s.TS] == datetime(2026, 11, 13, 9, 0, 0, 123000, tzinfo=UTC)
    assert (row[s.METHOD], row[s.PATH], row[s.QUERY]) == ("GET", "/a/b", "c=d")


def test_escape_json_format(ingest_lines: IngestLines) -> None:
    fmt = (
        'log_format j escape=json \'{"t":"$time_iso8601","ip":"$remote_addr",'
        '"r":"$request","s":$status,"ua":"$http_user_agent",'
        '"both":"$request_method $uri"}\';'
    )
    doc = {
        "t": "2026-11-12T10:00:00+01:00",
        "ip": "192.0.2.1",
        "r": "GET /x?y HTTP/1.1",
        "s": 200,
        "ua": 'say "hi" \\ é',
        "both": "GET /x",
    }
    got = ingest_lines([json.dumps(doc, ensure_ascii=False), "not json"], log_format=fmt)
    row = got.requests.row(0, named=True)
    assert (row[s.TS], row[s.CLIENT_IP], row[s.PATH], row[s.QUERY]) == (
        WHEN,
        "192.0.2.1",
        "/x",
        "y",
    )
    assert row[s.USER_AGENT] == 'say "hi" \\ é'
    assert row["var_json_both"] == "GET /x"  # a template of two variables keeps its key
    assert got.rejected[s.LINE_NO].to_list() == [2]


def test_escape_none_format_allows_raw_quotes(ingest_lines: IngestLines) -> None:
    fmt = 'escape=none $remote_addr [$time_local] "$request" $status "$http_user_agent"'
    got = ingest_lines([f'192.0.2.1 {T} "GET / HTTP/1.1" 200 "a "quoted" agent"'], log_format=fmt)
    assert got.requests[s.USER_AGENT].to_list() == ['a "quoted" agent']


def test_format_given_as_in_nginx_conf(ingest_lines: IngestLines) -> None:
    conf = (
        "log_format main '$remote_addr - $remote_user [$time_local] \"$request\" '\n"
        "                '$status $body_bytes_sent \"$http_referer\" '\n"
        '                \'"$http_user_agent" "$http_x_forwarded_for"\';'
    )
    got = ingest_lines([main_line("192.0.2.1", "198.51.100.1")], log_format=conf)
    assert got.requests[s.X_FORWARDED_FOR].to_list() == ["198.51.100.1"]


def test_sniffing_prefers_the_richer_format(ingest_lines: IngestLines) -> None:
    got = ingest_lines([main_line("192.0.2.1", "198.51.100.1")] * 3)
    assert (got.report.format, got.report.how) == ("nginx-main", "detected")
    got = ingest_lines([combined()] * 3)
    assert got.report.format == "nginx-combined"


SAMPLES = Path(__file__).parents[1] / "sample_logs"


def test_fields_after_the_detected_format_are_reported() -> None:
    """A custom log_format that only adds fields at the end parses as combined: those fields
    are tolerated, not kept, and the report says so (with the text and how to keep it)."""
    logs = open_logs([SAMPLES / "host_timed.access.log", SAMPLES / "access.log"], ReadOptions())
    by_name = {Path(r.name).name: r for r in logs.reports}
    timed, plain = by_name["host_timed.access.log"], by_name["access.log"]
    assert timed.format == "nginx-combined"
    (note,) = [n for n in timed.notes if "last field" in n]
    assert "'host=social.example rt=" in note
    assert "--log-format" in note
    assert not [n for n in plain.notes if "last field" in n]
    logs.cleanup()


def test_fields_after_the_format_are_not_reported_for_a_few_lines(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    lines = [combined()] * 3 + [combined() + ' "extra"']
    path.write_text("\n".join(lines) + "\n")
    logs = open_logs([path], ReadOptions())
    assert not [n for n in logs.reports[0].notes if "last field" in n]
    logs.cleanup()


def test_unknown_format_is_refused_with_a_hint(ingest_lines: IngestLines) -> None:
    with pytest.raises(LogSourceError, match=r"not a log format scraperwatch knows.*--log-format"):
        ingest_lines(["Nov 12 10:00:00 host sshd[1]: Accepted publickey for root"] * 5)


def test_a_file_mostly_in_another_format_fails_after_reading(ingest_lines: IngestLines) -> None:
    """The head looks right, the body does not: the error names the format and the line."""
    lines = [combined()] * 150 + [caddy()] * 300
    with pytest.raises(
        LogSourceError,
        match=r"300 of 450 lines do not parse as nginx-combined \(detected; first at line 151\); "
        r"from there its lines look like caddy\. If the whole file is, give --log-format caddy",
    ):
        ingest_lines(lines)


def test_a_body_in_no_known_format_fails_without_a_guess(ingest_lines: IngestLines) -> None:
    lines = [combined()] * 150 + ["Nov 12 10:00:00 host sshd[1]: Accepted publickey"] * 300
    with pytest.raises(LogSourceError, match=r"first at line 151\); they look like no format"):
        ingest_lines(lines)


def test_rejects_among_lines_of_the_format_point_to_the_rejects(
    ingest_lines: IngestLines,
) -> None:
    """Only the lines the format could not read are sniffed, not the good ones among them."""
    bad = combined(ip="not-an-address")
    with pytest.raises(
        LogSourceError,
        match=r"301 of 500 lines do not parse as nginx-combined \(detected; first at line 1\); "
        r"they look like no format scraperwatch knows \(`scraperwatch ingest --rejects",
    ):
        ingest_lines([bad] + [combined()] * 199 + [bad] * 300)


def test_a_few_caddy_lines_do_not_make_an_nginx_log_caddy(ingest_lines: IngestLines) -> None:
    """Sniffing counts the lines a format parses: by share alone, 5 Caddy lines (whose reader
    skips what is no JSON) outweighed 195 nginx lines, which were then skipped unseen."""
    got = ingest_lines([caddy()] * 5 + [combined()] * 300)
    rep = got.report
    assert (rep.format, rep.parsed, rep.skipped, rep.rejected) == ("nginx-combined", 300, 0, 5)


def test_nginx_lines_read_as_caddy_are_not_skipped_unseen(ingest_lines: IngestLines) -> None:
    """Given --log-format caddy, lines that are no JSON are skipped (other programs' output),
    unless they are mostly lines of another format: then the read fails and names it."""
    with pytest.raises(
        LogSourceError,
        match=r"300 of 305 lines do not parse as caddy \(given; first at line 6\); from there "
        r"its lines look like nginx-combined\. If the whole file is, give --log-format combined",
    ):
        ingest_lines([caddy()] * 5 + [combined()] * 300, log_format="caddy")


def test_a_few_nginx_lines_in_a_caddy_log_are_noted(ingest_lines: IngestLines) -> None:
    got = ingest_lines([caddy()] * 50 + [combined()] * 10 + [caddy()] * 10)
    rep = got.report
    assert (rep.format, rep.parsed, rep.skipped, rep.foreign) == ("caddy", 60, 10, 10)
    assert (
        "10 lines are not caddy and were skipped; from line 51 on they look like "
        "nginx-combined: the file mixes formats? Split it, and read those lines with "
        "--log-format combined"
    ) in rep.notes


def test_docker_compose_logs_with_chatty_neighbours_are_read(ingest_lines: IngestLines) -> None:
    """Other services' lines in `docker compose logs` are no JSON and no known format: they
    are skipped and counted, however many they are."""
    lines = []
    for n in range(30):
        lines.append("caddy-1  | " + caddy())
        lines += [f"web-1    | {n}.{k} GET /health took 3ms" for k in range(4)]
    rep = ingest_lines(lines).report
    assert (rep.format, rep.parsed, rep.skipped, rep.rejected) == ("caddy", 30, 120, 0)
    assert rep.foreign == 120
    assert not [n for n in rep.notes if "mixes formats" in n]


@pytest.mark.parametrize(
    "request_line",
    [
        "GET / HTTP/1.1",
        "GET /search?q=a+b&page=2 HTTP/2.0",
        "GET /ends-in-a-question-mark? HTTP/1.1",
        "GET /?? HTTP/1.0",
        "GET /http09",
        "PROPFIND /dav/\\xC3\\xA9t\\xC3\\xA9 HTTP/1.1",
    ],
)
def test_a_split_request_line_is_given_back_by_the_documented_sql(
    ingest_lines: IngestLines, request_line: str
) -> None:
    """docs/schema.md: `request` is null when it splits, and this expression gives it back."""
    got = ingest_lines([combined(request=request_line)], log_format="combined")
    assert got.requests[s.REQUEST].to_list() == [None]
    back = pl.SQLContext(requests=got.requests).execute(
        "SELECT method || ' ' || path || coalesce('?' || query, '') || coalesce(' ' || protocol, '')"
        " AS line FROM requests",
        eager=True,
    )
    assert back["line"].to_list() == [request_line.replace("\\xC3\\xA9", "é")]


def test_counts_skips_and_rejects(ingest_lines: IngestLines) -> None:
    lines = [
        combined(),
        "",
        "   ",
        '2026/11/12 10:00:00 [error] 31#31: *7 limiting requests, excess: 5.1 by zone "api", client: 192.0.2.1',
        combined(request="\\x16\\x03\\x01\\x00"),  # a TLS handshake sent to port 80
        combined(ip="not-an-ip"),
        combined().replace("200", "2x0"),
    ]
    got = ingest_lines(lines, log_format="combined")
    rep = got.report
    assert (rep.lines, rep.parsed, rep.skipped, rep.rejected) == (7, 2, 3, 2)
    # A request line that splits is kept split; a binary probe stays whole, decoded.
    assert got.requests[s.REQUEST].to_list() == [None, "\x16\x03\x01\x00"]
    assert got.requests[s.METHOD].to_list() == ["GET", None]
    assert dict(zip(got.rejected[s.LINE_NO], got.rejected[s.REASON], strict=True)) == {
        6: "the client address is not an IP address",
        7: "does not match the nginx log format 'combined'",
    }


def test_crlf_line_ends(ingest_lines: IngestLines) -> None:
    data = ("\r\n".join([combined(), combined()]) + "\r\n").encode()
    got = ingest_lines(data)
    assert got.requests.height == 2
    assert got.rejected.height == 0


# --- Caddy --------------------------------------------------------------------------------


def caddy(**over: Any) -> str:
    doc: dict[str, Any] = {
        "level": "info",
        "ts": 1794560400.5,
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": {
            "remote_ip": "10.0.0.2",
            "remote_port": "5000",
            "client_ip": "203.0.113.5",
            "proto": "HTTP/2.0",
            "method": "GET",
            "host": "social.example:443",
            "uri": "/api/v1/timelines/public?local=true&max_id=1",
            "headers": {
                "User-Agent": [UA],
                "Accept": ["application/json", "text/html"],
                "Sec-Ch-Ua": ['"Chromium";v="130"'],
                "Cookie": ["REDACTED"],
            },
        },
        "bytes_read": 0,
        "user_id": "",
        "duration": 0.0021,
        "size": 512,
        "status": 200,
    }
    for key, value in over.items():
        if key in doc["request"]:
            doc["request"][key] = value
        else:
            doc[key] = value
    return json.dumps(doc)


def test_caddy_line_in_full(ingest_lines: IngestLines) -> None:
    row = ingest_lines([caddy()]).requests.row(0, named=True)
    assert row == row | {
        s.TS: datetime(2026, 11, 13, 9, 0, 0, 500000, tzinfo=UTC),
        s.CLIENT_IP: "203.0.113.5",
        s.PEER_IP: "10.0.0.2",
        s.HOST: "social.example",
        s.PATH: "/api/v1/timelines/public",
        s.QUERY: "local=true&max_id=1",
        s.PROTOCOL: "HTTP/2.0",
        s.ACCEPT: "application/json, text/html",  # several values, joined as in HTTP
        s.SEC_CH_UA: '"Chromium";v="130"',
        s.REQUEST_TIME: pytest.approx(0.0021),
        s.BYTES_SENT: 512,
        s.REMOTE_USER: None,
        s.REQUEST: None,  # Caddy logs no request line
        s.SOURCE_FORMAT: "caddy",
    }


@pytest.mark.parametrize(
    ("over", "client", "peer"),
    [
        ({"client_ip": ""}, "10.0.0.2", "10.0.0.2"),  # empty client_ip: the peer
        ({"client_ip": "not-an-ip"}, "10.0.0.2", "10.0.0.2"),
        ({"remote_ip": "::ffff:192.0.2.8", "client_ip": None}, "192.0.2.8", "192.0.2.8"),
        (
            {"remote_ip": None, "remote_addr": "[2001:db8::5]:4431", "client_ip": None},
            "2001:db8::5",
            "2001:db8::5",
        ),
        (
            {"remote_ip": None, "remote_addr": "192.0.2.9:4431", "client_ip": None},
            "192.0.2.9",
            "192.0.2.9",
        ),
    ],
    ids=["empty-client_ip", "bad-client_ip", "v4-mapped", "old-caddy-v6", "old-caddy-v4"],
)
def test_caddy_addresses(
    ingest_lines: IngestLines, over: dict[str, Any], client: str, peer: str
) -> None:
    line = json.loads(caddy())
    for k, v in over.items():
        if v is None:
            line["request"].pop(k, None)
        else:
            line["request"][k] = v
    row = ingest_lines([json.dumps(line)]).requests.row(0, named=True)
    assert (row[s.CLIENT_IP], row[s.PEER_IP]) == (client, peer)


@pytest.mark.parametrize(
    ("ts", "duration", "expect_ts", "expect_duration"),
    [
        (
            "2026-11-13T10:00:00.5+01:00",
            "2.1ms",
            datetime(2026, 11, 13, 9, 0, 0, 500000, tzinfo=UTC),
            0.0021,
        ),
        (
            1794560400500,
            0.5,
            datetime(2026, 11, 13, 9, 0, 0, 500000, tzinfo=UTC),
            0.5,
        ),  # unix_milli
        (1794560400500000000, "1m3s", datetime(2026, 11, 13, 9, 0, 0, 500000, tzinfo=UTC), None),
    ],
    ids=["rfc3339-and-go-duration", "milliseconds", "nanoseconds"],
)
def test_caddy_time_formats(
    ingest_lines: IngestLines,
    ts: Any,
    duration: Any,
    expect_ts: datetime,
    expect_duration: float | None,
) -> None:
    row = ingest_lines([caddy(ts=ts, duration=duration)]).requests.row(0, named=True)
    assert row[s.TS] == expect_ts
    assert row[s.REQUEST_TIME] == (pytest.approx(expect_duration) if expect_duration else None)


@pytest.mark.parametrize(
    ("ts", "expect"),
    [
        ("1716723772.6014807", datetime(2024, 5, 26, 11, 42, 52, 601481, tzinfo=UTC)),
        # the 7th decimal rounds half up, on the shortest text of the double (what Caddy
        # writes; both JSON decoders read other text through the double first); a float
        # would round 1716723772.6014805 down: it is 1716723772.60148048... as a double
        ("1716723772.6014805", datetime(2024, 5, 26, 11, 42, 52, 601481, tzinfo=UTC)),
        ("1716723772.6014802", datetime(2024, 5, 26, 11, 42, 52, 601480, tzinfo=UTC)),
        ("1716723772.9999996", datetime(2024, 5, 26, 11, 42, 53, tzinfo=UTC)),
        ("1716723772", datetime(2024, 5, 26, 11, 42, 52, tzinfo=UTC)),
        ("0.0000005", datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
    ],
)
def test_caddy_float_seconds_are_read_exactly(
    ingest_lines: IngestLines, ts: str, expect: datetime
) -> None:
    line = caddy().replace('"ts": 1794560400.5', f'"ts": {ts}')
    assert f'"ts": {ts},' in line
    assert ingest_lines([line]).requests[s.TS].to_list() == [expect]


def test_caddy_other_loggers_and_damage(ingest_lines: IngestLines) -> None:
    lines = [
        caddy(),
        '{"level":"info","ts":1794560400.1,"logger":"tls","msg":"certificate obtained"}',
        caddy(),
        caddy(),
        "plain text from some wrapper script",
        caddy()[:-40],  # an access entry cut short
        caddy().replace('"status": 200', '"status": 200,'),  # broken JSON
        caddy(ts="yesterday"),
        caddy(),
    ]
    got = ingest_lines(lines)
    rep = got.report
    assert (rep.lines, rep.parsed, rep.skipped, rep.rejected) == (9, 4, 2, 3)
    reasons = dict(zip(got.rejected[s.LINE_NO], got.rejected[s.REASON], strict=True))
    assert reasons[6].startswith("an access-log entry that is not a whole JSON object")
    assert reasons[7].startswith("broken JSON")
    assert reasons[8].startswith("no usable `ts` time")
    assert any("broken JSON" in n for n in rep.notes)


def test_caddy_log_starting_with_many_other_lines_is_detected(ingest_lines: IngestLines) -> None:
    other = '{"level":"info","ts":1794560400.1,"logger":"http","msg":"server running"}'
    got = ingest_lines([other] * 300 + [caddy()])
    assert (got.report.format, got.report.parsed, got.report.skipped) == ("caddy", 1, 300)


# --- the client: trusted proxies (nginx's realip) -----------------------------------------


@pytest.mark.parametrize(
    ("peer", "xff", "trusted", "client"),
    [
        ("10.0.0.5", "203.0.113.9, 10.0.0.4", ["10.0.0.0/8"], "203.0.113.9"),
        ("10.0.0.5", "198.51.100.1, 203.0.113.9, 10.0.0.4", ["10.0.0.0/8"], "203.0.113.9"),
        ("192.0.2.77", "203.0.113.9", ["10.0.0.0/8"], "192.0.2.77"),  # the peer is no proxy
        ("10.0.0.5", "10.0.0.9, 10.0.0.4", ["10.0.0.0/8"], "10.0.0.9"),  # all trusted: leftmost
        ("10.0.0.5", "garbage, 10.0.0.4", ["10.0.0.0/8"], "10.0.0.4"),  # stops at a non-address
        ("10.0.0.5", "garbage", ["10.0.0.0/8"], "10.0.0.5"),
        ("10.0.0.5", "203.0.113.9:4242, ,10.0.0.4", ["10.0.0.0/8"], "203.0.113.9"),
        ("10.0.0.5", "[2001:db8::7]:443", ["10.0.0.5"], "2001:db8::7"),
        ("2001:db8:ffff::1", "2001:DB8::0:7", ["2001:db8:ffff::/48"], "2001:db8::7"),
        ("10.0.0.5", "-", ["10.0.0.0/8"], "10.0.0.5"),
    ],
    ids=[
        "one-proxy",
        "rightmost-untrusted",
        "untrusted-peer",
        "all-trusted",
        "garbage-hop",
        "only-garbage",
        "ports-and-empty-entries",
        "bracketed-v6",
        "v6-proxy",
        "no-header",
    ],
)
def test_realip(
    ingest_lines: IngestLines, peer: str, xff: str, trusted: list[str], client: str
) -> None:
    got = ingest_lines([main_line(peer, xff)], log_format="main", trusted=trusted)
    assert got.requests[s.CLIENT_IP].to_list() == [client]


def test_unix_socket_peer(ingest_lines: IngestLines) -> None:
    line = main_line("unix:", "203.0.113.9")
    got = ingest_lines([main_line("192.0.2.1", "-"), line], log_format="main")
    assert got.rejected[s.REASON].to_list()[0].startswith("the client came through a unix socket")
    got = ingest_lines([line], log_format="main", trusted=["unix:"])
    assert got.requests.row(0, named=True)[s.CLIENT_IP] == "203.0.113.9"
    assert got.requests.row(0, named=True)[s.PEER_IP] == "unix:"


def test_format_with_only_x_forwarded_for(ingest_lines: IngestLines) -> None:
    fmt = '$http_x_forwarded_for - $remote_user [$time_local] "$request" $status'
    lines = [
        f'198.51.100.1, 203.0.113.9 - - {T} "GET / HTTP/1.1" 200',
        f'- - - {T} "GET / HTTP/1.1" 200',
    ]
    got = ingest_lines(lines, log_format=fmt)
    assert got.requests[s.CLIENT_IP].to_list() == ["203.0.113.9"]  # the rightmost entry
    assert got.rejected[s.REASON].to_list() == ["no client address in the line"]


def test_bad_trusted_proxy_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an address or a CIDR"):
        open_logs([LOG_FIXTURES / "combined.log"], ReadOptions(trusted_proxies=("nope",)))


# --- the careful path and inputs ----------------------------------------------------------


def test_invalid_utf8_in_escape_json_becomes_replacement(ingest_lines: IngestLines) -> None:
    fmt = 'escape=json {"t":"$time_iso8601","ip":"$remote_addr","s":"$status","ua":"$http_user_agent"}'
    line = '{"t":"2026-11-12T10:00:00+01:00","ip":"192.0.2.1","s":"200","ua":"caf\xe9"}'.encode(
        "latin-1"
    )
    got = ingest_lines([line], log_format=fmt)
    assert got.requests[s.USER_AGENT].to_list() == ["caf\ufffd"]  # JSON must stay JSON
    assert "U+FFFD" in got.report.notes[0]


def test_truncated_zstd_keeps_complete_lines(tmp_path: Path) -> None:
    import zstandard

    text = "".join(
        combined(ip=f"192.0.{i // 250}.{i % 250 + 1}", request=f"GET /{i * 7919} HTTP/1.1") + "\n"
        for i in range(20_000)
    )
    data = zstandard.ZstdCompressor().compress(text.encode())
    path = tmp_path / "access.log.1.zst"
    path.write_bytes(data[: len(data) // 2])
    got = ingest_paths([path])
    assert 0 < got.report.parsed < 20_000
    assert got.report.rejected <= 1  # at most the line cut in half
    assert any("ends early" in n for n in got.report.notes)


def test_truncated_small_gzip_is_read_not_refused(tmp_path: Path) -> None:
    """Shorter than the sniffing head: what could be read is read, the damage is noted."""
    data = gzip.compress(("\n".join([combined()] * 50) + "\n").encode())
    path = tmp_path / "access.log.2.gz"
    path.write_bytes(data[: len(data) - 10])
    got = ingest_paths([path])
    assert got.report.parsed >= 40
    assert any("ends early" in n for n in got.report.notes)


# --- progress -----------------------------------------------------------------------------


class RecordingReporter:
    live = True  # progress is shown: the reader counts it

    def __init__(self) -> None:
        self.starts: list[tuple[str, int | None]] = []
        self.advanced = 0
        self.finished = 0

    def start(self, label: str, total_bytes: int | None) -> None:
        self.starts.append((label, total_bytes))

    def advance(self, nbytes: int) -> None:
        self.advanced += nbytes

    def finish(self) -> None:
        self.finished += 1

    def note(self, message: str) -> None:
        pass


def test_progress_reports_bytes_once_per_pass(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("".join(combined(ip=f"192.0.2.{i % 200 + 1}") + "\n" for i in range(50_000)))
    rec = RecordingReporter()
    logs = open_logs([path], ReadOptions(), reporter=rec)
    (frame,), _ = logs.run(lambda r: [r.select(pl.len())], reporter=rec)
    logs.cleanup()
    size = path.stat().st_size
    assert rec.starts == [("reading 1 file", size)]
    assert rec.finished == 1
    # Advanced by the lines read, estimated from the head's line length: once, not per output.
    assert 0.9 * size <= rec.advanced <= 1.1 * size
    assert frame.item() == 50_000


def test_progress_total_is_unknown_for_compressed_input(tmp_path: Path) -> None:
    rec = RecordingReporter()
    logs = open_logs([LOG_FIXTURES / "truncated.log.gz"], ReadOptions(), reporter=rec)
    logs.run(lambda r: [], reporter=rec)
    logs.cleanup()
    # The truncated file is read again, carefully: a second bar says so.
    assert rec.starts == [("reading 1 file", None), ("reading 1 file again", None)]
    assert rec.finished == 2


def test_schema_doc_lists_every_column() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "schema.md").read_text()
    for col in [*s.REQUEST_SCHEMA, *s.REJECTED_SCHEMA]:
        assert f"| `{col}` |" in doc, f"docs/schema.md does not document {col}"


@pytest.mark.parametrize("name", ["access[1].log", "access*.log", "access?.log", "a{b,c}.log"])
@pytest.mark.parametrize("fmt", ["combined", "caddy"])
def test_a_log_named_like_a_pattern_is_read_as_itself(tmp_path: Path, name: str, fmt: str) -> None:
    """Polars and DuckDB take `[`, `*`, `?` and `{` in a path for a pattern: a log so named
    was read as no file at all (0 lines, silently) before they were told otherwise."""
    (tmp_path / "access1.log").write_text(combined("192.0.2.99") + "\n")  # what [1] would match
    line = combined() if fmt == "combined" else caddy()
    path = tmp_path / name
    path.write_text(line + "\n" + line + "\n")
    logs = open_logs([path], ReadOptions(log_format=fmt))
    try:
        (requests,), _ = logs.run(lambda r: [r])
    finally:
        logs.cleanup()
    assert (logs.reports[0].lines, logs.reports[0].parsed) == (2, 2)
    assert requests[s.LINE_NO].to_list() == [1, 2]
    assert "192.0.2.99" not in requests[s.CLIENT_IP].to_list()
    if fmt == "caddy":  # DuckDB would read the name as a glob: the line reader reads it
        assert logs.reports[0].reader == "lines"
        assert logs.reports[0].fallback is not None
        assert "a character DuckDB reads as a pattern" in logs.reports[0].fallback
        assert f"read by the line reader, not DuckDB: {logs.reports[0].fallback}" in (
            logs.reports[0].notes
        )
    else:
        assert logs.reports[0].fallback is None
