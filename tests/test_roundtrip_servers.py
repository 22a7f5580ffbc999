"""Round trip through the real servers: what a client sends comes back out of ingest exactly.

A real nginx (with `combined`, with a custom log_format carrying $request_time and $host, and
with an escape=json format) and a real Caddy (JSON access log) run on 127.0.0.1 on free ports
(tests/servers.py). Requests with known fields are sent from several 127.x source addresses
(and ::1 when the machine has IPv6 loopback) with a raw socket client, so that the exact bytes
of odd user agents (quotes, backslashes, tabs, UTF-8 and non-UTF-8 bytes) and an 8 KB query
reach the server. After the server stops, its access log is ingested and every line must give
back the method, path, query, status, user agent, referer, host and client address sent.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import ingest_paths
from servers import LOCALHOST, Server, have_ipv6_loopback, requires, run_caddy, run_nginx

from scraperwatch import schema as s

pytestmark = pytest.mark.server

IPV6 = have_ipv6_loopback()
LONG_QUERY = "max_id=" + "9" * 20 + "&" + "&".join(f"k{i}=v%20{i}" for i in range(590))
assert 7_000 < len(LONG_QUERY) < 7_900  # fits nginx's default 8 KB request-line buffer


@dataclass(frozen=True)
class Sent:
    """One request as sent. user_agent/referer are the raw header bytes (None: not sent)."""

    source: str
    method: str
    target: str
    user_agent: bytes | None
    referer: bytes | None = None
    status: int = 200
    host: str = "social.example"

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str | None:
        return self.target.partition("?")[2] if "?" in self.target else None


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


REQUESTS: list[Sent] = [
    Sent("127.0.0.1", "GET", "/@alice", _utf8("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")),
    Sent(
        "127.0.0.2",
        "GET",
        "/robots.txt",
        _utf8("Quote \"inside\" and 'single'"),
        _utf8("https://a.example/?q=1"),
    ),
    Sent(
        "127.1.2.3",
        "GET",
        "/api/v1/timelines/public?" + LONG_QUERY,
        _utf8("python-requests/2.32.3"),
    ),
    Sent(
        "127.254.0.9",
        "POST",
        "/inbox",
        _utf8("http.rb/5.1.1 (Mastodon/4.2.8; +https://m.example/)"),
    ),
    Sent("127.0.0.3", "GET", "/gone", _utf8(r"back\slash \x41 and \\x22 not escapes"), status=410),
    Sent("127.0.0.4", "HEAD", "/@bob/1?x=%22y%22&z='(a)'", _utf8("Bot/1.0 (café; 日本語; 😀)")),
    Sent("127.0.0.5", "GET", "/tags/fediverse", b"Legacy\xe9Agent/1.0"),  # Latin-1 byte: not UTF-8
    Sent("127.0.0.6", "GET", "/teapot", _utf8("tab\there {braces} $dollar; #hash"), status=418),
    Sent("127.0.0.7", "DELETE", "/api/v1/statuses/1", None),  # no User-Agent header at all
    Sent("127.0.0.8", "PROPFIND", "/dav/", _utf8("x" * 2000)),
    Sent("127.9.9.9", "GET", "/search?q=a+b&tag[]=1;2", _utf8("curl/8.5.0"), _utf8("-x-")),
]
if IPV6:
    REQUESTS.append(Sent("::1", "GET", "/@ipv6", _utf8("curl/8.5.0 (IPv6)")))


def send(port: int, req: Sent) -> int:
    """Send one request as raw bytes from req.source; return the response status."""
    family = socket.AF_INET6 if ":" in req.source else socket.AF_INET
    lines = [
        f"{req.method} {req.target} HTTP/1.1".encode("ascii"),
        f"Host: {req.host}:{port}".encode(),
    ]
    if req.user_agent is not None:
        lines.append(b"User-Agent: " + req.user_agent)
    if req.referer is not None:
        lines.append(b"Referer: " + req.referer)
    if req.method in ("POST", "PROPFIND"):
        lines.append(b"Content-Length: 0")
    lines.append(b"Connection: close")
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.bind((req.source, 0))
        sock.connect((req.source if family == socket.AF_INET6 else LOCALHOST, port))
        sock.sendall(data)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def decoded_ua(raw: bytes | None, *, json_log: bool) -> str | None:
    """What the user agent must read as after the round trip.

    nginx escapes bytes (default escaping) and scraperwatch decodes them: UTF-8 comes back as
    text, a byte that is not UTF-8 stays written `\\xE9` (nothing is lost). Caddy's JSON and
    nginx's escape=json write such a byte as U+FFFD (Go replaces it; scraperwatch replaces the
    raw byte nginx writes, to keep the line valid JSON).
    """
    if raw is None:
        return None
    errors = "replace" if json_log else "backslashreplace"
    text = raw.decode("utf-8", errors)
    return text.replace("\\xe9", "\\xE9")


def run_requests(server: Server) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0)
    for req in REQUESTS:
        assert send(server.port, req) == req.status, req
    return start, datetime.now(UTC) + timedelta(seconds=1)


def check_round_trip(
    log: Path,
    *,
    log_format: str | None,
    window: tuple[datetime, datetime],
    json_log: bool,
    expect_format: str,
    host: Callable[[Sent], str | None],
) -> pl.DataFrame:
    got = ingest_paths([log], log_format=log_format)
    assert got.rejected.height == 0, got.rejected.to_dicts()
    assert got.report.format == expect_format
    df = got.requests
    assert df.height == len(REQUESTS)
    for req, row in zip(REQUESTS, df.iter_rows(named=True), strict=True):
        where = f"{req.method} {req.target[:60]} from {req.source}"
        assert row[s.CLIENT_IP] == row[s.PEER_IP] == req.source, where
        assert row[s.METHOD] == req.method, where
        assert row[s.PATH] == req.path, where
        assert row[s.QUERY] == req.query, where
        assert row[s.STATUS] == req.status, where
        assert row[s.USER_AGENT] == decoded_ua(req.user_agent, json_log=json_log), where
        assert row[s.REFERER] == decoded_ua(req.referer, json_log=json_log), where
        assert row[s.HOST] == host(req), where
        assert window[0] <= row[s.TS] <= window[1], where
    return df


NGINX_LOCATIONS = """\
location = /gone { return 410; }
location = /teapot { return 418; }
location / {
    try_files $uri @ok;
}
location @ok {
    return 200 "ok\\n";
}"""

TIMED_HOST = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time "$host"'
)
JSON_FORMAT = (
    '{"time":"$time_iso8601","client":"$remote_addr","request":"$request","status":$status,'
    '"bytes":$body_bytes_sent,"referer":"$http_referer","ua":"$http_user_agent",'
    '"host":"$host","rt":$request_time}'
)


@requires("nginx")
@pytest.mark.parametrize(
    ("log_format", "escape", "read_as", "expect_format"),
    [
        (None, None, None, "nginx-combined"),
        (TIMED_HOST, None, TIMED_HOST, "nginx-custom"),
        (JSON_FORMAT, "json", "escape=json " + JSON_FORMAT, "nginx-custom"),
    ],
    ids=["combined", "request_time-and-host", "escape-json"],
)
def test_nginx_round_trip(
    tmp_path: Path,
    log_format: str | None,
    escape: str | None,
    read_as: str | None,
    expect_format: str,
) -> None:
    with run_nginx(
        tmp_path / "nginx",
        log_format=log_format,
        log_escape=escape,
        locations=NGINX_LOCATIONS,
        ipv6=IPV6,
    ) as server:
        window = run_requests(server)
    log = server.access_log
    assert log is not None
    has_host = log_format is not None
    df = check_round_trip(
        log,
        log_format=read_as,
        window=window,
        json_log=escape == "json",
        expect_format=expect_format,
        # nginx's $host: the Host header without its port
        host=lambda r: r.host if has_host else None,
    )
    if has_host:
        assert df[s.REQUEST_TIME].null_count() == 0
        assert (df[s.REQUEST_TIME] >= 0).all()
    else:
        assert df[s.REQUEST_TIME].null_count() == df.height  # combined has no request time


def _caddyfile(port: int, root: Path, log: Path) -> str:
    binds = f"{LOCALHOST} [::1]" if IPV6 else LOCALHOST
    return f"""\
{{
\tadmin off
\tauto_https off
}}
http://:{port} {{
\tbind {binds}
\troot * {root}
\tlog {{
\t\toutput file {log}
\t\tformat json
\t}}
\thandle /gone {{
\t\trespond 410
\t}}
\thandle /teapot {{
\t\trespond 418
\t}}
\thandle /robots.txt {{
\t\tfile_server
\t}}
\thandle {{
\t\trespond "ok" 200
\t}}
}}
"""


@requires("caddy")
def test_caddy_round_trip(tmp_path: Path) -> None:
    from servers import free_port

    workdir = tmp_path / "caddy"
    workdir.mkdir()
    port = free_port()
    log = workdir / "access.log"
    root = workdir / "html"
    with run_caddy(workdir, config_text=_caddyfile(port, root, log), port=port) as server:
        window = run_requests(server)
    check_round_trip(
        log,
        log_format=None,
        window=window,
        json_log=True,
        expect_format="caddy",
        host=lambda r: r.host,  # Caddy's request.host, its port stripped by scraperwatch
    )
