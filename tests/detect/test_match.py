"""The rule engine: fixtures per rule, no false positives on browsers or federation, evaluate()."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from ua_corpora import (
    RULE_FIXTURES,
    batch_matches,
    browsers,
    crawlers,
    fediverse,
    fixture_lines,
    matches_for,
)

from scraperwatch import schema
from scraperwatch.detect.match import (
    HITS,
    MATCH_SCHEMA,
    PRIMARY,
    RULE_ID,
    classify_user_agent,
    classify_user_agents,
    evaluate,
    explain,
    ip_in_networks,
)
from scraperwatch.detect.rulefile import RuleSet, load_rule_texts, load_ruleset, rule_texts

RULESET = load_ruleset()

# isbot counts user-initiated AI fetchers as browsers; the instance terms do not. Each entry is a
# deliberate disagreement with isbot's browser list, with the reason.
KNOWN_DISAGREEMENTS = {
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amzn-User/0.1) "
    "Chrome/119.0.6045.214 Safari/537.36": "UA-AMZN-USER: Amazon's AI fetcher (ai.robots.txt: "
    "'used for fetching web content to answer user queries'), not a person's browser",
}
FEDIVERSE_FILE = "fediverse.toml"


def _classify(uas: tuple[str, ...] | list[str], ruleset: RuleSet = RULESET) -> pl.DataFrame:
    return classify_user_agents(
        pl.LazyFrame({schema.USER_AGENT: list(uas)}).unique(), ruleset
    ).collect()


# --- every rule against its own fixture -------------------------------------------------------


def _all_fixture_lines() -> list[str]:
    lines: list[str] = []
    for rule in RULESET.rules:
        path = RULE_FIXTURES / f"{rule.id}.log"
        if path.exists():
            pos, neg = fixture_lines(rule.id)
            lines += pos + neg
    return lines


FIXTURE_MATCHES = batch_matches(_all_fixture_lines(), RULESET)


@pytest.mark.parametrize("rule_id", [r.id for r in RULESET.rules])
def test_rule_fixture(rule_id: str) -> None:
    path = RULE_FIXTURES / f"{rule_id}.log"
    assert path.exists(), f"rule {rule_id} has no fixture {path}: add + and - lines"
    rule = RULESET.by_id(rule_id)
    pos, neg = fixture_lines(rule_id)
    assert neg, f"{path}: add at least one `- ` line it must not match"
    if rule.match.is_empty:
        assert not pos, f"{rule_id} is robots.txt-only: it matches nothing, so no `+ ` line"
    else:
        assert pos, f"{path}: add at least one `+ ` line it must match"
    for text in pos:
        got = FIXTURE_MATCHES[text]
        assert rule_id in got, f"{rule_id} should match {text!r}; matched {sorted(got)}"
    for text in neg:
        assert rule_id not in FIXTURE_MATCHES[text], f"{rule_id} should not match {text!r}"


def test_explain_agrees_with_the_batch_engine() -> None:
    """classify_user_agent (one UA, for `rules test`) and classify_user_agents (the scan) agree."""
    sample = [ln for i, ln in enumerate(_all_fixture_lines()) if i % 60 == 0]
    for text in sample:
        one = {m.rule.id for m in matches_for(text, RULESET)}
        assert one == FIXTURE_MATCHES[text], text


def test_no_stale_fixtures() -> None:
    ids = {r.id for r in RULESET.rules}
    stale = [
        p.name
        for p in RULE_FIXTURES.glob("*.log")
        if not p.name.startswith("_") and p.stem not in ids
    ]
    assert not stale, f"fixtures without a rule: {stale}"


# --- precision: browsers and fediverse servers ------------------------------------------------


def test_no_rule_matches_a_browser() -> None:
    """Every rule, the catch-all and the fallbacks included, against isbot's 555 browsers."""
    found = _classify(browsers())
    hits = dict(found.select(schema.USER_AGENT, RULE_ID).iter_rows())
    false_positives = {ua: rid for ua, rid in hits.items() if ua not in KNOWN_DISAGREEMENTS}
    assert not false_positives, (
        f"{len(false_positives)} browser user agents matched: {false_positives}"
    )
    assert set(hits) == set(KNOWN_DISAGREEMENTS)


def test_every_single_rule_spares_browsers() -> None:
    """The same, rule by rule, so that the tiers cannot hide a broad lower-tier regex."""
    frame = pl.DataFrame({schema.USER_AGENT: list(browsers())})
    for rule in RULESET.rules:
        regex = rule.match.ua_regex
        if regex is None:
            continue
        hit = frame.filter(pl.col(schema.USER_AGENT).str.contains(regex))[
            schema.USER_AGENT
        ].to_list()
        hit = [ua for ua in hit if ua not in KNOWN_DISAGREEMENTS]
        assert not hit, f"{rule.id} matches browsers: {hit[:3]}"


def test_only_fediverse_rules_match_fediverse_servers() -> None:
    uas = fediverse()
    assert len(uas) >= 30
    frame = pl.DataFrame({schema.USER_AGENT: list(uas)})
    for rule in RULESET.rules:
        regex = rule.match.ua_regex
        if regex is None or Path(rule.file).name == FEDIVERSE_FILE:
            continue
        hit = frame.filter(pl.col(schema.USER_AGENT).str.contains(regex))[
            schema.USER_AGENT
        ].to_list()
        assert not hit, f"{rule.id} ({rule.file}) matches fediverse servers: {hit[:3]}"


def test_every_fediverse_server_is_federation_or_preview() -> None:
    found = _classify(fediverse()).filter(pl.col(PRIMARY))
    assert set(found[schema.USER_AGENT]) == set(fediverse())
    assert set(found[schema.CATEGORY]) == {"federation", "link-preview"}
    previews = set(found.filter(pl.col(schema.CATEGORY) == "link-preview")[schema.USER_AGENT])
    assert previews == {ua for ua in fediverse() if ua.endswith("Bot")}


def test_isbot_crawlers_are_mostly_matched(capsys: pytest.CaptureFixture[str]) -> None:
    uas = crawlers()
    matched = _classify(uas)[schema.USER_AGENT].n_unique()
    share = matched / len(uas)
    with capsys.disabled():
        print(f"\nisbot crawlers matched: {matched}/{len(uas)} = {share:.1%}")
    assert share >= 0.70, f"only {share:.1%} of isbot's crawlers matched"


# --- precedence --------------------------------------------------------------------------------


def test_curated_rule_hides_the_catchall() -> None:
    matches = classify_user_agent(
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", RULESET
    )
    assert [m.rule.id for m in matches] == ["SEO-AHREFSBOT"]
    assert matches[0].primary


def test_catchall_names_its_pattern() -> None:
    matches = classify_user_agent(
        "Mozilla/5.0 (compatible; SEOlizer/1.1; +https://www.seolizer.de/bot.html)", RULESET
    )
    assert [m.rule.id for m in matches] == ["CUA-CATCHALL"]
    assert matches[0].detail is not None
    assert "SEOlizer" in matches[0].detail


def test_fallback_only_below_the_catchall() -> None:
    matches = classify_user_agent("Mozilla/5.0 (compatible; Zqxwvbot/0.3)", RULESET)
    assert [m.rule.id for m in matches] == ["BOT-SELF-DECLARED"]


def test_primary_prefers_the_named_agent() -> None:
    # SemrushBot-OCOB matches the AI rule and the generic Semrush rule's family: AI wins.
    matches = classify_user_agent(
        "Mozilla/5.0 (compatible; SemrushBot-OCOB/1; +https://www.semrush.com/bot/)", RULESET
    )
    primary = [m.rule.id for m in matches if m.primary]
    assert primary == ["UA-SEMRUSHBOT-OCOB"]


def test_partial_match_needs_the_request() -> None:
    matches = explain(
        {schema.USER_AGENT: "x"}, RULESET, present={schema.USER_AGENT}, include_partial=True
    )
    assert matches == []
    ap = explain(
        {schema.USER_AGENT: "http.rb/5.1.1 (Mastodon/4.2.8; +https://mastodon.social/)"},
        RULESET,
        present={schema.USER_AGENT},
        include_partial=True,
    )
    assert [m.rule.id for m in ap if m.matched] == ["FED-MASTODON"]


# --- evaluate() on requests --------------------------------------------------------------------

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
GPT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
MASTO = "http.rb/5.1.1 (Mastodon/4.2.8; +https://mastodon.social/)"


def _requests(rows: list[tuple[str, str | None, str, str, int, int]]) -> pl.LazyFrame:
    """(client_ip, user_agent, method, path, status, minute) rows as canonical requests."""
    frame = pl.DataFrame(
        {
            schema.TS: [T0 + dt.timedelta(minutes=r[5]) for r in rows],
            schema.CLIENT_IP: [r[0] for r in rows],
            schema.USER_AGENT: [r[1] for r in rows],
            schema.METHOD: [r[2] for r in rows],
            schema.PATH: [r[3] for r in rows],
            schema.STATUS: [r[4] for r in rows],
            schema.SOURCE_FILE: ["test.log"] * len(rows),
            schema.SOURCE_FORMAT: ["nginx-combined"] * len(rows),
            schema.LINE_NO: list(range(1, len(rows) + 1)),
        }
    )
    return schema.conform(frame.lazy())


def _expected(rows: list[tuple[str, str | None, str, str, bool, int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            schema.CLIENT_IP: [r[0] for r in rows],
            schema.USER_AGENT: [r[1] for r in rows],
            RULE_ID: [r[2] for r in rows],
            schema.CATEGORY: [r[3] for r in rows],
            PRIMARY: [r[4] for r in rows],
            HITS: [r[5] for r in rows],
            schema.FIRST_SEEN: [T0 + dt.timedelta(minutes=r[6]) for r in rows],
            schema.LAST_SEEN: [T0 + dt.timedelta(minutes=r[7]) for r in rows],
        },
        schema=MATCH_SCHEMA,
    )


def _sorted(frame: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    return df.sort([schema.CLIENT_IP, RULE_ID, schema.USER_AGENT], nulls_last=True)


def test_evaluate_groups_per_client_agent_and_rule() -> None:
    requests = _requests(
        [
            ("198.51.100.1", GPT, "GET", "/@alice", 200, 0),
            ("198.51.100.1", GPT, "GET", "/@bob", 200, 5),
            ("198.51.100.2", GPT, "GET", "/@carol", 200, 7),
            ("198.51.100.3", FIREFOX, "GET", "/", 200, 1),
            ("203.0.113.9", MASTO, "POST", "/inbox", 202, 2),
            ("203.0.113.9", MASTO, "POST", "/users/alice/inbox", 202, 3),
            ("192.0.2.4", None, "GET", "/api/v1/timelines/public", 200, 4),
            ("192.0.2.5", "-", "GET", "/", 200, 6),
        ]
    )
    got = _sorted(evaluate(requests, RULESET))
    want = _sorted(
        _expected(
            [
                ("198.51.100.1", GPT, "UA-GPTBOT", "ai-training", True, 2, 0, 5),
                ("198.51.100.2", GPT, "UA-GPTBOT", "ai-training", True, 1, 7, 7),
                ("203.0.113.9", MASTO, "FED-MASTODON", "federation", True, 2, 2, 3),
                ("203.0.113.9", MASTO, "PATH-FED-INBOX", "federation", False, 2, 2, 3),
                ("192.0.2.4", None, "FAKE-EMPTY-UA", "fake-browser", True, 1, 4, 4),
                ("192.0.2.5", "-", "FAKE-EMPTY-UA", "fake-browser", True, 1, 6, 6),
            ]
        )
    )
    assert_frame_equal(got, want)


def test_evaluate_on_no_rows() -> None:
    got = evaluate(_requests([]), RULESET).collect()
    assert got.schema == pl.Schema(MATCH_SCHEMA)
    assert got.height == 0


def _custom(text: str) -> RuleSet:
    return load_rule_texts([*rule_texts(), ("custom.toml", text)])


CUSTOM = """
[[rule]]
id = "NET-BAD-PREFIX"
title = "A scraper network"
category = "scraper"
source = "test"
checked = 2026-11-23
match.client = ["198.51.100.0/24", "2001:db8:bad::/48"]

[[rule]]
id = "ASN-BAD"
title = "A scraper AS"
category = "scraper"
source = "test"
checked = 2026-11-23
match.asn = [64500]

[[rule]]
id = "API-HARVEST"
title = "Public timeline pages fetched with an HTTP library"
category = "scraper"
source = "test"
checked = 2026-11-23
match.path = '^/api/v1/timelines/public$'
match.query = '(?:^|&)max_id=\\d+'
match.method = "get"
match.status = [200, 206]
match.host = '^social\\.example$'
match.header.sec_fetch_mode = '^navigate$'
"""


def test_request_conditions_combine_with_and() -> None:
    ruleset = _custom(CUSTOM)
    frame = pl.DataFrame(
        {
            schema.TS: [T0] * 6,
            schema.CLIENT_IP: [
                "198.51.100.77",
                "2001:db8:bad::1",
                "2001:db8:600d::1",
                "192.0.2.1",
                "192.0.2.2",
                "192.0.2.3",
            ],
            schema.USER_AGENT: [FIREFOX] * 6,
            schema.METHOD: ["GET"] * 6,
            schema.PATH: ["/"] * 3 + ["/api/v1/timelines/public"] * 3,
            schema.QUERY: [None] * 3 + ["local=true&max_id=123", "max_id=123", "max_id=123"],
            schema.STATUS: [200, 200, 200, 200, 200, 404],
            schema.HOST: ["social.example"] * 6,
            schema.SEC_FETCH_MODE: [None, None, None, "navigate", None, "navigate"],
            schema.SOURCE_FILE: ["t"] * 6,
            schema.SOURCE_FORMAT: ["caddy"] * 6,
            schema.LINE_NO: list(range(6)),
        }
    )
    got = evaluate(schema.conform(frame.lazy()), ruleset).collect()
    pairs = sorted(got.select(schema.CLIENT_IP, RULE_ID).iter_rows())
    assert pairs == [
        ("192.0.2.1", "API-HARVEST"),
        ("198.51.100.77", "NET-BAD-PREFIX"),
        ("2001:db8:bad::1", "NET-BAD-PREFIX"),
    ]


def test_asn_rules_need_the_asn_column() -> None:
    ruleset = _custom(CUSTOM)
    base = _requests([("192.0.2.9", FIREFOX, "GET", "/", 200, 0)])
    assert evaluate(base, ruleset).collect().height == 0
    with_asn = base.with_columns(pl.lit(64500, dtype=pl.Int64).alias(schema.ASN))
    assert evaluate(with_asn, ruleset).collect()[RULE_ID].to_list() == ["ASN-BAD"]


def test_ip_in_networks() -> None:
    frame = pl.DataFrame(
        {
            schema.CLIENT_IP: [
                "10.1.2.3",
                "10.2.0.1",
                "::ffff:10.1.0.9",
                "2001:db8::5",
                "bogus",
                None,
                "10.1.2.3.4",
                "300.1.2.3",
            ]
        }
    )
    got = frame.select(
        ip_in_networks(schema.CLIENT_IP, ["10.1.0.0/16", "2001:db8::/64"]).alias("in")
    )["in"].to_list()
    assert got == [True, False, True, True, False, False, False, False]


def test_evaluate_is_fast_on_many_rows() -> None:
    """Half a million requests from 20k clients with 2k distinct user agents, well under a few seconds."""
    import time

    n = 500_000
    uas = [
        f"Mozilla/5.0 (X11; Linux x86_64; rv:{i % 1000}.0) Gecko/20100101 Firefox/{i % 1000}.0"
        for i in range(1990)
    ]
    uas += [GPT, MASTO, "python-requests/2.31.0", "curl/8.5.0", "Wget/1.21.4", None] + [
        f"Foo{i}bot/1.0" for i in range(4)
    ]
    frame = pl.DataFrame(
        {
            schema.TS: pl.datetime_range(
                T0, T0 + dt.timedelta(seconds=n - 1), "1s", eager=True, time_zone="UTC"
            ),
            schema.CLIENT_IP: [f"198.51.{(i // 256) % 80}.{i % 256}" for i in range(n)],
            schema.USER_AGENT: [uas[i % len(uas)] for i in range(n)],
            schema.METHOD: ["GET"] * n,
            schema.PATH: ["/@alice", "/inbox", "/nodeinfo/2.0", "/api/v1/timelines/public"]
            * (n // 4),
            schema.STATUS: [200] * n,
            schema.SOURCE_FILE: ["t"] * n,
            schema.SOURCE_FORMAT: ["nginx-combined"] * n,
            schema.LINE_NO: list(range(n)),
        }
    )
    lazy = schema.conform(frame.lazy())
    start = time.perf_counter()
    got = evaluate(lazy, RULESET).collect()
    elapsed = time.perf_counter() - start
    assert got.filter(pl.col(RULE_ID) == "UA-GPTBOT")[HITS].sum() == n // len(uas) + (
        1 if n % len(uas) > uas.index(GPT) else 0
    )
    assert elapsed < 15, f"evaluate took {elapsed:.1f}s on {n} rows"
