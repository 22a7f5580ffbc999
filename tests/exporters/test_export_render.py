"""Exporters as pure functions: registry, golden files, determinism, addresses, hostile input."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import polars as pl
import pytest
from export_frames import (
    HOSTILE_STRINGS,
    OPTIONS,
    SCAN,
    TEST_VERSION,
    frame,
    hostile_frame,
    offender,
)

from scraperwatch import schema
from scraperwatch.errors import ExitCode, ExportError
from scraperwatch.exporters import (
    EXPORTERS,
    ExportFormat,
    ExportOptions,
    NginxContext,
    blocked_agent_tokens,
    haproxy_frontend,
    render_export,
)
from scraperwatch.exporters.lists import JSON_CONTRACT_VERSION

CONFIG_FORMATS = [f for f in ExportFormat if f not in (ExportFormat.JSON, ExportFormat.CSV)]
GOLDEN_NAMES = {
    ExportFormat.NGINX: "nginx.conf",
    ExportFormat.NGINX_MAP: "nginx-map.conf",
    ExportFormat.CADDY: "caddy.caddy",
    ExportFormat.HAPROXY: "haproxy-addr.acl",
    ExportFormat.HAPROXY_UA: "haproxy-ua.acl",
    ExportFormat.ROBOTS_TXT: "robots.txt",
    ExportFormat.NFTABLES: "nftables.nft",
    ExportFormat.IPSET: "ipset.restore",
    ExportFormat.PLAIN: "plain.txt",
    ExportFormat.JSON: "offenders.json",
    ExportFormat.CSV: "offenders.csv",
}


def test_every_format_resolves_to_an_exporter() -> None:
    assert set(EXPORTERS) == {f.value for f in ExportFormat}
    for fmt in ExportFormat:
        assert EXPORTERS[fmt.value].name == fmt.value


def test_unknown_format_is_an_output_error() -> None:
    with pytest.raises(ExportError, match="unknown export format 'apache'") as err:
        render_export("apache", SCAN, OPTIONS)
    assert err.value.exit_code == ExitCode.OUTPUT


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_golden(fmt: ExportFormat, golden: Callable[[str, str], None]) -> None:
    golden(f"export/{GOLDEN_NAMES[fmt]}", render_export(fmt, SCAN, OPTIONS))


@pytest.mark.parametrize(
    ("name", "fmt", "options"),
    [
        (
            "nginx-http.conf",
            ExportFormat.NGINX,
            ExportOptions(
                agent_tokens=("GPTBot",), context=NginxContext.HTTP, version=TEST_VERSION
            ),
        ),
        (
            "nginx-location-444.conf",
            ExportFormat.NGINX,
            ExportOptions(
                agent_tokens=("GPTBot",),
                context=NginxContext.LOCATION,
                status=444,
                version=TEST_VERSION,
            ),
        ),
        (
            "caddy-444.caddy",
            ExportFormat.CADDY,
            ExportOptions(agent_tokens=("GPTBot",), status=444, version=TEST_VERSION),
        ),
        ("haproxy-ua-empty.acl", ExportFormat.HAPROXY_UA, ExportOptions(version=TEST_VERSION)),
    ],
)
def test_golden_variants(
    name: str, fmt: ExportFormat, options: ExportOptions, golden: Callable[[str, str], None]
) -> None:
    golden(f"export/{name}", render_export(fmt, SCAN, options))


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_deterministic_whatever_the_row_order(fmt: ExportFormat) -> None:
    first = render_export(fmt, SCAN, OPTIONS)
    shuffled = SCAN.sample(fraction=1.0, shuffle=True, seed=7)
    reversed_tokens = ExportOptions(
        **{**OPTIONS.__dict__, "agent_tokens": OPTIONS.agent_tokens[::-1]}
    )
    assert render_export(fmt, shuffled, reversed_tokens) == first
    assert render_export(fmt, SCAN, OPTIONS) == first


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_empty_frame_renders(fmt: ExportFormat) -> None:
    text = render_export(fmt, schema.empty_offenders(), ExportOptions())
    assert text.endswith("\n")


def test_no_timestamp_in_headers() -> None:
    for fmt in CONFIG_FORMATS:
        head = [
            line for line in render_export(fmt, SCAN, OPTIONS).splitlines() if line.startswith("#")
        ]
        assert any(f"scraperwatch {TEST_VERSION}:" in line for line in head)
        assert any("sha256:4f2a9c0d1e7b" in line for line in head)
        assert any("7 days" in line for line in head)
        assert not any("2026" in line for line in head), fmt


def plain_entries(offenders: pl.DataFrame, options: ExportOptions) -> list[str]:
    text = render_export(ExportFormat.PLAIN, offenders, options)
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_addresses_collapse_split_and_limits() -> None:
    entries = plain_entries(SCAN, OPTIONS)
    assert entries == [
        "100.24.0.0/29",  # 100.24.0.0/24 without the allowlisted 100.24.0.9
        "100.24.0.8",
        "100.24.0.10/31",
        "100.24.0.12/30",
        "100.24.0.16/28",
        "100.24.0.32/27",
        "100.24.0.64/26",
        "100.24.0.128/25",
        "192.0.2.0/24",  # not merged into 192.0.2.0/23: never broader than /24
        "192.0.3.0/24",
        "198.18.0.9",  # from ::ffff:198.18.0.9
        "198.51.100.0/24",
        "203.0.113.4/30",
        "2001:db8:1::/48",
        "2001:db8:2:3::/64",
        "2001:db8:9::1",
    ]


def test_limits_are_configurable() -> None:
    wide = ExportOptions(max_prefix_v4=16, max_prefix_v6=32)
    assert "45.0.0.0/16" in plain_entries(SCAN, wide)
    assert "192.0.2.0/23" in plain_entries(SCAN, wide)
    narrow = ExportOptions(max_prefix_v4=32, max_prefix_v6=128)
    assert plain_entries(frame(offender("203.0.113.4"), offender("203.0.113.5")), narrow) == [
        "203.0.113.4",
        "203.0.113.5",
    ]


def test_private_and_loopback_kept_out_unless_allowed() -> None:
    local = frame(
        offender("127.0.0.5"), offender("192.168.1.9"), offender("::1"), offender("fd00::7")
    )
    assert plain_entries(local, ExportOptions()) == []
    assert plain_entries(local, ExportOptions(allow_private=False)) == [
        "127.0.0.5",
        "192.168.1.9",
        "::1",
        "fd00::7",
    ]


def test_never_block_overlaps() -> None:
    offenders = frame(
        offender("203.0.113.0/24"), offender("198.51.100.7"), offender("192.0.2.0/24")
    )
    options = ExportOptions(never_block=("203.0.113.0/25", "198.51.100.0/24", "192.0.2.0/24"))
    # a prefix half inside a never-block network keeps its other half; a covered one goes
    assert plain_entries(offenders, options) == ["203.0.113.128/25"]


def test_invalid_never_block_entry_is_an_error() -> None:
    with pytest.raises(ExportError, match=r"never-block entry 'example\.org'"):
        render_export(ExportFormat.PLAIN, SCAN, ExportOptions(never_block=("example.org",)))


def test_only_block_rows_are_exported() -> None:
    entries = plain_entries(SCAN, OPTIONS)
    assert "198.18.0.10" not in entries  # watch
    assert "198.18.0.11" not in entries  # allow


def test_user_agent_tokens_only_from_options() -> None:
    # The frame's tokens (Googlebot of a spoofed crawler) never become user-agent blocks.
    for fmt in (
        ExportFormat.NGINX,
        ExportFormat.NGINX_MAP,
        ExportFormat.CADDY,
        ExportFormat.HAPROXY_UA,
    ):
        text = render_export(fmt, SCAN, ExportOptions())
        assert "Googlebot" not in text, fmt
        assert "GPTBot" not in text, fmt


def test_tokens_are_deduplicated_case_insensitively() -> None:
    text = render_export(ExportFormat.HAPROXY_UA, SCAN, OPTIONS)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == [
        r"\bBrightbot\x201\.0\b",
        r"\bBytespider\b",
        r"\bCCBot\b",
        r"\bClaudeBot\b",
        r"\bGPTBot\b",
        r"\bmeta-externalagent\b",
    ]


def test_nginx_http_context_has_no_if() -> None:
    text = render_export(
        ExportFormat.NGINX, SCAN, ExportOptions(agent_tokens=("GPTBot",), context=NginxContext.HTTP)
    )
    assert "if (" not in text.split("Generated file")[1].replace("# ", "")
    assert "not blockable in the http context" in text


@pytest.mark.parametrize(
    "token",
    [
        'GPT"Bot',
        "GPT;Bot",
        "GPTBot}",
        "$GPTBot",
        "GPT#Bot",
        "GPT\\Bot",
        "GPT\nBot",
        "GPT\x00Bot",
        "(?i).*",
        "-GPTBot",
        "GPT  Bot",
        "",
        "a" * 65,
    ],
)
@pytest.mark.parametrize(
    "fmt",
    [
        ExportFormat.NGINX,
        ExportFormat.NGINX_MAP,
        ExportFormat.CADDY,
        ExportFormat.HAPROXY_UA,
        ExportFormat.ROBOTS_TXT,
    ],
)
def test_bad_option_tokens_are_refused(token: str, fmt: ExportFormat) -> None:
    options = ExportOptions(agent_tokens=(token,), robots_tokens=(token,))
    with pytest.raises(ExportError, match="not a plain product token"):
        render_export(fmt, SCAN, options)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"status": 200}, "not an error status"),
        ({"max_prefix_v4": 33}, "max_prefix_v4"),
        ({"max_prefix_v6": -1}, "max_prefix_v6"),
        ({"version": "1.0\nallow all;"}, "export version"),
        ({"ruleset_digest": "abc; }"}, "rule-set digest"),
        ({"expiry_days": 0}, "expiry_days"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ExportError, match=fragment):
        ExportOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", CONFIG_FORMATS)
def test_hostile_frame_injects_nothing_into_configs(fmt: ExportFormat) -> None:
    text = render_export(fmt, hostile_frame(), OPTIONS)
    assert "PWNED" not in text
    assert "\x00" not in text
    assert "\r" not in text
    if fmt not in (ExportFormat.ROBOTS_TXT, ExportFormat.HAPROXY_UA):
        # Only the eight valid addresses made it (203.0.113.20-27 collapse to /29s ...).
        assert "203.0.113.9" not in text


def test_hostile_frame_round_trips_through_json() -> None:
    hostile = hostile_frame()
    doc = json.loads(render_export(ExportFormat.JSON, hostile, OPTIONS))
    assert doc["version"] == JSON_CONTRACT_VERSION
    by_why = {o["why"]: o for o in doc["offenders"]}
    for text in HOSTILE_STRINGS:
        rec = by_why[text]
        assert rec["user_agents"] == [text, "GPTBot/1.1 " + text]
        assert rec["paths"] == ["/" + text]
        assert rec["evidence"][0]["value"] is None  # NaN is not JSON
    raw = render_export(ExportFormat.JSON, hostile, OPTIONS)
    assert raw.isascii()


def test_hostile_frame_csv_is_one_line_per_record() -> None:
    hostile = hostile_frame()
    text = render_export(ExportFormat.CSV, hostile, OPTIONS)
    assert len(text.splitlines()) == hostile.height + 1
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == hostile.height
    formula = next(r for r in rows if "calc" in r["why"])
    assert formula["why"].startswith("'=cmd")  # no formula for a spreadsheet to run
    nul = next(r for r in rows if "nul" in r["why"])
    assert nul["why"] == "PWNED\\x00nul"


def test_json_contract() -> None:
    doc = json.loads(render_export(ExportFormat.JSON, SCAN, OPTIONS))
    assert doc["generated_by"] == f"scraperwatch {TEST_VERSION}"
    assert doc["summary"]["offenders"] == SCAN.height
    assert doc["summary"]["by_action"] == {"allow": 1, "block": 16, "watch": 1}
    first = doc["offenders"][0]
    for key in (
        "ip",
        "category",
        "action",
        "rules",
        "requests",
        "first_seen",
        "last_seen",
        "user_agents",
        "evidence",
        "why",
    ):
        assert key in first
    assert first["first_seen"] == "2026-11-01T22:14:05Z"
    actions = [o["action"] for o in doc["offenders"]]
    assert actions == sorted(actions, key=["block", "watch", "allow"].index)


def test_bad_context_is_an_export_error() -> None:
    with pytest.raises(ExportError, match="nginx context 'stream'"):
        ExportOptions(context="stream")  # type: ignore[arg-type]


def test_blocked_agent_tokens_skip_spoofed_crawlers() -> None:
    offenders = frame(
        offender("192.0.2.1", tokens=["GPTBot"]),
        offender("192.0.2.2", tokens=["Googlebot"], category="spoofed-crawler"),
        offender("192.0.2.3", tokens=["CCBot"], action="watch"),
        offender("192.0.2.4", tokens=["python-requests", 'bad"token'], category="scraping-tool"),
        offender("192.0.2.5", tokens=["gptbot"]),
    )
    every = [c.value for c in schema.Category]
    assert blocked_agent_tokens(offenders, categories=every) == ("GPTBot", "python-requests")
    assert blocked_agent_tokens(offenders, categories=["ai-training"]) == ("GPTBot",)


@pytest.mark.parametrize("path", ["/etc/haproxy/a b.acl", "/x.acl\nhttp-request allow", "", '/x"'])
def test_haproxy_frontend_refuses_odd_paths(path: str) -> None:
    with pytest.raises(ExportError, match="HAProxy ACL file path"):
        haproxy_frontend(path, "/etc/haproxy/ua.acl")
