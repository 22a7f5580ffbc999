"""Offender frames for the exporter tests: a realistic scan result and a hostile one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from scraperwatch import schema
from scraperwatch.exporters import ExportOptions

T0 = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
# Pinned so that the golden files do not change with each release.
TEST_VERSION = "0.0.0"


def offender(ip: Any, **kw: Any) -> dict[str, Any]:
    """One offender row with plausible defaults; keyword arguments override columns."""
    row: dict[str, Any] = {
        schema.IP: ip,
        schema.SCOPE: "prefix" if isinstance(ip, str) and "/" in ip else "address",
        schema.CATEGORY: schema.Category.AI_TRAINING.value,
        schema.ACTION: schema.Action.BLOCK.value,
        schema.CONFIDENCE: 0.95,
        schema.RULES: ["UA-GPTBOT"],
        schema.TOKENS: ["GPTBot"],
        schema.REQUESTS: 120,
        schema.BYTES: 345_678,
        schema.FIRST_SEEN: datetime(2026, 11, 1, 22, 14, 5, tzinfo=UTC),
        schema.LAST_SEEN: datetime(2026, 11, 2, 1, 2, 3, tzinfo=UTC),
        schema.USER_AGENTS: [
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
        ],
        schema.PATHS: ["/@alice", "/api/v1/timelines/public"],
        schema.EVIDENCE: [
            {
                "source": "rule",
                "id": "UA-GPTBOT",
                "detail": "user agent GPTBot",
                "value": 1.0,
                "threshold": None,
            }
        ],
        schema.WHY: "Self-declared AI training crawler (GPTBot).",
        schema.CLAUSE: "Scraping and AI training are not allowed.",
        schema.ASN: None,
        schema.AS_ORG: None,
        schema.COUNTRY: None,
    }
    row.update(kw)
    return row


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    if not rows:
        return schema.empty_offenders()
    return pl.DataFrame(list(rows), schema=schema.OFFENDER_SCHEMA, orient="row")


SCRAPER = {
    schema.CATEGORY: schema.Category.SCRAPER.value,
    schema.RULES: ["RATE-PEAK-MINUTE", "PATH-MAXID-WALK"],
    schema.TOKENS: [],
    schema.USER_AGENTS: ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0"],
    schema.WHY: "Walked max_id pagination over /api/v1/timelines/public at 90 requests/minute.",
}

# A night's scan: what the golden files are made from. Comments say what each row tests.
SCAN = frame(
    offender("203.0.113.4"),  # 203.0.113.4-7 collapse into 203.0.113.4/30
    offender("203.0.113.5"),
    offender("203.0.113.6", **{schema.TOKENS: ["CCBot"], schema.RULES: ["UA-CCBOT"]}),
    offender("203.0.113.7"),
    offender("198.51.100.0/24", **SCRAPER),  # a prefix offender (distributed crawl)
    offender("192.0.2.0/24", **SCRAPER),  # with 192.0.3.0/24 merges into a /23: cut back to /24s
    offender("192.0.3.0/24", **SCRAPER),
    offender("100.24.0.0/24", **SCRAPER),  # holds the allowlisted 100.24.0.9: split around it
    offender(
        "66.249.66.1", **{**SCRAPER, schema.TOKENS: ["Googlebot"]}
    ),  # in a verified range: left out
    offender("10.1.2.3", **SCRAPER),  # private: left out (allow_private)
    offender("45.0.0.0/16", **SCRAPER),  # broader than /24: left out
    offender("not-an-address", **SCRAPER),  # invalid: left out
    offender("2001:db8:1::/48", **SCRAPER),
    offender("2001:db8:2:3::/64", **SCRAPER),  # a /64 prefix offender
    offender("2001:DB8:9::1"),  # normalised to lower case
    offender("::ffff:198.18.0.9"),  # IPv4-mapped: written as IPv4
    offender("198.18.0.10", **{schema.ACTION: "watch"}),  # watch: not exported
    offender("198.18.0.11", **{schema.ACTION: "allow", schema.CATEGORY: "search-engine"}),
)

OPTIONS = ExportOptions(
    agent_tokens=(
        "GPTBot",
        "CCBot",
        "ClaudeBot",
        "Bytespider",
        "meta-externalagent",
        "Brightbot 1.0",
        "gptbot",
    ),
    robots_tokens=("GPTBot", "CCBot", "ClaudeBot", "Google-Extended", "Applebot-Extended"),
    never_block=("66.249.64.0/19", "100.24.0.9"),
    ruleset_digest="sha256:4f2a9c0d1e7b",
    expiry_days=7,
    version=TEST_VERSION,
)

# Hostile strings: every one carries PWNED, which must never reach a configuration format.
HOSTILE_STRINGS = [
    '"; } PWNED { "',
    "PWNED;\nreturn 200;",
    "$PWNED ${PWNED} {PWNED}",
    "#PWNED\r\nallow all;",
    "\\PWNED\\x22\\",
    "PWNED\x00nul",
    "'PWNED' `PWNED`",
    "=cmd|' /C calc'!A0 PWNED",
]
HOSTILE_IPS = [
    "203.0.113.9; allow all; # PWNED",
    "203.0.113.9\n}\nPWNED",
    "fe80::1%;}PWNED",
    "203.0.113.0/24 1;\nPWNED 1",
    "$PWNED",
    "PWNED",
    "",
    None,
]


def hostile_frame() -> pl.DataFrame:
    rows = []
    for i, text in enumerate(HOSTILE_STRINGS):
        rows.append(
            offender(
                f"203.0.113.{20 + i}",
                **{
                    schema.SCOPE: text,
                    schema.CATEGORY: text,
                    schema.RULES: [text],
                    schema.TOKENS: [text],
                    schema.USER_AGENTS: [text, "GPTBot/1.1 " + text],
                    schema.PATHS: ["/" + text],
                    schema.EVIDENCE: [
                        {
                            "source": text,
                            "id": text,
                            "detail": text,
                            "value": float("nan"),
                            "threshold": None,
                        }
                    ],
                    schema.WHY: text,
                    schema.CLAUSE: text,
                    schema.AS_ORG: text,
                    schema.COUNTRY: text,
                },
            )
        )
    rows += [offender(ip, **{schema.WHY: f"hostile ip {i}"}) for i, ip in enumerate(HOSTILE_IPS)]
    return frame(*rows)
