"""Published crawler ranges: shipped snapshots, overrides, lookup and verification."""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from conftest import EXTERNAL_FIXTURES
from polars.testing import assert_frame_equal, assert_series_equal

from scraperwatch.detect.rangefiles import SourceFormat, read_snapshot, shipped_ranges_dir
from scraperwatch.detect.ranges import RangeSet, load_ranges
from scraperwatch.detect.rangesources import SNAPSHOT_SPECS, build_snapshots
from scraperwatch.errors import RangesError
from scraperwatch.schema import CLAIMED_OPERATOR, CLIENT_IP, VERIFICATION, VERIFICATION_DETAIL

# Copies of ../shared/external in the repository (tests/fixtures/external/README.md), so
# that the tests run on a clone that has no shared/ beside it.
EXTERNAL = EXTERNAL_FIXTURES / "published-ranges"
ISBOT = EXTERNAL_FIXTURES / "ua-lists"


@pytest.fixture(scope="module")
def shipped() -> RangeSet:
    return load_ranges(include_updates=False)


def _claims(*pairs: tuple[str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {CLIENT_IP: [p[0] for p in pairs], CLAIMED_OPERATOR: [p[1] for p in pairs]},
        schema={CLIENT_IP: pl.String, CLAIMED_OPERATOR: pl.String},
    )


def _status(rs: RangeSet, *pairs: tuple[str | None, str | None]) -> list[str]:
    return rs.verify(_claims(*pairs))[VERIFICATION].to_list()


# --- the shipped snapshots -------------------------------------------------------------------
def test_shipped_snapshots_are_canonical(shipped: RangeSet) -> None:
    files = sorted(shipped_ranges_dir().glob("*.json"))
    assert [f.stem for f in files] == shipped.operators
    for f in files:
        r = read_snapshot(f)
        assert f.read_text(encoding="utf-8") == r.to_json(), f"{f} is not in canonical form"
        assert r.source_url
        assert r.source_url.startswith(("https://", "http://"))
        assert r.agents, f"{f}: no agents"
        if r.fetched is not None:
            assert r.fetched <= date.today()
        if r.prefixes:
            assert r.derived_from.get("licence") in ("MIT", "Apache-2.0")


def test_operators_the_rule_files_verify_against(shipped: RangeSet) -> None:
    expected = {
        "googlebot", "bingbot", "applebot", "duckduckbot", "gptbot", "oai-searchbot",
        "chatgpt-user", "perplexitybot", "perplexity-user", "claudebot", "ccbot", "amazonbot",
        "qwantbot", "mojeekbot", "kagibot", "yandexbot",
    }  # fmt: skip
    assert expected <= set(shipped.operators)
    assert shipped["yandexbot"].prefixes == ()
    assert shipped["yandexbot"].source_format == SourceFormat.FCRDNS
    assert shipped["googlebot"].v6_count > 0


def test_snapshots_rebuild_byte_for_byte(tmp_path: Path) -> None:
    written = build_snapshots(EXTERNAL, tmp_path)
    assert len(written) == len(SNAPSHOT_SPECS)
    for path in written:
        shipped_file = shipped_ranges_dir() / path.name
        assert path.read_text() == shipped_file.read_text(), f"rules/ranges/{path.name} drifted"


# --- verification ----------------------------------------------------------------------------
def test_real_addresses_from_every_snapshot_verify(shipped: RangeSet) -> None:
    pairs = []
    for r in shipped:
        for prefix in (r.prefixes[0], r.prefixes[-1]) if r.prefixes else ():
            net = ipaddress.ip_network(prefix)
            pairs += [(str(net.network_address), r.operator)]
            pairs += [(str(net.broadcast_address), r.operator)]
    assert len(pairs) > 40
    out = shipped.verify(_claims(*pairs))
    assert out[VERIFICATION].unique().to_list() == ["verified"], out.filter(
        pl.col(VERIFICATION) != "verified"
    )


def test_known_crawler_addresses(shipped: RangeSet) -> None:
    out = shipped.verify(
        _claims(
            ("66.249.66.1", "googlebot"),  # crawl-66-249-66-1.googlebot.com
            ("2001:4860:4801:10::1", "googlebot"),
            ("::ffff:66.249.66.1", "googlebot"),  # IPv4-mapped form of the same address
            ("157.55.39.1", "bingbot"),
            ("20.171.206.10", "gptbot"),
            ("74.7.228.5", "oai-searchbot"),  # OpenAI lists this /25 for two crawlers
            ("74.7.228.5", "gptbot"),
            ("17.241.208.170", "applebot"),
        )
    )
    assert out[VERIFICATION].to_list() == ["verified"] * 8
    assert out[VERIFICATION_DETAIL][0] == "in 66.249.66.0/27 (googlebot ranges fetched 2026-08-20)"


def test_addresses_outside_the_ranges_are_spoofed(shipped: RangeSet) -> None:
    out = shipped.verify(
        _claims(
            ("203.0.113.7", "googlebot"),
            ("2001:db8::1", "googlebot"),
            ("66.249.66.1", "bingbot"),  # Google's address, claiming Bing
            ("157.55.39.1", "gptbot"),
        )
    )
    assert out[VERIFICATION].to_list() == ["spoofed"] * 4
    assert out[VERIFICATION_DETAIL][0] == (
        "outside the 315 published prefixes of googlebot (fetched 2026-08-20)"
    )


def test_unverifiable_claims(shipped: RangeSet) -> None:
    out = shipped.verify(
        _claims(
            ("5.255.253.1", "yandexbot"),  # publishes no ranges; FCrDNS not enabled
            ("160.79.104.10", "claudebot"),  # not fetched yet
            ("192.0.2.1", "nosuchbot"),
            ("not-an-ip", "googlebot"),
            (None, "googlebot"),
            ("192.0.2.1", None),
        )
    )
    assert out[VERIFICATION].to_list() == ["unverifiable"] * 6
    assert out[VERIFICATION_DETAIL].to_list() == [
        "yandexbot publishes no address ranges (reverse DNS only)",
        "no ranges of claudebot yet: run `scraperwatch ranges update`",
        "no ranges known for operator nosuchbot",
        "not-an-ip is not an IP address",
        "no client address",
        "no operator claimed",
    ]


def test_verify_keeps_rows_order_and_other_columns(shipped: RangeSet) -> None:
    claims = pl.DataFrame(
        {
            "n": [3, 1, 2, 4],
            CLIENT_IP: ["203.0.113.7", "66.249.66.1", "203.0.113.7", "66.249.66.1"],
            CLAIMED_OPERATOR: ["googlebot", "googlebot", "googlebot", "bingbot"],
        }
    )
    out = shipped.verify(claims)
    assert out.columns == ["n", CLIENT_IP, CLAIMED_OPERATOR, VERIFICATION, VERIFICATION_DETAIL]
    assert_frame_equal(out.select("n", VERIFICATION), pl.DataFrame({
        "n": [3, 1, 2, 4], VERIFICATION: ["spoofed", "verified", "spoofed", "spoofed"]
    }))  # fmt: skip


# --- lookup ----------------------------------------------------------------------------------
def _brute_force(rs: RangeSet) -> Callable[[str], list[str]]:
    """A slow, obviously right lookup: every prefix of every operator, with `ipaddress`."""
    spans = []
    for r in rs:
        for p in r.prefixes:
            net = ipaddress.ip_network(p)
            spans.append(
                (net.version, int(net.network_address), int(net.broadcast_address), r.operator)
            )

    def lookup(ip: str) -> list[str]:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return []
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        value = int(addr)
        return sorted({op for v, lo, hi, op in spans if v == addr.version and lo <= value <= hi})

    return lookup


def test_lookup_matches_a_brute_force_reference(shipped: RangeSet) -> None:
    rng = random.Random(7)
    ips: list[str] = []
    for r in shipped:
        for prefix in rng.sample(r.prefixes, min(5, len(r.prefixes))):
            net = ipaddress.ip_network(prefix)
            first, last = int(net.network_address), int(net.broadcast_address)
            cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
            for value in (first - 1, first, rng.randint(first, last), last, last + 1):
                ips.append(str(cls(value % (2 ** (32 if net.version == 4 else 128)))))
    ips += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(300)]
    ips += [str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(100)]
    ips += ["::ffff:66.249.66.1", "", "1.2.3", "999.1.1.1", "01.2.3.4"]
    series = pl.Series(CLIENT_IP, ips)
    got = shipped.lookup_all(series).to_list()
    reference = _brute_force(shipped)
    assert got == [reference(ip) for ip in ips]
    firsts = shipped.lookup(series).to_list()
    assert firsts == [(ops[0] if ops else None) for ops in got]


def test_lookup_keeps_length_order_and_nulls(shipped: RangeSet) -> None:
    ips = pl.Series(CLIENT_IP, ["66.249.66.1", None, "66.249.66.1", "2001:4860:4801:10::9", "x"])
    assert_series_equal(
        shipped.lookup(ips),
        pl.Series("operator", ["googlebot", None, "googlebot", "googlebot", None]),
    )


# --- user agents -----------------------------------------------------------------------------
def test_claimed_operator_from_real_user_agents(shipped: RangeSet) -> None:
    uas = pl.Series(
        [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Googlebot-Image/1.0",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
            "+https://openai.com/gptbot)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; "
            "+https://openai.com/bot",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
            "+claudebot@anthropic.com)",
            "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "http.rb/5.1.1 (Mastodon/4.2.8; +https://mastodon.example/)",
            None,
        ]
    )
    assert shipped.claimed_operator(uas).to_list() == [
        "googlebot", "googlebot", "bingbot", "gptbot", "chatgpt-user", "claudebot", "yandexbot",
        None, None, None,
    ]  # fmt: skip


def test_no_browser_user_agent_claims_an_operator(shipped: RangeSet) -> None:
    lines = (ISBOT / "isbot-browsers.yml").read_text(encoding="utf-8").splitlines()
    browsers = [ln.strip()[2:] for ln in lines if ln.strip().startswith("- ")]
    assert len(browsers) > 500
    claims = shipped.claimed_operator(pl.Series(browsers))
    claimed = {ua: c for ua, c in zip(browsers, claims.to_list(), strict=True) if c}
    # isbot counts Amazon's user-initiated fetcher (Amzn-User) as a browser; it is one of
    # Amazon's published fetchers, so naming it is right. Nothing else may claim an operator.
    assert set(claimed.values()) <= {"amzn-user"}, claimed
    assert len(claimed) <= 1


# --- overrides and refreshed snapshots -------------------------------------------------------
def test_txt_override_replaces_an_operator_and_keeps_its_metadata(tmp_path: Path) -> None:
    f = tmp_path / "googlebot.txt"
    f.write_text("# fetched: 2026-11-20\n192.0.2.0/24   # our test crawler\n2001:db8::/32\n")
    rs = load_ranges([f], include_updates=False)
    g = rs["googlebot"]
    assert g.prefixes == ("192.0.2.0/24", "2001:db8::/32")
    assert g.agents == load_ranges(include_updates=False)["googlebot"].agents
    assert g.fetched == date(2026, 11, 20)
    assert g.origin == "override"
    assert _status(rs, ("192.0.2.9", "googlebot"), ("66.249.66.1", "googlebot")) == [
        "verified",
        "spoofed",
    ]


def test_txt_override_can_extend_and_add_operators(tmp_path: Path) -> None:
    (tmp_path / "bingbot.txt").write_text("# merge: extend\n192.0.2.0/24\n")
    (tmp_path / "mybot.txt").write_text("# agents: MyBot, MyBot-Image\n198.51.100.7\n")
    (tmp_path / "notes.md").write_text("ignored")
    rs = load_ranges([tmp_path], include_updates=False)
    assert len(rs["bingbot"].prefixes) == 29
    assert rs["mybot"].prefixes == ("198.51.100.7/32",)
    assert rs["mybot"].agents == ("MyBot", "MyBot-Image")
    assert _status(rs, ("157.55.39.1", "bingbot"), ("192.0.2.1", "bingbot")) == ["verified"] * 2
    assert rs.claimed_operator(pl.Series(["MyBot-Image/2.0"])).to_list() == ["mybot"]


def test_json_override_and_shipped_off() -> None:
    f = Path(__file__).parents[1] / "fixtures" / "ranges" / "overrides" / "examplebot.json"
    rs = load_ranges([f], include_shipped=False, include_updates=False)
    assert rs.operators == ["examplebot"]
    assert rs["examplebot"].source_format == SourceFormat.PLAIN_CIDR_LIST
    assert _status(rs, ("198.51.100.200", "examplebot")) == ["verified"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("googlebot.txt", "66.249.66.1/19\n", "host bits set"),
        ("googlebot.txt", "not-a-net\n", "prefix 1 ('not-a-net') is not a valid CIDR"),
        ("googlebot.json", "{not json", "not valid JSON"),
        ("googlebot.json", '{"operator": "bingbot", "prefixes": []}', "rename it to bingbot.json"),
        ("x.json", '{"operator": "x", "prefixes": "1.2.3.0/24"}', "`prefixes` must be a list"),
        ("x.json", '{"operator": "x", "source_format": "csv"}', "unknown `source_format` 'csv'"),
        ("x.json", '{"operator": "x", "fetched": "yesterday"}', "`fetched` is 'yesterday'"),
        ("x.csv", "1.2.3.0/24", "rename the file"),
        ("Bad Name.txt", "1.2.3.0/24", "is not an operator name"),
    ],
)
def test_broken_override_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(RangesError, match=r".*") as err:
        load_ranges([f], include_updates=False)
    assert str(f) in str(err.value)
    assert message in str(err.value)


def test_missing_override_path(tmp_path: Path) -> None:
    with pytest.raises(RangesError, match="no such ranges file"):
        load_ranges([tmp_path / "nope.txt"], include_updates=False)
    with pytest.raises(RangesError, match=r"no <operator>\.json"):
        load_ranges([tmp_path], include_updates=False)


def _write_update(directory: Path, operator: str, fetched: str, prefixes: list[str]) -> None:
    directory.mkdir(exist_ok=True)
    data = {
        "operator": operator,
        "agents": ["Stale"],
        "source_url": "https://example.org/old",
        "source_format": "google-json",
        "fetched": fetched,
        "prefixes": prefixes,
    }
    (directory / f"{operator}.json").write_text(json.dumps(data))


def test_refreshed_snapshots_win_when_newer(tmp_path: Path) -> None:
    _write_update(tmp_path, "gptbot", "2026-11-22", ["192.0.2.0/24"])
    _write_update(tmp_path, "bingbot", "2020-01-01", ["192.0.2.0/24"])  # older than shipped
    _write_update(tmp_path, "newbot", "2026-11-22", ["198.51.100.0/24"])
    rs = load_ranges(updates_dir=tmp_path)
    assert rs["gptbot"].prefixes == ("192.0.2.0/24",)
    assert rs["gptbot"].origin == "updated"
    assert rs["gptbot"].agents == ("GPTBot",)  # metadata stays the shipped one
    assert rs["gptbot"].source_url == "https://openai.com/gptbot.json"
    assert rs["bingbot"].origin == "shipped"
    assert "newbot" in rs.operators
    assert load_ranges(updates_dir=tmp_path, include_updates=False)["gptbot"].origin == "shipped"


def test_default_updates_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    from scraperwatch.detect.rangefiles import default_updates_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    expected = (
        Path("/var/lib/scraperwatch/ranges")
        if os.geteuid() == 0
        else tmp_path / "scraperwatch" / "ranges"
    )
    assert default_updates_dir() == expected


# --- freshness -------------------------------------------------------------------------------
def test_stale_warnings_name_operator_date_and_source(shipped: RangeSet) -> None:
    warnings = shipped.stale(30, today=date(2026, 11, 23))
    text = "\n".join(warnings)
    assert (
        "googlebot: ranges fetched 2026-08-20 (95 days ago) from "
        "https://developers.google.com/static/crawling/ipranges/common-crawlers.json; "
        "run `scraperwatch ranges update`"
    ) in warnings
    assert "claudebot: no ranges fetched yet (source https://claude.com/crawling/bots.json)" in text
    assert "yandexbot" not in text  # nothing published that could rot
    assert "kagibot" in text
    assert "by hand" in text
    fresh = shipped.stale(30, today=date(2026, 8, 25))
    assert not [w for w in fresh if w.startswith(("googlebot", "bingbot"))]


def test_stale_override_names_its_file(tmp_path: Path) -> None:
    f = tmp_path / "googlebot.txt"
    f.write_text("# fetched: 2026-01-01\n192.0.2.0/24\n")
    rs = load_ranges([f], include_updates=False)
    [warning] = [w for w in rs.stale(30, today=date(2026, 11, 23)) if w.startswith("googlebot")]
    assert f"refresh {f}" in warning
