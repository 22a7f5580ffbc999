"""Field helpers (escapes, addresses) and input handling (rotation order, compression)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from pathlib import Path

import polars as pl
import pytest
import zstandard
from conftest import IngestLines
from hypothesis import given, settings
from hypothesis import strategies as st

from scraperwatch.errors import LogSourceError
from scraperwatch.sources.fields import (
    canonical_address,
    decode_nginx,
    normalize_address,
    normalize_ip,
)
from scraperwatch.sources.files import expand_inputs, iter_lines, read_head


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("plain", "plain"),
        (r"\x22quoted\x22", '"quoted"'),
        (r"\x5Cx41", r"\x41"),  # an escaped backslash is a backslash, not a new escape
        (r"caf\xC3\xA9", "café"),  # UTF-8 split into escapes
        (r"caf\xE9", r"caf\xE9"),  # not UTF-8: stays as nginx wrote it
        (r"\x16\x03\x01\x00", "\x16\x03\x01\x00"),  # a TLS handshake on port 80
        (r"\xZZ \x4", r"\xZZ \x4"),  # not escapes
        (r"\xf0\x9f\x98\x80", "\U0001f600"),  # lower-case hex too
    ],
)
def test_decode_nginx(raw: str, decoded: str) -> None:
    assert decode_nginx(raw) == decoded


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:8080", "192.0.2.1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("unix:", "unix:"),
        ("010.0.0.1", None),  # ambiguous octal-looking address: not accepted
        ("256.1.1.1", None),
        ("example.org", None),
        ("-", None),
    ],
)
def test_normalize_address(raw: str, address: str | None) -> None:
    assert normalize_address(raw) == address
    series = pl.DataFrame({"a": [raw, "192.0.2.9", None]}).select(normalize_ip(pl.col("a")))
    assert series.to_series().to_list() == [address, "192.0.2.9", None]


def _touch(d: Path, *names: str) -> None:
    for n in names:
        (d / n).write_bytes(b"x\n")


def test_rotation_order_oldest_first(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "access.log",
        "access.log.1",
        "access.log.2.gz",
        "access.log.10.gz",
        "access.log-20261101.gz",
        "access.log-20261102",
        "other.log",
        "notes.md",
    )
    names = [Path(i.name).name for i in expand_inputs([tmp_path])]
    assert names == [
        "access.log-20261101.gz",
        "access.log-20261102",
        "access.log.10.gz",
        "access.log.2.gz",
        "access.log.1",
        "access.log",
        "other.log",
    ]


def test_glob_and_explicit_names_are_read_once(tmp_path: Path) -> None:
    _touch(tmp_path, "access.log", "access.log.1")
    inputs = expand_inputs([tmp_path / "access.log", str(tmp_path / "access.log*"), tmp_path])
    assert [Path(i.name).name for i in inputs] == ["access.log.1", "access.log"]


LINES = b"".join(b"line %d\n" % i for i in range(3000))


@pytest.mark.parametrize(
    ("compress", "kind"),
    [
        (lambda b: gzip.compress(b), "gzip"),
        (lambda b: bz2.compress(b), None),  # inflated to a temporary file
        (lambda b: lzma.compress(b), None),
        (lambda b: zstandard.ZstdCompressor().compress(b), "zstd"),
    ],
    ids=["gzip", "bzip2", "xz", "zstd"],
)
def test_compressed_inputs(tmp_path: Path, compress, kind: str | None) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "access.log.1"
    path.write_bytes(compress(LINES))
    (item,) = expand_inputs([path])
    assert item.compression == kind
    assert read_head(item, 100) == LINES[:100]
    assert b"".join(iter_lines(item)) == LINES
    item.cleanup()


@pytest.mark.parametrize(
    "compress",
    [lambda b: bz2.compress(b, 1), lzma.compress],  # bzip2 with small (100 kB) blocks
    ids=["bzip2", "xz"],
)
def test_truncated_spooled_input_keeps_what_was_read(tmp_path: Path, compress) -> None:  # type: ignore[no-untyped-def]
    big = b"".join(b"line %d %s\n" % (i, b"x" * (i % 97)) for i in range(40_000))
    data = compress(big)
    path = tmp_path / "access.log.3"
    path.write_bytes(data[: len(data) // 2])
    (item,) = expand_inputs([path])
    assert item.notes
    assert "ends early" in item.notes[0]
    kept = item.path.read_bytes()
    assert 0 < len(kept) < len(big)
    assert big.startswith(kept)
    item.cleanup()


def test_unreadable_compressed_file(tmp_path: Path) -> None:
    path = tmp_path / "access.log.1.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    (item,) = expand_inputs([path])
    with pytest.raises(LogSourceError, match="cannot read it as gzip"):
        read_head(item)


@st.composite
def _address_texts(draw: st.DrawFn) -> str:
    """Addresses written the ways logs write them: compressed, exploded, upper case, ..."""
    ip = draw(st.ip_addresses())
    if ip.version == 4:
        return str(ip)
    form = draw(st.sampled_from(["compressed", "exploded", "upper", "partial", "mapped"]))
    if form == "compressed":
        return str(ip)
    if form == "exploded":
        return ip.exploded
    if form == "upper":
        return str(ip).upper()
    if form == "mapped":
        return f"::ffff:{draw(st.ip_addresses(v=4))}"
    return ":".join(g.lstrip("0") or "0" for g in ip.exploded.split(":"))  # zeros written out


@settings(max_examples=300, deadline=None)
@given(st.lists(_address_texts(), min_size=1, max_size=50))
def test_the_fast_canonical_check_never_lies(texts: list[str]) -> None:
    """Addresses Polars deems canonical skip Python: they must be what Python would write."""
    flags = pl.DataFrame({"a": texts}).select(canonical_address(pl.col("a"))).to_series()
    for text, canonical in zip(texts, flags, strict=True):
        if canonical:
            assert normalize_address(text) == text


# The request line's grammar (fields.py): method, target and an optional HTTP protocol. The
# reader checks the parts of the split line instead of running this regex over it; both must
# give the same verdict on any request.
_REQUEST_LINE = re.compile(r"[A-Za-z][A-Za-z0-9_-]* [^ ]+(?: HTTP/[0-9.]+)?")
_request_texts = st.text(
    alphabet=st.sampled_from(list("GETPOSgetH/TP10.9 -_?a\t\u00e9")), max_size=24
)
_REQUESTS = [
    "GET / HTTP/1.1",
    "GET /a?b=c HTTP/2.0",
    "GET /",  # HTTP/0.9: no protocol
    "M-SEARCH * HTTP/1.1",
    "GET  / HTTP/1.1",  # two spaces
    "GET / ",  # a trailing space
    "GET ",  # no target
    "GET / HTTP/1.1 x",
    "GET / FTP/1.0",
    "GET / HTTP/",
    "1GET / HTTP/1.1",
    "GET",
    "",
    " / HTTP/1.1",
    "\\x16\\x03\\x01",  # a TLS handshake on a plain-HTTP port
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_REQUESTS) | _request_texts, min_size=1, max_size=30))
def test_the_request_line_split_agrees_with_its_grammar(requests: list[str]) -> None:
    from scraperwatch import schema as s
    from scraperwatch.sources.fields import LINE, REASON, ROW
    from scraperwatch.sources.nginx import NginxSource

    requests = [r for r in requests if r != "-"] or ["GET / HTTP/1.1"]  # "-" is null
    lines = [f'192.0.2.1 - - [12/Nov/2026:10:00:00 +0100] "{r}" 200 5 "-" "ua"' for r in requests]
    frame = pl.LazyFrame({LINE: lines, ROW: range(1, len(lines) + 1)})
    got = NginxSource("combined").parse(frame).collect()
    for request, row in zip(requests, got.iter_rows(named=True), strict=True):
        assert row[REASON] is None, (request, row[REASON])
        if _REQUEST_LINE.fullmatch(request):
            method, target, *protocol = request.split(" ", 2)
            path, _, query = target.partition("?")
            assert row[s.REQUEST] is None, request  # kept in its parts
            assert (row[s.METHOD], row[s.PATH], row[s.PROTOCOL]) == (
                method,
                path,
                protocol[0] if protocol else None,
            ), request
            assert row[s.QUERY] == (query if "?" in target else None), request
        else:
            assert row[s.REQUEST] == decode_nginx(request), request
            assert (row[s.METHOD], row[s.PATH], row[s.QUERY], row[s.PROTOCOL]) == (None,) * 4


def test_escapes_and_odd_addresses_are_fixed_in_every_batch(ingest_lines: IngestLines) -> None:
    """The reader decodes escapes and normalises addresses only in the marked rows of each
    batch, and writes back only the columns that changed: across many batches, with an escape
    in one field or in several, an odd address with or without an escape, every row must be
    what the plain functions give, and the other rows must stay as they were."""
    fields = ["/p", "q=1", "https://ref.example/", "agent"]
    odd = ["2001:DB8::1", "[2001:db8::2]:443", "::ffff:192.0.2.9", "192.0.2.10:8080"]
    lines = []
    for n in range(40_000):
        addr = f"198.51.{n // 250 % 250}.{n % 250}"
        path, query, referer, agent = fields
        if n % 997 == 0:
            agent = r"caf\xC3\xA9 \x22bot\x22"
        if n % 1499 == 0:
            path, referer = r"/a\x5Cb", r"https://x.example/\xE9"
        if n % 2003 == 0:
            addr = odd[n // 2003 % len(odd)]
        lines.append(
            f'{addr} - - [12/Nov/2026:10:00:00 +0100] "GET {path}?{query} HTTP/1.1" 200 5 '
            f'"{referer}" "{agent}"'
        )
    got = ingest_lines(lines).requests.sort("line_no")
    assert got.height == len(lines)
    for line, row in zip(lines, got.iter_rows(named=True), strict=True):
        addr, rest = line.split(" ", 1)
        parts = rest.split('"')
        target = parts[1].split(" ")[1]
        path, query = target.split("?", 1)
        assert row["peer_ip"] == normalize_address(addr) == row["client_ip"]
        assert (row["path"], row["query"]) == (decode_nginx(path), decode_nginx(query))
        assert row["referer"] == decode_nginx(parts[3])
        assert row["user_agent"] == decode_nginx(parts[5])
