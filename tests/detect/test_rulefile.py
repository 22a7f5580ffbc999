"""Rule files: the shipped data, validation, the search path and overrides, the digest."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from ua_corpora import UA_LISTS

from scraperwatch.detect.rulefile import (
    ID_RE,
    TOKEN_RE,
    load_rule_texts,
    load_ruleset,
    rule_texts,
    shipped_rules_dir,
)
from scraperwatch.errors import ExitCode, RuleFileError
from scraperwatch.schema import Category

RULESET = load_ruleset()
BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "rules" / "broken"
FAMILIES = (
    "UA-",
    "TOOL-",
    "FAKE-",
    "SE-",
    "SEO-",
    "ARCH-",
    "MON-",
    "FEED-",
    "PREVIEW-",
    "FED-",
    "PATH-",
    "SCAN-",
    "CUA-",
    "BOT-",
)


def test_shipped_rules_load_from_the_package() -> None:
    root = shipped_rules_dir()
    names = {p.name for p in root.iterdir()}
    assert {
        "ai-agents.toml",
        "tools.toml",
        "search-engines.toml",
        "fediverse.toml",
        "catchall.toml",
    } <= names
    assert len(RULESET.rules) > 300
    assert len({r.id for r in RULESET.rules}) == len(RULESET.rules)


def test_every_category_that_rules_can_name_is_used() -> None:
    used = {r.category for r in RULESET.rules}
    # spoofed-crawler comes from verification and browser from the absence of rules.
    assert used == set(Category) - {Category.SPOOFED_CRAWLER, Category.BROWSER}


def test_every_rule_carries_its_source_and_date() -> None:
    for rule in RULESET.rules:
        assert ID_RE.match(rule.id), rule.id
        assert rule.id.startswith(FAMILIES), rule.id
        assert rule.source.strip(), rule.id
        assert rule.checked <= dt.date.today(), rule.id
        assert rule.title.strip(), rule.id
        for token in rule.tokens:
            assert TOKEN_RE.match(token), (rule.id, token)


def test_every_ai_robots_txt_agent_has_a_rule() -> None:
    agents = json.loads((UA_LISTS / "ai-robots-txt-robots.json").read_text(encoding="utf-8"))
    known = {t.lower() for r in RULESET.rules for t in r.tokens}
    missing = sorted(a for a in agents if a.lower() not in known)
    assert not missing, f"agents of robots.json without a rule token or alias: {missing}"
    robots = {t.lower() for r in RULESET.rules if r.robots_token for t in r.tokens}
    assert {a.lower() for a in agents} <= robots


def test_robots_only_tokens_say_they_send_no_requests() -> None:
    for rule_id in ("UA-GOOGLE-EXTENDED", "UA-APPLEBOT-EXTENDED"):
        rule = RULESET.by_id(rule_id)
        assert rule.robots_token
        assert rule.match.is_empty
        assert rule.note
        assert "no request" in rule.note


def test_search_engines_name_their_verification() -> None:
    for rule_id, operator in (
        ("SE-GOOGLEBOT", "googlebot"),
        ("SE-BINGBOT", "bingbot"),
        ("SE-APPLEBOT", "applebot"),
    ):
        assert RULESET.by_id(rule_id).verify == operator
    assert RULESET.by_id("UA-GPTBOT").verify == "gptbot"


def test_user_agent_regexes_are_anchored_to_the_token() -> None:
    """No rule's user-agent regex is a bare word (ai.robots.txt #208/#233)."""
    for rule in RULESET.curated:
        regex = rule.match.user_agent
        if regex is None:
            continue
        assert not re.fullmatch(r"[A-Za-z]+", regex), rule.id


def test_catchall_comes_from_the_package() -> None:
    catchall = RULESET.catchall
    assert catchall is not None
    assert catchall.catchall_stats is not None
    stats = catchall.catchall_stats
    assert stats.total > 1000
    assert stats.kept > 1000
    assert not stats.invalid, f"patterns that do not compile in Polars: {stats.invalid}"
    assert {"Mastodon", "Friendica", "Lemmy"} <= set(stats.protected)
    assert "Slurp" in stats.excluded
    assert catchall.category is Category.OTHER_BOT
    assert catchall.id == RULESET.rules[-1 - len(RULESET.fallback)].id or not catchall.curated


def test_digest_is_stable_and_follows_content() -> None:
    again = load_rule_texts(rule_texts())
    assert again.digest == RULESET.digest
    changed = load_rule_texts(
        [
            *rule_texts(),
            (
                "extra.toml",
                '[[rule]]\nid = "UA-EXTRA"\ntitle = "x"\ncategory = "ai-training"\nsource = "t"\n'
                "checked = 2026-11-23\nmatch.user_agent = 'ExtraBot/'\n",
            ),
        ]
    )
    assert changed.digest != RULESET.digest
    assert re.fullmatch(r"[0-9a-f]{64}", changed.digest)


# --- the search path ---------------------------------------------------------------------------

USER_RULE = """
[[rule]]
id = "UA-MYBOT"
title = "A crawler only this instance sees"
category = "ai-training"
token = "MyBot"
robots_token = true
source = "our logs"
checked = 2026-11-20
match.user_agent = '(?:^|[^0-9A-Za-z_-])MyBot/'
"""

OVERRIDE = """
[[rule]]
id = "PREVIEW-FACEBOOKEXTERNALHIT"
override = true
title = "facebookexternalhit, blocked here"
category = "ai-training"
source = "our terms"
checked = 2026-11-20
match.user_agent = 'facebookexternalhit/'
"""

DISABLE = """
[[rule]]
id = "TOOL-CURL"
override = true
enabled = false
title = "curl is fine here"
category = "scraping-tool"
source = "our terms"
checked = 2026-11-20
"""


def _user_dir(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "rules.d"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    return folder


def test_user_folder_adds_rules(tmp_path: Path) -> None:
    ruleset = load_ruleset([_user_dir(tmp_path, mine=USER_RULE)])
    rule = ruleset.by_id("UA-MYBOT")
    assert rule.tokens == ("MyBot",)
    assert rule.file.endswith("mine.toml")
    assert len(ruleset.rules) == len(RULESET.rules) + 1


def test_override_replaces_and_disables(tmp_path: Path) -> None:
    ruleset = load_ruleset([_user_dir(tmp_path, a=OVERRIDE, b=DISABLE)])
    assert ruleset.by_id("PREVIEW-FACEBOOKEXTERNALHIT").category is Category.AI_TRAINING
    with pytest.raises(KeyError):
        ruleset.by_id("TOOL-CURL")
    # The replaced rule keeps its place in precedence order.
    ids = [r.id for r in ruleset.rules]
    assert ids.index("PREVIEW-FACEBOOKEXTERNALHIT") == [r.id for r in RULESET.rules].index(
        "PREVIEW-FACEBOOKEXTERNALHIT"
    )


def test_missing_or_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="not a folder of rule files"):
        load_ruleset([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuleFileError, match="holds no"):
        load_ruleset([tmp_path / "empty"])


def _broken_cases() -> list[tuple[str, str]]:
    cases = []
    for path in sorted(BROKEN.glob("*.toml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# expect: "), (
            f"{path} must start with '# expect: <message fragment>'"
        )
        cases.append((path.name, first.removeprefix("# expect: ")))
    return cases


@pytest.mark.parametrize(("fixture", "fragment"), _broken_cases())
def test_broken_rule_files_name_file_rule_field_and_fix(fixture: str, fragment: str) -> None:
    path = BROKEN / fixture
    with pytest.raises(RuleFileError) as info:
        load_rule_texts([*rule_texts(), (str(path), path.read_text(encoding="utf-8"))])
    message = str(info.value)
    assert fragment in message
    assert message.startswith(str(path))
    assert "; " in message, "the message must say how to fix it"
    assert info.value.exit_code == ExitCode.INPUT


# Operators that rules name in `verify` but for which no address list is shipped: the verifier
# reports them as unverifiable rather than spoofed.
VERIFY_WITHOUT_RANGES = {
    "marginalia": "Anubis lists its addresses, received by e-mail; no published URL"
}


def test_verify_names_have_published_ranges() -> None:
    ranges = Path(__file__).resolve().parents[2] / "rules" / "ranges"
    shipped = {p.stem for p in ranges.glob("*.json")}
    named = {r.verify for r in RULESET.rules if r.verify}
    assert named - shipped <= set(VERIFY_WITHOUT_RANGES), sorted(named - shipped)
