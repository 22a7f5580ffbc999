"""Property: any line of bytes either parses or is rejected (or skipped), in every format.

Nothing raises but the tool's own errors, and no line is lost: the counts add up to the lines
in the file. Lines are arbitrary bytes and text (quotes, NUL, brackets, escapes, very long),
and valid lines of each format with random edits, which reach deeper into the parsers.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import ingest_paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraperwatch import schema as s
from scraperwatch.errors import ScraperwatchError
from scraperwatch.sources.logformat import NAMED_FORMATS

JSON_FORMAT = (
    'log_format j escape=json \'{"time":"$time_iso8601","addr":"$remote_addr",'
    '"request":"$request","status":$status,"bytes":$body_bytes_sent,'
    '"ua":"$http_user_agent"}\';'
)
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
T = "[12/Nov/2026:10:00:00 +0100]"
GOOD: dict[str, str] = {
    "combined": f'192.0.2.1 - - {T} "GET /a?b=1 HTTP/1.1" 200 512 "-" "{UA}"',
    "main": f'192.0.2.1 - bob {T} "GET /a HTTP/2.0" 404 0 "https://x/" "{UA}" "198.51.100.7"',
    "vhost": f'example.org:443 2001:db8::1 - - {T} "POST /inbox HTTP/1.1" 202 0 "-" "{UA}"',
    "timed": f'192.0.2.1 - - {T} "GET / HTTP/1.1" 200 5 "-" "{UA}" 0.003',
    "upstreaminfo": f'192.0.2.1 - - {T} "GET /x HTTP/2.0" 200 12312 "-" "{UA}" 462 0.050 '
    "[svc-80] [] 10.0.0.1:80, 10.0.0.2:80 19437, 1 0.049, 0.001 502, 200 abcdef",
    "npm-proxy": f'{T[:-1]}] HIT 200 200 - GET https example.org "/x?y" [Client 192.0.2.9] '
    f'[Length 10] [Gzip 2.1] [Sent-to 10.0.0.1] "{UA}" "-"',
    "npm-standard": f'{T} 404 - GET http example.org "/robots.txt" [Client 192.0.2.9] '
    f'[Length 169] [Gzip -] "{UA}" "-"',
    "caddy": json.dumps(
        {
            "level": "info",
            "ts": 1763000000.5,
            "logger": "http.log.access.log0",
            "msg": "handled request",
            "request": {
                "remote_ip": "192.0.2.5",
                "remote_port": "5555",
                "client_ip": "192.0.2.5",
                "proto": "HTTP/2.0",
                "method": "GET",
                "host": "example.org",
                "uri": "/@alice?page=2",
                "headers": {"User-Agent": [UA], "Accept": ["*/*"]},
            },
            "user_id": "",
            "duration": 0.001,
            "size": 100,
            "status": 200,
        }
    ),
    JSON_FORMAT: json.dumps(
        {
            "time": "2026-11-12T10:00:00+01:00",
            "addr": "192.0.2.1",
            "request": "GET / HTTP/1.1",
            "status": 200,
            "bytes": 10,
            "ua": UA,
        }
    ).replace(": 200", ":200"),
}
assert set(NAMED_FORMATS) | {"caddy", JSON_FORMAT} == set(GOOD)

SPECIAL = '"[]{}\\ -:/?%.,;|\x00\t\r\x7f\u00e9\u2028\U0001f600x\\x22\\xE9\\x0'
junk_text = st.text(alphabet=st.sampled_from(SPECIAL) | st.characters(), max_size=300)
junk_bytes = st.binary(max_size=300)
very_long = st.builds(
    lambda c, n: c * n, st.sampled_from(['"', "a", "[", "\\x41", " "]), st.integers(1000, 200_000)
)


@st.composite
def edited(draw: st.DrawFn, line: str) -> bytes:
    """A valid line with a few random edits: characters deleted, replaced or inserted."""
    text = line
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["del", "ins", "rep", "cut"]))
        ch = draw(st.sampled_from(SPECIAL) | st.characters(codec="utf-8"))
        if op == "del":
            text = text[:pos] + text[pos + 1 :]
        elif op == "ins":
            text = text[:pos] + ch + text[pos:]
        elif op == "rep":
            text = text[:pos] + ch + text[pos + 1 :]
        else:
            text = text[:pos]
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # sometimes a raw byte that is not UTF-8
        at = draw(st.integers(0, len(data)))
        data = data[:at] + bytes([draw(st.integers(0x80, 0xFF))]) + data[at:]
    return data


def lines_for(fmt: str) -> st.SearchStrategy[list[bytes]]:
    one = st.one_of(
        edited(GOOD[fmt]),
        junk_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        junk_bytes,
        very_long.map(str.encode),
    )
    return st.lists(one, min_size=1, max_size=8)


def _count_lines(data: bytes) -> int:
    """Lines as the reader counts them: split on \\n, a final \\n ends the last line."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def check(tmp: Path, fmt: str, fuzz: list[bytes]) -> None:
    good = GOOD[fmt].encode()
    # Good lines around the fuzz keep the file mostly in its format, so that every line is
    # judged on its own (a file mostly in another format is refused, by design).
    data = b"\n".join([*[good] * 5, *fuzz, *[good] * 5]) + b"\n"
    path = tmp / "access.log"
    path.write_bytes(data)
    try:
        got = ingest_paths([path], log_format=fmt)
    except ScraperwatchError as err:
        message = str(err)
        assert message
        assert "cannot read the logs" not in message, message
        assert "only" in message or "do not parse" in message, message
        return
    rep = got.report
    assert rep.lines == _count_lines(data), "every line is counted"
    assert rep.lines == rep.parsed + rep.skipped + rep.rejected
    assert got.requests.height == rep.parsed
    assert got.rejected.height == rep.rejected
    first = got.requests[s.LINE_NO].to_list()[:5]
    assert first == [1, 2, 3, 4, 5], "the good lines parse"
    for col in (s.TS, s.CLIENT_IP, s.STATUS, s.SOURCE_FILE, s.SOURCE_FORMAT, s.LINE_NO):
        assert got.requests[col].null_count() == 0, col
    assert got.rejected[s.REASON].null_count() == 0
    assert (got.rejected[s.EXCERPT].str.len_chars() <= s.EXCERPT_CHARS).all()
    lines_no = pl.concat([got.requests[s.LINE_NO], got.rejected[s.LINE_NO]])
    assert lines_no.n_unique() == lines_no.len(), "no line is both a request and rejected"


@pytest.mark.parametrize(
    "fmt", sorted(GOOD), ids=lambda f: f if f in GOOD and len(f) < 20 else "escape-json"
)
@settings(
    max_examples=int(__import__("os").environ.get("SW_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_line_parses_or_is_rejected(fmt: str, data: st.DataObject, tmp_path: Path) -> None:
    check(tmp_path, fmt, data.draw(lines_for(fmt)))


@pytest.mark.parametrize(
    "fuzz",
    [
        [b"\x00" * 50],
        [b'"' * 10_000],
        [b"\xff\xfe\xfd"],
        [b"{" * 5000],
        [b'{"logger":"http.log.access","ts":"x"'],
        [b'{"logger":"http.log.access", "ts": 1e400, "status": 99999999999999999999}'],
        [b"\\x"],
        [b"-" * 1_048_576],
        [b"\r\n\r\n"],
    ],
    ids=[
        "nul",
        "quotes",
        "not-utf8",
        "braces",
        "cut-json",
        "huge-numbers",
        "lone-escape",
        "1mb",
        "crlf",
    ],
)
@pytest.mark.parametrize(
    "fmt", ["combined", "caddy", JSON_FORMAT], ids=["combined", "caddy", "escape-json"]
)
def test_known_nasty_lines(fmt: str, fuzz: list[bytes], tmp_path: Path) -> None:
    check(tmp_path, fmt, fuzz)


# --- values survive: lines written as nginx writes them parse back to the same values -----


def nginx_escape(value: bytes) -> str:
    """nginx's default escaping of a variable: `"`, `\\`, bytes < 0x20 and >= 0x7F as \\xHH."""
    return "".join(
        f"\\x{b:02X}" if b in (0x22, 0x5C) or b < 0x20 or b >= 0x7F else chr(b) for b in value
    )


header_bytes = st.binary(min_size=1, max_size=80).filter(lambda b: b != b"-")
words = st.text(alphabet=st.sampled_from("abcXYZ019-_./~%@:+"), min_size=1, max_size=30)


@settings(
    max_examples=int(__import__("os").environ.get("SW_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    user=header_bytes,
    path=words,
    query=st.none() | words,
    ua=header_bytes,
    referer=header_bytes,
    status=st.integers(100, 599),
    size=st.integers(0, 10**12),
    ip=st.ip_addresses(),
)
def test_values_survive_the_round_trip(
    tmp_path: Path,
    user: bytes,
    path: str,
    query: str | None,
    ua: bytes,
    referer: bytes,
    status: int,
    size: int,
    ip: object,
) -> None:
    target = "/" + path + (f"?{query}" if query is not None else "")
    line = (
        f'{ip} - {nginx_escape(user)} [12/Nov/2026:10:00:00 +0100] "GET {target} HTTP/1.1" '
        f'{status} {size} "{nginx_escape(referer)}" "{nginx_escape(ua)}"'
    )
    path_ = tmp_path / "one.log"
    path_.write_text(line + "\n" + GOOD["combined"] + "\n")
    got = ingest_paths([path_], log_format="combined")
    assert got.rejected.height == 0, (line, got.rejected.to_dicts())
    row = got.requests.row(0, named=True)

    def decoded(b: bytes) -> str:
        return b.decode("utf-8", "scraperwatch-nginx")  # the package's handler: \\xHH kept

    assert row[s.REMOTE_USER] == decoded(user)
    assert row[s.USER_AGENT] == decoded(ua)
    assert row[s.REFERER] == decoded(referer)
    assert (row[s.PATH], row[s.QUERY]) == ("/" + path, query)
    assert (row[s.STATUS], row[s.BYTES_SENT]) == (status, size)
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:a.b.c.d is written as a.b.c.d
    assert row[s.CLIENT_IP] == str(mapped or ip)


# --- the split plan and the regex agree on every line -------------------------------------


@pytest.mark.parametrize("fmt", sorted(set(NAMED_FORMATS)))
@settings(max_examples=int(__import__("os").environ.get("SW_EXAMPLES", "40")), deadline=None)
@given(data=st.data())
def test_split_plan_agrees_with_the_regex(fmt: str, data: st.DataObject) -> None:
    """Segments are taken apart by slices and splits where possible (fast) and by a regex
    otherwise; on any line both must give the same values and the same verdict."""
    from scraperwatch.sources import logformat
    from scraperwatch.sources.fields import LINE, REASON, ROW
    from scraperwatch.sources.nginx import NginxSource

    lines = [
        x.decode("utf-8", "replace").replace("\n", " ").replace("\r", " ")
        for x in data.draw(st.lists(edited(GOOD[fmt]), min_size=1, max_size=10))
    ]
    frame = pl.LazyFrame({LINE: lines, ROW: range(1, len(lines) + 1)})
    fast = NginxSource(fmt).parse(frame).collect()
    original = logformat.Segment.split_plan
    try:
        logformat.Segment.split_plan = lambda self: None  # type: ignore[method-assign]
        slow = NginxSource(fmt).parse(frame).collect()
    finally:
        logformat.Segment.split_plan = original  # type: ignore[method-assign]
    ok_fast, ok_slow = fast[REASON].is_null(), slow[REASON].is_null()
    assert ok_fast.to_list() == ok_slow.to_list(), lines
    cols = [c for c in slow.columns if c not in (REASON,)]
    assert fast.filter(ok_fast).select(cols).equals(slow.filter(ok_slow).select(cols)), lines
