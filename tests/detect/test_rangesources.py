"""Range sources: the publishers' formats, and `update_ranges` against a local HTTP mirror."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from ranges_mirror import MIRROR, serve_mirror

from scraperwatch.detect.rangefiles import read_snapshot
from scraperwatch.detect.ranges import load_ranges
from scraperwatch.detect.rangesources import (
    SourceParseError,
    UpdateStatus,
    parse_amazon_html,
    parse_anubis_yaml,
    parse_json,
    parse_plain,
    rebase_url,
    update_ranges,
    write_snapshot,
)

OVERRIDES = Path(__file__).parents[1] / "fixtures" / "ranges" / "overrides"


def test_google_shape() -> None:
    body = (
        MIRROR / "developers.google.com/static/crawling/ipranges/common-crawlers.json"
    ).read_bytes()
    parsed = parse_json(body)
    assert parsed.published == "2026-11-20T23:00:46.000000"
    assert len(parsed.prefixes) == 9
    assert "192.0.2.0/27" in parsed.prefixes
    assert parsed.prefixes[-1].startswith("2001:4860:")  # IPv4 first, then IPv6


def test_json_variants() -> None:
    assert parse_json(b'["192.0.2.0/24", "2001:db8::/32"]').prefixes == (
        "192.0.2.0/24",
        "2001:db8::/32",
    )
    # bare addresses, host bits and strings inside `prefixes` are normalised
    body = b'{"prefixes": ["192.0.2.7", {"ipv4Prefix": "198.51.100.9/24"}, {"ipv6Prefix": "2001:db8::1/64"}]}'
    assert parse_json(body).prefixes == ("192.0.2.7/32", "198.51.100.0/24", "2001:db8::/64")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"creationTime": "x", "prefixes": [', "not valid JSON"),
        (b'{"creationTime": "x"}', "no `prefixes` key"),
        (b'{"prefixes": [{"ipv4Prefix": "nope"}]}', "prefixes[0]: 'nope' is not a CIDR"),
        (b'{"prefixes": [{"other": 1}]}', "prefixes[0]: None is not a CIDR string"),
        (b"<html>Service unavailable</html>", "not valid JSON"),
    ],
)
def test_json_errors(body: bytes, message: str) -> None:
    with pytest.raises(SourceParseError, match=r".*") as err:
        parse_json(body)
    assert message in str(err.value)


def test_plain_list() -> None:
    parsed = parse_plain((MIRROR / "ranges.example/examplebot.txt").read_bytes())
    assert parsed.prefixes == ("198.51.100.0/25", "198.51.100.128/25", "2001:db8:5::/48")
    with pytest.raises(SourceParseError, match="line 2"):
        parse_plain(b"192.0.2.0/24\n<html>\n")


def test_amazon_page() -> None:
    page = MIRROR / "developer.amazon.com/amazonbot/ip-addresses/index.html"
    parsed = parse_amazon_html(page.read_bytes())
    assert parsed.prefixes == ("3.81.253.213/32", "3.89.170.186/32", "3.89.176.255/32")
    assert parsed.published == "2026-11-04T16:12:45.697663+00:00"
    with pytest.raises(SourceParseError, match="no <pre> block"):
        parse_amazon_html(b"<html><pre>curl x</pre></html>")


def test_anubis_yaml_both_list_styles() -> None:
    flow = b'- name: kagibot\n  action: ALLOW\n  # https://kagi.com/bot\n  remote_addresses:\n    [\n      "216.18.205.234/32",\n      "35.212.27.76/32",\n    ]\n'
    assert parse_anubis_yaml(flow, "kagibot").prefixes == ("35.212.27.76/32", "216.18.205.234/32")
    block = b'- name: one\n  remote_addresses:\n    - 192.0.2.0/24\n    - 2001:db8::/32\n- name: two\n  remote_addresses: ["198.51.100.0/24"]\n'
    assert parse_anubis_yaml(block, "one").prefixes == ("192.0.2.0/24", "2001:db8::/32")
    assert parse_anubis_yaml(block, "two").prefixes == ("198.51.100.0/24",)
    with pytest.raises(SourceParseError, match="no rule named 'three'"):
        parse_anubis_yaml(block, "three")


def test_rebase_url() -> None:
    assert rebase_url("https://openai.com/gptbot.json", "http://127.0.0.1:9/m/") == (
        "http://127.0.0.1:9/m/openai.com/gptbot.json"
    )
    assert rebase_url("https://developer.amazon.com/amazonbot/ip-addresses/", "http://h") == (
        "http://h/developer.amazon.com/amazonbot/ip-addresses/"
    )


def test_write_snapshot_is_atomic_and_canonical(tmp_path: Path) -> None:
    rs = load_ranges(include_updates=False)
    path = write_snapshot(rs["bingbot"], tmp_path / "new")
    assert path.read_text() == rs["bingbot"].to_json()
    assert [p.name for p in path.parent.iterdir()] == ["bingbot.json"]  # no temporary left


@pytest.mark.server
def test_update_against_a_local_mirror(tmp_path: Path) -> None:
    rs = load_ranges([OVERRIDES / "examplebot.json"], include_updates=False)
    old_searchbot = tmp_path / "oai-searchbot.json"
    old_searchbot.write_text(rs["oai-searchbot"].to_json())
    with serve_mirror() as base:
        results = update_ranges(
            rs,
            tmp_path,
            operators=[
                "googlebot", "bingbot", "gptbot", "amazonbot", "examplebot",
                "oai-searchbot", "chatgpt-user", "applebot", "yandexbot", "kagibot",
            ],
            timeout=0.5,
            source_base=base,
            today=date(2026, 11, 23),
        )  # fmt: skip
    by = {r.operator: r for r in results}
    assert by["googlebot"].status == UpdateStatus.UPDATED
    assert (by["googlebot"].prefixes, by["googlebot"].added, by["googlebot"].removed) == (9, 1, 307)
    assert by["bingbot"].status == UpdateStatus.UNCHANGED
    assert (by["gptbot"].added, by["gptbot"].removed) == (0, 1)
    assert by["amazonbot"].prefixes == 3
    assert by["examplebot"].prefixes == 3
    assert by["oai-searchbot"].status == UpdateStatus.FAILED
    assert "not valid JSON" in by["oai-searchbot"].message
    assert by["chatgpt-user"].status == UpdateStatus.FAILED
    assert "HTTP 404" in by["chatgpt-user"].message
    assert by["applebot"].status == UpdateStatus.FAILED
    assert "no answer within 0.5 s" in by["applebot"].message
    assert by["yandexbot"].status == UpdateStatus.SKIPPED
    assert by["kagibot"].status == UpdateStatus.SKIPPED

    # the failures kept the old file (or wrote none); the rest wrote canonical snapshots
    assert old_searchbot.read_text() == rs["oai-searchbot"].to_json()
    assert not (tmp_path / "chatgpt-user.json").exists()
    g = read_snapshot(tmp_path / "googlebot.json")
    assert g.fetched == date(2026, 11, 23)
    assert g.published == "2026-11-20T23:00:46.000000"
    assert g.agents == rs["googlebot"].agents
    assert g.rdns == rs["googlebot"].rdns
    assert g.derived_from["origin"] == "scraperwatch ranges update"
    assert json.loads((tmp_path / "examplebot.json").read_text())["prefixes"] == [
        "198.51.100.0/25",
        "198.51.100.128/25",
        "2001:db8:5::/48",
    ]
    # and the next load sees them
    fresh = load_ranges(updates_dir=tmp_path)
    assert fresh["googlebot"].origin == "updated"
    assert fresh["googlebot"].prefixes == g.prefixes
    assert not [w for w in fresh.stale(30, today=date(2026, 11, 23)) if w.startswith("googlebot")]
