"""Policies: category to action with the terms clause, and the allowlist that always wins."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scraperwatch import schema
from scraperwatch.detect.policy import DEFAULT_POLICY, load_policy, shipped_policy_names
from scraperwatch.errors import RuleFileError
from scraperwatch.schema import Action, Category

ADDRESSES = [
    ("127.0.0.1", True),
    ("127.8.9.10", True),
    ("10.20.30.40", True),
    ("172.16.5.4", True),
    ("172.32.0.1", False),
    ("192.168.1.1", True),
    ("100.64.1.1", True),
    ("::1", True),
    ("fd12:3456::1", True),
    ("fe80::1", True),
    ("::ffff:192.168.0.7", True),
    ("203.0.113.5", False),
    ("2001:db8::1", False),
    ("not-an-ip", False),
]


def test_default_policy_follows_mastodon_social() -> None:
    policy = load_policy(None)
    assert policy.name == DEFAULT_POLICY
    assert DEFAULT_POLICY in shipped_policy_names()
    assert policy.terms == "https://mastodon.social/terms-of-service"
    for category in Category:
        assert policy.clause_for(category).strip()
    blocked = {
        Category.AI_TRAINING,
        Category.AI_SEARCH,
        Category.AI_USER,
        Category.SCRAPER,
        Category.SCRAPING_TOOL,
        Category.SPOOFED_CRAWLER,
        Category.SEO_CRAWLER,
        Category.ARCHIVER,
    }
    allowed = {
        Category.SEARCH_ENGINE,
        Category.FEDERATION,
        Category.LINK_PREVIEW,
        Category.MONITORING,
        Category.FEED_READER,
        Category.BROWSER,
    }
    assert {c for c in Category if policy.action_for(c) is Action.BLOCK} == blocked
    assert {c for c in Category if policy.action_for(c) is Action.ALLOW} == allowed
    assert policy.action_for("other-bot") is Action.WATCH
    assert "offline reader" in policy.clause_for(Category.ARCHIVER)
    assert "standard search engine" in policy.clause_for(Category.SEARCH_ENGINE)


@pytest.mark.parametrize(("ip", "allowed"), ADDRESSES)
def test_private_ranges_are_allowlisted(ip: str, allowed: bool) -> None:
    policy = load_policy(None)
    assert policy.is_allowlisted(ip, None) is allowed
    frame = pl.DataFrame({schema.CLIENT_IP: [ip], schema.USER_AGENT: ["x"]})
    assert frame.select(policy.allowlist_expr().alias("a"))["a"].item() is allowed


def test_allow_private_off() -> None:
    policy = load_policy(None, allow_private=False)
    assert not policy.allow_private
    assert not policy.is_allowlisted("127.0.0.1", None)
    frame = pl.DataFrame(
        {schema.CLIENT_IP: ["127.0.0.1", "10.0.0.1"], schema.USER_AGENT: [None, None]}
    )
    assert frame.select(policy.allowlist_expr().alias("a"))["a"].to_list() == [False, False]


def test_allow_private_setting_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tests.toml"
    path.write_text(
        '[policy]\nname = "tests"\nextends = "mastodon-social"\nallow_private = false\n',
        encoding="utf-8",
    )
    assert not load_policy(path).is_allowlisted("127.0.0.2", None)
    # The function parameter wins over the file.
    assert load_policy(path, allow_private=True).is_allowlisted("127.0.0.2", None)


def test_extra_addresses_and_user_agent_patterns(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[policy]\nname = "mine"\nextends = "mastodon-social"\n\n'
        '[category.link-preview]\naction = "block"\nclause = "We forbid previews."\n\n'
        "[allowlist]\naddresses = [\"198.51.100.0/24\"]\nuser_agents = ['^OurUptime/\\d']\n",
        encoding="utf-8",
    )
    policy = load_policy(path, extra=["2001:db8:1::/48"])
    assert policy.action_for(Category.LINK_PREVIEW) is Action.BLOCK
    assert policy.clause_for(Category.LINK_PREVIEW) == "We forbid previews."
    assert policy.action_for(Category.AI_TRAINING) is Action.BLOCK  # inherited
    assert policy.is_allowlisted("198.51.100.9", None)
    assert policy.is_allowlisted("2001:db8:1::5", None)
    assert policy.is_allowlisted("203.0.113.1", "ouruptime/2.0")
    assert not policy.is_allowlisted("203.0.113.1", "Mozilla/5.0 OurUptime/2.0")
    frame = pl.DataFrame(
        {
            schema.CLIENT_IP: ["198.51.100.9", "203.0.113.1", "203.0.113.1", None],
            schema.USER_AGENT: [None, "OurUptime/1", "curl/8.0", "OurUptime/1"],
        }
    )
    assert frame.select(policy.allowlist_expr().alias("a"))["a"].to_list() == [
        True,
        True,
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[policy]\nname = "x"\n', "no action for ai-training"),
        (
            '[policy]\nname = "x"\nextends = "mastodon-social"\n[category.ai-training]\naction = "deny"\nclause = "c"\n',
            "`category.ai-training.action` is 'deny'",
        ),
        (
            '[policy]\nname = "x"\nextends = "mastodon-social"\n[category.robots]\naction = "block"\nclause = "c"\n',
            "[category.robots] is not a category",
        ),
        (
            '[policy]\nname = "x"\nextends = "mastodon-social"\n[category.ai-user]\naction = "watch"\n',
            "`category.ai-user.clause` is missing",
        ),
        (
            '[policy]\nname = "x"\nextends = "mastodon-social"\n[allowlist]\naddresses = ["10.0.0.0/33"]\n',
            "is not an address or CIDR",
        ),
        (
            '[policy]\nname = "x"\nextends = "mastodon-social"\n[allowlist]\nuser_agents = [\'(\']\n',
            "is not a valid regex",
        ),
        (
            '[policy]\nname = "x"\nextends = "mastodon-social"\nallow_privat = false\n',
            "`policy.allow_privat` is not a policy setting",
        ),
        ('[polcy]\nname = "x"\n', "unknown top-level key `polcy`"),
        ('[policy]\nname = "x"\nextends = "nope"\n', "unknown policy 'nope'"),
        ("[policy\n", "not valid TOML"),
    ],
)
def test_broken_policies(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleFileError) as info:
        load_policy(path)
    assert fragment in str(info.value)


def test_unknown_policy_name() -> None:
    with pytest.raises(RuleFileError, match=r"unknown policy 'strict'.*mastodon-social"):
        load_policy("strict")
