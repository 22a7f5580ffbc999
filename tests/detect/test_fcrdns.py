"""FCrDNS against a real DNS server (dnslib) on 127.0.0.1, and its use by RangeSet.verify."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from scraperwatch.detect.fcrdns import FcrdnsResolver
from scraperwatch.detect.ranges import RangeSet, load_ranges
from scraperwatch.schema import CLAIMED_OPERATOR, CLIENT_IP, VERIFICATION, VERIFICATION_DETAIL

dnslib_server = pytest.importorskip("dnslib.server")
zoneresolver = pytest.importorskip("dnslib.zoneresolver")

# Documentation addresses (RFC 5737, RFC 3849), outside every published range.
ZONE = """
10.2.0.192.in-addr.arpa.   60 IN PTR crawl-192-0-2-10.googlebot.com.
crawl-192-0-2-10.googlebot.com. 60 IN A 192.0.2.10
11.2.0.192.in-addr.arpa.   60 IN PTR crawl-192-0-2-11.googlebot.com.
crawl-192-0-2-11.googlebot.com. 60 IN A 66.249.66.1
12.2.0.192.in-addr.arpa.   60 IN PTR scraper.example.net.
scraper.example.net.       60 IN A 192.0.2.12
20.2.0.192.in-addr.arpa.   60 IN PTR spider-192-0-2-20.spider.yandex.com.
spider-192-0-2-20.spider.yandex.com. 60 IN A 192.0.2.20
21.2.0.192.in-addr.arpa.   60 IN PTR notyandex.com.
notyandex.com.             60 IN A 192.0.2.21
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 60 IN PTR crawl-v6.googlebot.com.
crawl-v6.googlebot.com.    60 IN AAAA 2001:db8::1
"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    resolver = zoneresolver.ZoneResolver(ZONE)
    server = dnslib_server.DNSServer(
        resolver,
        address="127.0.0.1",
        port=0,
        logger=dnslib_server.DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data"),
    )
    server.start_thread()
    try:
        yield int(server.server.server_address[1])
    finally:
        server.stop()
        server.server.server_close()


@pytest.fixture(scope="module")
def shipped() -> RangeSet:
    return load_ranges(include_updates=False)


@pytest.mark.server
@pytest.mark.parametrize(
    ("ip", "suffixes", "confirmed", "definitive", "detail"),
    [
        (
            "192.0.2.10",
            (".googlebot.com",),
            True,
            True,
            "192.0.2.10 -> crawl-192-0-2-10.googlebot.com -> 192.0.2.10",
        ),
        (
            "192.0.2.11",
            (".googlebot.com",),
            False,
            True,
            "crawl-192-0-2-11.googlebot.com does not resolve back to 192.0.2.11",
        ),
        (
            "192.0.2.12",
            (".googlebot.com", ".google.com"),
            False,
            True,
            "PTR scraper.example.net is not under .googlebot.com, .google.com",
        ),
        ("192.0.2.99", (".googlebot.com",), False, True, "PTR of 192.0.2.99: NXDOMAIN"),
        ("192.0.2.21", (".yandex.com",), False, True, "PTR notyandex.com is not under .yandex.com"),
        (
            "2001:db8::1",
            (".googlebot.com",),
            True,
            True,
            "2001:db8::1 -> crawl-v6.googlebot.com -> 2001:db8::1",
        ),
        (
            "::ffff:192.0.2.10",
            (".googlebot.com",),
            True,
            True,
            "::ffff:192.0.2.10 -> crawl-192-0-2-10.googlebot.com -> ::ffff:192.0.2.10",
        ),
    ],
)
def test_fcrdns_outcomes(
    dns_port: int,
    ip: str,
    suffixes: tuple[str, ...],
    confirmed: bool,
    definitive: bool,
    detail: str,
) -> None:
    result = FcrdnsResolver(["127.0.0.1"], port=dns_port, timeout=2).check(ip, suffixes)
    assert (result.confirmed, result.definitive, result.detail) == (confirmed, definitive, detail)


def test_unreachable_dns_is_not_definitive() -> None:
    resolver = FcrdnsResolver(["127.0.0.1"], port=_free_udp_port(), timeout=0.3)
    result = resolver.check("192.0.2.10", (".googlebot.com",))
    assert not result.confirmed
    assert not result.definitive
    assert "error" in result.detail


@pytest.mark.server
def test_verify_with_fcrdns(dns_port: int, shipped: RangeSet) -> None:
    claims = pl.DataFrame(
        {
            CLIENT_IP: [
                "192.0.2.10",
                "192.0.2.11",
                "66.249.66.1",
                "192.0.2.20",
                "192.0.2.21",
                "192.0.2.10",
            ],
            CLAIMED_OPERATOR: [
                "googlebot",
                "googlebot",
                "googlebot",
                "yandexbot",
                "yandexbot",
                "gptbot",
            ],
        }
    )
    out = shipped.verify(claims, fcrdns=FcrdnsResolver(["127.0.0.1"], port=dns_port, timeout=2))
    assert out[VERIFICATION].to_list() == [
        "verified",  # outside the (stale) list, but Google's DNS confirms it
        "spoofed",  # googlebot.com PTR that does not resolve back
        "verified",  # in the published ranges: no DNS needed
        "verified",  # Yandex: FCrDNS is the only way
        "spoofed",
        "spoofed",  # OpenAI documents no reverse DNS: the ranges decide
    ]
    detail = out[VERIFICATION_DETAIL].to_list()
    assert detail[0] == (
        "forward-confirmed reverse DNS: 192.0.2.10 -> crawl-192-0-2-10.googlebot.com -> 192.0.2.10"
    )
    assert detail[1].startswith("outside the 315 published prefixes of googlebot")
    assert detail[1].endswith(
        "reverse DNS: crawl-192-0-2-11.googlebot.com does not resolve back to 192.0.2.11"
    )


def test_verify_with_unreachable_dns_keeps_yandex_unverifiable(shipped: RangeSet) -> None:
    claims = pl.DataFrame({CLIENT_IP: ["192.0.2.20"], CLAIMED_OPERATOR: ["yandexbot"]})
    resolver = FcrdnsResolver(["127.0.0.1"], port=_free_udp_port(), timeout=0.3)
    row = shipped.verify(claims, fcrdns=resolver).row(0, named=True)
    assert row[VERIFICATION] == "unverifiable"
    assert "reverse DNS inconclusive" in row[VERIFICATION_DETAIL]


@pytest.mark.server
def test_cli_check_with_dns(dns_port: int, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from scraperwatch.cli import app

    args = ["ranges", "check", "192.0.2.20", "--ua", "Mozilla/5.0 (compatible; YandexBot/3.0; "
            "+http://yandex.com/bots)", "--dir", str(tmp_path)]  # fmt: skip
    dns = ["--dns", "--nameserver", "127.0.0.1", "--dns-port", str(dns_port)]
    env = {"NO_COLOR": "1", "COLUMNS": "200"}
    without = CliRunner().invoke(app, args, env=env)
    with_dns = CliRunner().invoke(app, [*args, *dns], env=env)
    assert without.exit_code == 0, without.output
    assert without.stdout.splitlines()[-1] == (
        "claim yandexbot: unverifiable: yandexbot publishes no address ranges (reverse DNS only)"
    )
    assert with_dns.exit_code == 0, with_dns.output
    assert with_dns.stdout.splitlines()[-1] == (
        "claim yandexbot: verified: forward-confirmed reverse DNS: "
        "192.0.2.20 -> spider-192-0-2-20.spider.yandex.com -> 192.0.2.20"
    )
