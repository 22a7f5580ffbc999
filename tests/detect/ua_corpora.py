"""User-agent corpora for the rule tests: isbot's browsers and crawlers, real fediverse servers."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import polars as pl

from scraperwatch import schema
from scraperwatch.cli.rules import parse_combined_line
from scraperwatch.detect.match import (
    RULE_ID,
    Match,
    classify_user_agent,
    classify_user_agents,
    explain,
)
from scraperwatch.detect.rulefile import RuleSet

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RULE_FIXTURES = FIXTURES / "rules"
UA_LISTS = FIXTURES / "external" / "ua-lists"


def _isbot_yaml(path: Path) -> list[str]:
    """The user agents of an isbot fixture file (a YAML map of name -> list of strings)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("  - "):
            continue
        value = line[4:]
        if value.startswith('"') and value.endswith('"'):
            value = json.loads(value)
        elif value.startswith("'") and value.endswith("'"):
            value = value[1:-1].replace("''", "'")
        out.append(value)
    return out


@cache
def browsers() -> tuple[str, ...]:
    return tuple(dict.fromkeys(_isbot_yaml(UA_LISTS / "isbot-browsers.yml")))


@cache
def crawlers() -> tuple[str, ...]:
    return tuple(dict.fromkeys(_isbot_yaml(UA_LISTS / "isbot-crawlers.yml")))


@cache
def fediverse() -> tuple[str, ...]:
    path = RULE_FIXTURES / "_fediverse-user-agents.log"
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(ln for ln in lines if ln.strip() and not ln.startswith("#"))


def matches_for(text: str, ruleset: RuleSet) -> list[Match]:
    """What the rules make of one fixture line: a JSON request, an nginx line, or a user agent."""
    if text.startswith("{"):
        return [m for m in explain(json.loads(text), ruleset) if m.matched]
    request = parse_combined_line(text)
    if request is not None:
        return [m for m in explain(request, ruleset) if m.matched]
    return [m for m in classify_user_agent(text, ruleset) if m.matched]


def batch_matches(lines: list[str], ruleset: RuleSet) -> dict[str, set[str]]:
    """The rule ids each line matches: user agents in one batch, requests one by one."""
    out: dict[str, set[str]] = {}
    uas = []
    for text in dict.fromkeys(lines):
        if text.startswith("{") or parse_combined_line(text) is not None:
            out[text] = {m.rule.id for m in matches_for(text, ruleset)}
        else:
            uas.append(text)
            out[text] = set()
    if uas:
        found = classify_user_agents(pl.LazyFrame({schema.USER_AGENT: uas}), ruleset).collect()
        for ua, rid in found.select(schema.USER_AGENT, RULE_ID).iter_rows():
            out[ua].add(rid)
    return out


def fixture_lines(rule_id: str) -> tuple[list[str], list[str]]:
    """The `+` and `-` lines of tests/fixtures/rules/<rule_id>.log."""
    pos, neg = [], []
    for line in (RULE_FIXTURES / f"{rule_id}.log").read_text(encoding="utf-8").splitlines():
        if line.startswith("+ "):
            pos.append(line[2:])
        elif line.startswith("- "):
            neg.append(line[2:])
        elif line == "-":
            neg.append("")
    return pos, neg
