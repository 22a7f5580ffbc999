"""Verdicts on small, hand-built traffic: what the terms allow stays allowed, each offence is caught."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from scraperwatch import schema as s
from scraperwatch.detect.heuristics import Thresholds
from scraperwatch.pipeline import Context, ScanSettings, judge

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
LYNX = "Lynx/2.9.0dev.12 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.7.9"
MASTODON = "http.rb/5.1.1 (Mastodon/4.3.2; +https://mastodon.example/)"
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


class Traffic:
    """Builds canonical request rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def req(
        self,
        ip: str,
        path: str,
        *,
        ua: str | None = FIREFOX,
        at: float = 0.0,
        status: int = 200,
        method: str = "GET",
        query: str | None = None,
        referer: str | None = None,
    ) -> None:
        self.rows.append(
            {
                s.TS: T0 + timedelta(seconds=at),
                s.CLIENT_IP: ip,
                s.PEER_IP: ip,
                s.METHOD: method,
                s.PATH: path,
                s.QUERY: query,
                s.STATUS: status,
                s.BYTES_SENT: 1000,
                s.USER_AGENT: ua,
                s.REFERER: referer,
                s.SOURCE_FILE: "t.log",
                s.SOURCE_FORMAT: "test",
                s.LINE_NO: len(self.rows) + 1,
            }
        )

    def browse(
        self,
        ip: str,
        pages: int,
        *,
        ua: str = FIREFOX,
        start: float = 0.0,
        gap: float = 20.0,
        assets: bool = True,
    ) -> None:
        for i in range(pages):
            t = start + i * gap
            self.req(
                ip, f"/@user{i % 7}/{1000 + i}", ua=ua, at=t, referer="https://social.example/"
            )
            if assets:
                for a in ("/packs/css/app.css", "/packs/js/app.js", f"/system/media/{i}.png"):
                    self.req(ip, a, ua=ua, at=t + 0.2, referer="https://social.example/")

    def frame(self) -> pl.LazyFrame:
        return s.conform(pl.LazyFrame(self.rows))


def verdicts(
    traffic: Traffic, tmp_path: Path | None = None, **settings: Any
) -> dict[str, dict[str, Any]]:
    ctx = Context.load(ScanSettings(**settings))
    result = judge(traffic.frame(), ctx)
    return {row[s.IP]: row for row in result.offenders.iter_rows(named=True)}


@pytest.fixture
def t() -> Traffic:
    return Traffic()


def test_people_browsing_are_no_offenders(t: Traffic) -> None:
    t.browse("198.51.100.10", 40)
    t.browse("198.51.100.11", 25, ua=CHROME, gap=5)
    assert verdicts(t) == {}


def test_a_text_browser_without_assets_is_no_offender(t: Traffic) -> None:
    # Lynx loads no CSS, JS or images, but reads slowly: one weak signal is not a verdict.
    t.browse("198.51.100.20", 60, ua=LYNX, gap=30, assets=False)
    assert verdicts(t) == {}


def test_an_office_behind_one_address_with_one_curl_call_is_only_watched(t: Traffic) -> None:
    for i in range(12):
        t.browse("198.51.100.30", 10, ua=f"{FIREFOX} office{i}", start=i * 3, gap=40)
    t.req("198.51.100.30", "/api/v1/instance", ua="curl/8.5.0", at=5)
    out = verdicts(t)
    assert out["198.51.100.30"][s.ACTION] == "watch"
    assert "WEAK-SIGNAL" in [e["id"] for e in out["198.51.100.30"][s.EVIDENCE]]


def test_a_browser_ua_scraper_is_blocked_with_its_figures(t: Traffic) -> None:
    for i in range(300):
        t.req("203.0.113.40", f"/@user{i}", ua=CHROME, at=i * 0.5)
    out = verdicts(t)["203.0.113.40"]
    assert (out[s.CATEGORY], out[s.ACTION]) == ("scraper", "block")
    ids = {e["id"]: e for e in out[s.EVIDENCE]}
    assert {"RATE-PEAK-MINUTE", "BEHAV-NO-ASSETS"} <= set(ids)
    assert ids["RATE-PEAK-MINUTE"]["value"] == 120
    assert ids["RATE-PEAK-MINUTE"]["threshold"] == Thresholds().peak_per_minute


def test_federation_is_allowed_even_when_busy(t: Traffic) -> None:
    for i in range(400):
        t.req("192.0.2.50", "/inbox", ua=MASTODON, method="POST", status=202, at=i * 0.1)
        t.req("192.0.2.50", f"/users/user{i}", ua=MASTODON, at=i * 0.1 + 0.05)
    assert verdicts(t) == {}


def test_one_request_of_a_declared_ai_crawler_is_enough(t: Traffic) -> None:
    t.req("192.0.2.60", "/@alice", ua=GPTBOT)
    out = verdicts(t)["192.0.2.60"]
    assert (out[s.CATEGORY], out[s.ACTION]) == ("ai-training", "block")
    assert "GPTBot" in out[s.TOKENS]
    assert out[s.CLAUSE]


def test_a_honeypot_hit_is_proof_even_from_a_browser(t: Traffic) -> None:
    t.browse("198.51.100.70", 5)
    t.req("198.51.100.70", "/hidden/trap/", at=200)
    out = verdicts(t, canary=("/hidden/trap/",))["198.51.100.70"]
    assert (out[s.CATEGORY], out[s.ACTION]) == ("scraper", "block")
    assert out[s.CONFIDENCE] >= 0.9


def test_private_addresses_are_allowlisted_unless_told_otherwise(t: Traffic) -> None:
    t.req("10.1.2.3", "/@alice", ua=GPTBOT)
    t.req("127.0.0.9", "/@alice", ua=GPTBOT)
    assert verdicts(t) == {}
    assert set(verdicts(t, allow_private=False)) == {"10.1.2.3", "127.0.0.9"}


def test_the_admins_allowlist_wins(t: Traffic) -> None:
    t.req("192.0.2.80", "/@alice", ua=GPTBOT)
    assert verdicts(t, allowlist=("192.0.2.0/24",)) == {}


def test_robots_txt_read_then_ignored_is_proof(t: Traffic, tmp_path: Path) -> None:
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /api/\n")
    bot = "ExampleFetcher/1.0 (+https://fetcher.example/bot)"
    t.req("192.0.2.90", "/robots.txt", ua=bot, at=0)
    t.req("192.0.2.90", "/api/v1/timelines/public", ua=bot, at=5)
    t.req("198.51.100.91", "/api/v1/timelines/public", ua=FIREFOX, at=5)  # a person: no verdict
    out = verdicts(t, robots=robots)
    assert set(out) == {"192.0.2.90"}
    ids = [e["id"] for e in out["192.0.2.90"][s.EVIDENCE]]
    assert "ROBOTS-DISALLOWED" in ids


def test_a_canary_overrides_a_federation_user_agent(t: Traffic) -> None:
    t.req("192.0.2.95", "/users/alice", ua=MASTODON)
    t.req("192.0.2.95", "/hidden/trap/x", ua=MASTODON)
    assert verdicts(t, canary=("/hidden/trap/",))["192.0.2.95"][s.ACTION] == "block"


def test_googlebot_from_googles_ranges_is_verified_and_a_fake_one_is_not(t: Traffic) -> None:
    t.req("66.249.66.1", "/@alice", ua=GOOGLEBOT)  # in Google's published common-crawlers list
    t.req("203.0.113.99", "/@alice", ua=GOOGLEBOT)
    out = verdicts(t)
    assert "66.249.66.1" not in out
    fake = out["203.0.113.99"]
    assert fake[s.CATEGORY] == "spoofed-crawler"
    # The shipped snapshot is older than 30 days: the address might be new, so it is watched.
    assert fake[s.ACTION] == "watch"
    assert "RANGES-STALE" in [e["id"] for e in fake[s.EVIDENCE]]


def test_a_fake_googlebot_is_blocked_when_the_ranges_are_fresh(t: Traffic, tmp_path: Path) -> None:
    override = tmp_path / "googlebot.txt"
    override.write_text("66.249.64.0/19\n")
    t.req("203.0.113.99", "/@alice", ua=GOOGLEBOT)
    out = verdicts(t, ranges=(override,))["203.0.113.99"]
    assert (out[s.CATEGORY], out[s.ACTION]) == ("spoofed-crawler", "block")


def test_a_distributed_crawl_is_one_prefix_offender(t: Traffic) -> None:
    for host in range(1, 11):
        for i in range(12):
            t.req(f"203.0.113.{host}", f"/@user{host}/{i}", ua=CHROME, at=host * 100 + i * 60)
    out = verdicts(t)
    assert "203.0.113.0/24" in out
    prefix = out["203.0.113.0/24"]
    assert (prefix[s.SCOPE], prefix[s.CATEGORY], prefix[s.ACTION]) == ("prefix", "scraper", "block")
    assert prefix[s.REQUESTS] == 120


def test_an_ipv6_crawl_inside_one_64_is_reported_as_that_64(t: Traffic) -> None:
    for host in range(1, 9):
        for i in range(8):
            t.req(f"2a01:4f8:10:20::{host:x}", f"/@u{host}/{i}", ua=CHROME, at=host * 50 + i * 40)
    out = verdicts(t)
    assert "2a01:4f8:10:20::/64" in out
    assert out["2a01:4f8:10:20::/64"][s.SCOPE] == "prefix"


def _mmdb(path: Path, records: list[tuple[list[str], dict[str, Any]]], kind: str) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type=kind, ipv4_compatible=True)
    for nets, data in records:
        writer.insert_network(IPSet(nets), data)
    writer.to_db_file(str(path))
    return path


def test_a_crawl_spread_over_one_as_is_caught_prefix_by_prefix(t: Traffic, tmp_path: Path) -> None:
    asn = _mmdb(
        tmp_path / "asn.mmdb",
        [
            (
                ["45.0.0.0/8"],
                {
                    "autonomous_system_number": 64500,
                    "autonomous_system_organization": "Example Cloud",
                },
            )
        ],
        "GeoLite2-ASN",
    )
    # Eight addresses, each in its own /24 of one AS: no prefix holds enough of them.
    for n in range(8):
        for i in range(12):
            t.req(f"45.{n}.1.7", f"/@u{n}/{i}", ua=CHROME, at=n * 30 + i * 50)
    assert verdicts(t) == {}
    out = verdicts(t, asn_db=asn)
    assert set(out) == {f"45.{n}.1.0/24" for n in range(8)}
    row = out["45.3.1.0/24"]
    assert row[s.RULES] == ["ASN-DISTRIBUTED"]
    assert (row[s.ASN], row[s.AS_ORG]) == (64500, "Example Cloud")
    assert "AS64500" in row[s.WHY]


def test_verdicts_carry_asn_organisation_and_country(t: Traffic, tmp_path: Path) -> None:
    asn = _mmdb(
        tmp_path / "asn.mmdb",
        [
            (
                ["20.171.0.0/16"],
                {
                    "autonomous_system_number": 8075,
                    "autonomous_system_organization": "MICROSOFT-CORP",
                },
            )
        ],
        "GeoLite2-ASN",
    )
    geo = _mmdb(
        tmp_path / "geo.mmdb",
        [(["20.171.0.0/16"], {"country": {"iso_code": "US"}})],
        "GeoLite2-Country",
    )
    t.req("20.171.207.120", "/@alice", ua=GPTBOT)
    row = verdicts(t, asn_db=asn, geo_db=geo)["20.171.207.120"]
    assert (row[s.ASN], row[s.AS_ORG], row[s.COUNTRY]) == (8075, "MICROSOFT-CORP", "US")


def test_exports_never_block_a_verified_crawlers_published_range(t: Traffic) -> None:
    import ipaddress

    from scraperwatch.exporters import ExportOptions, render_export

    # A browser-UA crawl spread over a /24 that Google publishes as Googlebot's: the verdict
    # names the prefix, but no export may block Google's addresses.
    for host in range(1, 11):
        for i in range(12):
            t.req(f"66.249.66.{host}", f"/@u{host}/{i}", ua=CHROME, at=host * 100 + i * 60)
    ctx = Context.load(ScanSettings())
    result = judge(t.frame(), ctx)
    assert "66.249.66.0/24" in result.offenders[s.IP].to_list()
    text = render_export("plain", result.offenders, ExportOptions(never_block=result.never_block))
    google = [ipaddress.ip_network(p) for p in ctx.ranges["googlebot"].prefixes]
    emitted = [ipaddress.ip_network(x) for x in text.splitlines() if x and not x.startswith("#")]
    for net in emitted:
        assert not any(net.overlaps(g) for g in google if g.version == net.version), net


def test_walking_account_ids_one_by_one_is_enumeration(t: Traffic) -> None:
    for i in range(40):
        t.req("198.51.100.120", f"/api/v1/accounts/{1000 + i}", ua=CHROME, at=i * 10)
    out = verdicts(t)["198.51.100.120"]
    ids = {e["id"]: e for e in out[s.EVIDENCE]}
    assert ids["BEHAV-ID-ENUMERATION"]["value"] == 40
    assert "BEHAV-API-ONLY" in ids
    assert (out[s.CATEGORY], out[s.ACTION]) == ("scraper", "block")


def test_a_person_reading_statuses_is_no_enumeration(t: Traffic) -> None:
    # Snowflake status ids are far apart: no run, whatever the number of statuses read.
    for i in range(40):
        t.req("198.51.100.121", f"/@alice/{113000000000000000 + i * 7919}", ua=FIREFOX, at=i * 30)
        t.req("198.51.100.121", "/packs/js/app.js", ua=FIREFOX, at=i * 30 + 1)
    assert verdicts(t) == {}
