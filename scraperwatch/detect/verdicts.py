"""Verdicts: rules, verification and behaviour per client, judged by the policy into offenders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.detect import features as f
from scraperwatch.detect import heuristics as h
from scraperwatch.detect import robots as rb
from scraperwatch.schema import Action, Category

# Worst first: when a client falls in several categories, the first one names the verdict.
PRECEDENCE: Final = (
    Category.SPOOFED_CRAWLER,
    Category.AI_TRAINING,
    Category.AI_SEARCH,
    Category.AI_USER,
    Category.SCRAPER,
    Category.SEO_CRAWLER,
    Category.ARCHIVER,
    Category.SCRAPING_TOOL,
    Category.FAKE_BROWSER,
    Category.OTHER_BOT,
    Category.SEARCH_ENGINE,
    Category.FEDERATION,
    Category.LINK_PREVIEW,
    Category.MONITORING,
    Category.FEED_READER,
    Category.BROWSER,
)
# Declared categories whose single request is evidence enough (a crawler says what it is).
DECLARED: Final = frozenset(
    {
        Category.AI_TRAINING,
        Category.AI_SEARCH,
        Category.AI_USER,
        Category.SEO_CRAWLER,
        Category.ARCHIVER,
    }
)
# Weak categories: a tool's user agent alone, from an address that may be shared (NAT), is
# blocked only past tool_min_requests or with behaviour to back it.
WEAK: Final = frozenset({Category.SCRAPING_TOOL, Category.FAKE_BROWSER, Category.OTHER_BOT})
# Clients of these categories are what the terms allow; only a honeypot hit overrides that.
ALLOWED_KINDS: Final = frozenset(
    {
        Category.SEARCH_ENGINE,
        Category.FEDERATION,
        Category.LINK_PREVIEW,
        Category.MONITORING,
        Category.FEED_READER,
    }
)
_BASE_CONFIDENCE: Final = {
    Category.SPOOFED_CRAWLER: 0.95,
    Category.AI_TRAINING: 0.95,
    Category.AI_SEARCH: 0.95,
    Category.AI_USER: 0.9,
    Category.SEO_CRAWLER: 0.95,
    Category.ARCHIVER: 0.9,
    Category.SCRAPING_TOOL: 0.75,
    Category.FAKE_BROWSER: 0.7,
    Category.OTHER_BOT: 0.6,
}
TOP_N: Final = 5


@dataclass(frozen=True)
class RuleInfo:
    id: str
    title: str
    category: Category
    action: Action | None
    token: str | None
    operator: str | None
    clause: str | None


@dataclass
class ClientFacts:
    """What is known of one client address, gathered from the frames."""

    ip: str
    features: dict[str, Any]
    agents: list[tuple[str | None, int]]  # (user agent, requests), most first
    rule_hits: dict[str, int]  # rule id -> requests
    signals: list[dict[str, Any]]
    strong: int
    verification: list[tuple[str, str, str]]  # (operator, status, detail)


def rank(category: Category) -> int:
    return PRECEDENCE.index(category)


def judge_client(
    facts: ClientFacts,
    rules: dict[str, RuleInfo],
    *,
    policy: Any,
    thresholds: h.Thresholds,
    stale: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """One client's verdict as an offender row (OFFENDER_SCHEMA), or None when it is allowed."""
    by_category: dict[Category, int] = defaultdict(int)
    evidence: list[dict[str, Any]] = []
    rule_ids: list[str] = []
    tokens: set[str] = set()
    for rid, hits in sorted(facts.rule_hits.items(), key=lambda kv: (-kv[1], kv[0])):
        info = rules.get(rid)
        if info is None:
            continue
        by_category[info.category] = max(by_category[info.category], hits)
        rule_ids.append(rid)
        who = f" ({info.operator})" if info.operator else ""
        evidence.append(
            h.evidence_struct("rule", rid, f"{info.title}{who}: {hits} requests", float(hits))
        )
    spoofed = [v for v in facts.verification if v[1] == "spoofed"]
    verified = [v for v in facts.verification if v[1] == "verified"]
    for op, status, detail in facts.verification:
        evidence.append(
            h.evidence_struct("verification", f"VERIFY-{status.upper()}", f"{op}: {detail}")
        )
    # A spoofed claim matters where the real crawler would be allowed (a search engine); a fake
    # GPTBot is blocked as what it claims to be, with the spoof as one more piece of evidence.
    claims_blocked = any(
        c in DECLARED and Action(policy.action_for(c)) is Action.BLOCK for c in by_category
    )
    if spoofed:
        rule_ids.append("VERIFY-SPOOFED")
        if not claims_blocked:
            by_category[Category.SPOOFED_CRAWLER] = facts.features[f.F_REQUESTS]
    signals = facts.signals
    evidence.extend(signals)
    ids = [sig["id"] for sig in signals]
    allowed_kind = bool(by_category) and all(c in ALLOWED_KINDS for c in by_category)
    if verified and not spoofed and all(c in ALLOWED_KINDS or c in WEAK for c in by_category):
        allowed_kind = True
    strong = facts.strong
    if allowed_kind:
        # Federation, verified search engines, monitoring: only a honeypot hit counts.
        strong = sum(1 for i in ids if i == "CANARY-HIT")
        behaviour = strong > 0
    else:
        behaviour = strong > 0 or len(ids) >= thresholds.signals_needed
    if behaviour:
        by_category[Category.SCRAPER] = facts.features[f.F_REQUESTS]
        rule_ids.extend(ids)
    candidates = [c for c in by_category if c not in ALLOWED_KINDS and c is not Category.BROWSER]
    if not candidates:
        return None
    category = min(candidates, key=rank)
    action = _action(category, facts, rules, policy)
    weak_only = category in WEAK and not behaviour
    if (
        weak_only
        and by_category[category] < thresholds.tool_min_requests
        and action is Action.BLOCK
    ):
        action = Action.WATCH
        evidence.append(
            h.evidence_struct(
                "policy",
                "WEAK-SIGNAL",
                f"only {by_category[category]} requests with a {category.value} user agent "
                f"(< {thresholds.tool_min_requests}): watched, not blocked",
                float(by_category[category]),
                float(thresholds.tool_min_requests),
            )
        )
    if category is Category.SPOOFED_CRAWLER and action is Action.BLOCK and not behaviour:
        old = [(op, (stale or {}).get(op)) for op, _, _ in spoofed]
        if all(when for _, when in old):
            action = Action.WATCH
            op, when = old[0]
            evidence.append(
                h.evidence_struct(
                    "policy",
                    "RANGES-STALE",
                    f"the published ranges of {op} are old ({when}): the address may be new; "
                    "watched, not blocked, until `scraperwatch ranges update` refreshes them",
                )
            )
    if action is Action.ALLOW:
        return None
    for rid in rule_ids:
        info = rules.get(rid)
        if info and info.token and info.category in (category, *DECLARED, *WEAK):
            tokens.add(info.token)
    confidence = _confidence(category, behaviour, len(ids), strong, bool(verified))
    feats = facts.features
    return {
        s.IP: facts.ip,
        s.SCOPE: "address",
        s.CATEGORY: category.value,
        s.ACTION: action.value,
        s.CONFIDENCE: confidence,
        s.RULES: list(dict.fromkeys(rule_ids)),
        s.TOKENS: sorted(tokens),
        s.REQUESTS: feats[f.F_REQUESTS],
        s.BYTES: feats[f.F_BYTES] or 0,
        s.FIRST_SEEN: feats[f.F_FIRST],
        s.LAST_SEEN: feats[f.F_LAST],
        s.USER_AGENTS: [ua or "" for ua, _ in facts.agents[:TOP_N]],
        s.PATHS: [],
        s.EVIDENCE: evidence,
        s.WHY: _why(category, facts, rules, rule_ids, ids, spoofed),
        s.CLAUSE: policy.clause_for(category),
        s.ASN: None,
        s.AS_ORG: None,
        s.COUNTRY: None,
    }


def _action(
    category: Category, facts: ClientFacts, rules: dict[str, RuleInfo], policy: Any
) -> Action:
    # A rule's own action overrides the policy's for its category (e.g. a rule that watches).
    overrides = [
        rules[r].action
        for r in facts.rule_hits
        if r in rules and rules[r].category is category and rules[r].action is not None
    ]
    if overrides:
        order = {Action.BLOCK: 0, Action.WATCH: 1, Action.ALLOW: 2}
        return min((o for o in overrides if o is not None), key=order.__getitem__)
    return Action(policy.action_for(category))


def _confidence(
    category: Category, behaviour: bool, signals: int, strong: int, verified: bool
) -> float:
    if category is Category.SCRAPER:
        return round(min(0.99, (0.9 if strong else 0.55) + 0.1 * max(0, signals - 1)), 2)
    base = _BASE_CONFIDENCE.get(category, 0.6)
    if verified:
        base = 1.0
    if behaviour:
        base = min(0.99, base + 0.1)
    return round(base, 2)


def _why(
    category: Category,
    facts: ClientFacts,
    rules: dict[str, RuleInfo],
    rule_ids: Sequence[str],
    signal_ids: Sequence[str],
    spoofed: Sequence[tuple[str, str, str]],
) -> str:
    n = facts.features[f.F_REQUESTS]
    if category is Category.SPOOFED_CRAWLER:
        op, _, detail = spoofed[0]
        return f"Claims to be {op} but {detail}; {n} requests."
    if category is Category.SCRAPER:
        what = ", ".join(signal_ids[:4])
        return f"Scraping behaviour ({what}); {n} requests."
    names = [rules[r].title for r in rule_ids if r in rules and rules[r].category is category]
    title = names[0] if names else category.value
    return f"{title} ({category.value}); {n} requests."


def facts_frame_to_objects(
    clients: pl.DataFrame,
    agents: pl.DataFrame,
    hits: pl.DataFrame,
    verification: pl.DataFrame,
) -> list[ClientFacts]:
    """Gather the per-client frames into ClientFacts, for the clients that have anything to judge."""
    agent_map: dict[str, list[tuple[str | None, int]]] = defaultdict(list)
    for ip, ua, n in (
        agents.sort([f.F_REQUESTS, s.USER_AGENT], descending=[True, False], nulls_last=True)
        .select(s.CLIENT_IP, s.USER_AGENT, f.F_REQUESTS)
        .iter_rows()
    ):
        agent_map[ip].append((ua, n))
    hit_map: dict[str, dict[str, int]] = defaultdict(dict)
    for ip, rid, n in hits.iter_rows():
        hit_map[ip][rid] = int(n)
    ver_map: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for ip, op, status, detail in verification.iter_rows():
        ver_map[ip].append((op, status, detail))
    out = []
    for row in clients.iter_rows(named=True):
        ip = row[s.CLIENT_IP]
        signals = row.get(h.SIGNALS) or []
        if not (hit_map.get(ip) or signals or ver_map.get(ip)):
            continue
        out.append(
            ClientFacts(
                ip=ip,
                features=row,
                agents=agent_map.get(ip, []),
                rule_hits=hit_map.get(ip, {}),
                signals=list(signals),
                strong=int(row.get(h.STRONG) or 0),
                verification=ver_map.get(ip, []),
            )
        )
    return out


def offenders_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return s.empty_offenders()
    frame = pl.DataFrame(rows, schema=s.OFFENDER_SCHEMA, orient="row")
    return sort_offenders(frame)


def sort_offenders(frame: pl.DataFrame) -> pl.DataFrame:
    """Most harmful first: blocks before watches, then by category precedence, then volume."""
    order = {c.value: i for i, c in enumerate(PRECEDENCE)}
    return frame.sort(
        by=[
            pl.col(s.ACTION).replace_strict({"block": 0, "watch": 1, "allow": 2}, default=3),
            pl.col(s.CATEGORY).replace_strict(order, default=len(order)),
            pl.col(s.REQUESTS),
            pl.col(s.IP),
        ],
        descending=[False, False, True, False],
    )


__all__ = ["ClientFacts", "RuleInfo", "judge_client", "offenders_frame", "rb"]
