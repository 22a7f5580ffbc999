"""Detection stage, rule engine: turn requests and a RuleSet into rule matches per client.

User-agent rules run on the DISTINCT user agents (one combined regex pass picks the candidates,
then each rule runs on those few), and are joined back to (client, user agent) pairs; rules on
other request fields run vectorized on the rows. The crawler-user-agents catch-all only sees the
user agents no curated rule matched.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import polars as pl

from scraperwatch import schema
from scraperwatch.detect.rulefile import CatchallPattern, Rule, RuleSet
from scraperwatch.schema import Category

# Columns of the match frame (evaluate's output), beside schema.CLIENT_IP, USER_AGENT, CATEGORY,
# FIRST_SEEN and LAST_SEEN.
RULE_ID: Final = "rule_id"
HITS: Final = "hits"  # requests of this (client, user agent) that the rule matched
PRIMARY: Final = "primary"  # this rule is the user agent's primary (most specific) verdict

MATCH_SCHEMA: Final[dict[str, pl.DataType]] = {
    schema.CLIENT_IP: pl.String(),
    schema.USER_AGENT: pl.String(),
    RULE_ID: pl.String(),
    schema.CATEGORY: pl.String(),
    PRIMARY: pl.Boolean(),
    HITS: pl.Int64(),
    schema.FIRST_SEEN: schema.UTC_TS,
    schema.LAST_SEEN: schema.UTC_TS,
}

# When several curated rules match one user agent, the primary verdict is the rule whose category
# comes first here (then the rule loaded first): a named agent before a generic tool, a tool
# before a disguise, and anything curated before the catch-all.
CATEGORY_PRECEDENCE: Final[tuple[Category, ...]] = (
    Category.AI_TRAINING,
    Category.AI_SEARCH,
    Category.AI_USER,
    Category.SEO_CRAWLER,
    Category.ARCHIVER,
    Category.SEARCH_ENGINE,
    Category.FEDERATION,
    Category.LINK_PREVIEW,
    Category.FEED_READER,
    Category.MONITORING,
    Category.SCRAPER,
    Category.SPOOFED_CRAWLER,
    Category.SCRAPING_TOOL,
    Category.FAKE_BROWSER,
    Category.OTHER_BOT,
    Category.BROWSER,
)

_UA: Final = schema.USER_AGENT
_IDS: Final = "_rule_ids"
_RANK: Final = "_rank"
_HASH: Final = "_ua_hash"


def rule_rank(rule: Rule, index: int) -> int:
    """Sort key of a rule for the primary verdict (smaller wins): tier, category, load order."""
    base = CATEGORY_PRECEDENCE.index(rule.category) if rule.category in CATEGORY_PRECEDENCE else 99
    return rule.tier * 1_000_000 + base * 10_000 + index


# --------------------------------------------------------------------------------------------
# Conditions as Polars expressions


def ua_empty_expr() -> pl.Expr:
    """True where the user agent is missing, blank, or nginx's `-`."""
    ua = pl.col(_UA)
    return ua.is_null() | ua.str.strip_chars().is_in(["", "-"])


def ip_in_networks(column: str, networks: Sequence[str]) -> pl.Expr:
    """True where the address in `column` lies in one of `networks` (addresses or CIDRs).

    IPv4 is compared as integers in Polars; IPv6 (and IPv4-mapped IPv6) goes through Python's
    ipaddress once per distinct value. Null and unparseable addresses give False.
    """
    nets = [ipaddress.ip_network(n, strict=False) for n in networks]
    col = pl.col(column)
    if not nets:
        return col.is_null() & pl.lit(False)  # all False, one value per row
    v4 = [n for n in nets if n.version == 4]
    parts = col.str.split_exact(".", 3)
    octets = [
        parts.struct.field(f"field_{i}").cast(pl.UInt8, strict=False).cast(pl.Int64)
        for i in range(4)
    ]
    as_int = (octets[0] * 16_777_216) + (octets[1] * 65_536) + (octets[2] * 256) + octets[3]
    v4_expr: pl.Expr = pl.lit(False)
    for n in v4:
        lo, hi = int(n.network_address), int(n.broadcast_address)
        v4_expr = v4_expr | as_int.is_between(lo, hi)
    is_v4 = col.str.count_matches(".", literal=True).eq(3) & ~col.str.contains(":", literal=True)

    frozen = tuple(str(n) for n in nets)

    def _v6(series: pl.Series) -> pl.Series:
        return series.map_elements(
            lambda value: address_in_networks(value, frozen),
            return_dtype=pl.Boolean,
            skip_nulls=True,
        )

    v6_expr = col.map_batches(_v6, return_dtype=pl.Boolean, is_elementwise=True)
    return (
        pl.when(is_v4)
        .then(v4_expr)
        .when(col.str.contains(":", literal=True))
        .then(v6_expr)
        .otherwise(pl.lit(False))
        .fill_null(False)
    )


@lru_cache(maxsize=65_536)
def address_in_networks(value: str, networks: tuple[str, ...]) -> bool:
    """True when the address `value` (IPv4, IPv6, IPv4-mapped IPv6) lies in one of `networks`."""
    try:
        addr = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    return any(addr in n or (mapped is not None and mapped in n) for n in _networks(networks))


@lru_cache(maxsize=256)
def _networks(
    networks: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


@dataclass(frozen=True)
class Condition:
    """One condition of a rule, as a field name, the expected value as text, and an expression."""

    field: str
    column: str | None
    expected: str
    expr: pl.Expr


def rule_conditions(rule: Rule, columns: Collection[str]) -> list[Condition]:
    """The conditions of `rule` as Polars expressions over a frame with `columns`.

    A condition on a column the frame lacks (the `asn` column before enrichment) is False.
    """
    m = rule.match
    out: list[Condition] = []

    def col(name: str) -> pl.Expr | None:
        return pl.col(name) if name in columns else None

    ua = col(_UA)
    if m.user_agent is not None and m.ua_regex is not None:
        expr = ua.str.contains(m.ua_regex).fill_null(False) if ua is not None else pl.lit(False)
        shown = (
            m.user_agent
            if rule.curated
            else f"one of {len(rule.catchall)} crawler-user-agents patterns"
        )
        out.append(Condition("user_agent", _UA, shown, expr))
    if m.user_agent_empty:
        out.append(
            Condition(
                "user_agent_empty",
                _UA,
                "empty or missing",
                ua_empty_expr() if ua is not None else pl.lit(False),
            )
        )
    if m.client:
        expr = (
            ip_in_networks(schema.CLIENT_IP, m.client)
            if schema.CLIENT_IP in columns
            else pl.lit(False)
        )
        out.append(Condition("client", schema.CLIENT_IP, ", ".join(m.client), expr))
    if m.asn:
        asn = col(schema.ASN)
        expr = asn.is_in(list(m.asn)).fill_null(False) if asn is not None else pl.lit(False)
        out.append(Condition("asn", schema.ASN, ", ".join(f"AS{a}" for a in m.asn), expr))
    for fieldname, column, pattern in (
        ("path", schema.PATH, m.path),
        ("query", schema.QUERY, m.query),
        ("host", schema.HOST, None if m.host is None else "(?i)" + m.host),
    ):
        if pattern is not None:
            c = col(column)
            expr = c.str.contains(pattern).fill_null(False) if c is not None else pl.lit(False)
            out.append(
                Condition(
                    fieldname,
                    column,
                    pattern.removeprefix("(?i)") if fieldname == "host" else pattern,
                    expr,
                )
            )
    if m.method:
        c = col(schema.METHOD)
        expr = (
            c.str.to_uppercase().is_in(list(m.method)).fill_null(False)
            if c is not None
            else pl.lit(False)
        )
        out.append(Condition("method", schema.METHOD, ", ".join(m.method), expr))
    if m.status:
        c = col(schema.STATUS)
        expr = (
            c.cast(pl.Int64).is_in(list(m.status)).fill_null(False)
            if c is not None
            else pl.lit(False)
        )
        out.append(Condition("status", schema.STATUS, ", ".join(map(str, m.status)), expr))
    for column, pattern in m.headers:
        c = col(column)
        expr = c.str.contains("(?i)" + pattern).fill_null(False) if c is not None else pl.lit(False)
        out.append(Condition(f"header.{column}", column, pattern, expr))
    return out


def rule_expr(rule: Rule, columns: Collection[str]) -> pl.Expr:
    """True where every condition of the rule holds (False for a rule without conditions)."""
    conditions = rule_conditions(rule, columns)
    if not conditions:
        return pl.lit(False)
    return pl.all_horizontal([c.expr for c in conditions])


# --------------------------------------------------------------------------------------------
# User agents


def _rules_frame(ruleset: RuleSet) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            RULE_ID: [r.id for r in ruleset.rules],
            schema.CATEGORY: [r.category.value for r in ruleset.rules],
            _RANK: [rule_rank(r, i) for i, r in enumerate(ruleset.rules)],
        },
        schema={RULE_ID: pl.String, schema.CATEGORY: pl.String, _RANK: pl.Int64},
    )


# Regexes per combined pass: one alternation of every rule can exceed the engine's compiled-size
# limit (10 MB) once case-insensitive Unicode classes are involved.
PREFILTER_CHUNK: Final = 64


def _chunks(items: Sequence[str], size: int = PREFILTER_CHUNK) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _ua_only(rule: Rule) -> bool:
    return rule.match.has_ua and not rule.match.has_request


def classify_user_agents(user_agents: pl.LazyFrame, ruleset: RuleSet) -> pl.LazyFrame:
    """Match the user-agent rules against a frame of DISTINCT user agents.

    Returns one row per (user_agent, rule_id) that matched, with the rule's category and
    `primary` true on the user agent's most specific match. Tiers: the catch-all only sees user
    agents that no curated user-agent rule matched, and fallback rules only those the catch-all
    did not match either.
    """
    columns = (_UA,)
    curated = [r for r in ruleset.curated if _ua_only(r)]
    regexes = [r.match.ua_regex for r in curated if r.match.ua_regex is not None]
    ua = pl.col(_UA)
    prefilter: pl.Expr = pl.lit(False)
    for chunk in _chunks(regexes):
        prefilter = prefilter | ua.str.contains("|".join(f"(?:{rx})" for rx in chunk)).fill_null(
            False
        )
    if any(r.match.user_agent_empty for r in curated):
        prefilter = prefilter | ua_empty_expr()
    lower = [r for r in (ruleset.catchall, *ruleset.fallback) if r is not None and r.match.ua_regex]
    # One pass over the distinct user agents: the combined curated regex and each lower tier's.
    tagged = user_agents.select(_UA).with_columns(
        prefilter.alias("_pre"),
        *[
            ua.str.contains(r.match.ua_regex or "").fill_null(False).alias(f"_t{i}")
            for i, r in enumerate(lower)
        ],
    )
    tagged = tagged.filter(pl.any_horizontal("_pre", *[f"_t{i}" for i in range(len(lower))]))
    # Each curated rule runs only on the candidates the combined regex found.
    ids: pl.Expr = pl.lit([], dtype=pl.List(pl.String))
    if curated:
        flags = [pl.when(rule_expr(r, columns)).then(pl.lit(r.id)) for r in curated]
        ids = pl.concat_list(flags).list.drop_nulls()
    curated_ids = tagged.filter(pl.col("_pre")).select(_UA, ids.alias(_IDS))
    empty_ids = pl.lit([], dtype=pl.List(pl.String))
    # The first tier that matched decides: curated ids, else the catch-all, else a fallback.
    chosen = pl.coalesce(
        pl.when(pl.col(_IDS).list.len() > 0).then(pl.col(_IDS)),
        *[
            pl.when(pl.col(f"_t{i}")).then(pl.lit([rule.id], dtype=pl.List(pl.String)))
            for i, rule in enumerate(lower)
        ],
        empty_ids,
    )
    return (
        tagged.join(curated_ids, on=_UA, how="left", nulls_equal=True)
        .with_columns(pl.col(_IDS).fill_null(empty_ids))
        .select(_UA, chosen.alias(RULE_ID))
        .explode(RULE_ID)
        .filter(pl.col(RULE_ID).is_not_null())
        .join(_rules_frame(ruleset), on=RULE_ID, how="left")
        .with_columns((pl.col(_RANK) == pl.col(_RANK).min().over(_UA)).alias(PRIMARY))
        .drop(_RANK)
    )


# --------------------------------------------------------------------------------------------
# Requests


def evaluate(requests: pl.LazyFrame, ruleset: RuleSet) -> pl.LazyFrame:
    """Match every rule against requests in the canonical schema (lazy in, lazy out).

    Returns one row per (client_ip, user_agent, rule_id) with the rule's category, `primary`
    (the user agent's most specific user-agent verdict; False for request-level rules), `hits`,
    and `first_seen`/`last_seen` in UTC.
    """
    columns = set(requests.collect_schema().names())
    out_cols = list(MATCH_SCHEMA)
    parts: list[pl.LazyFrame] = []

    ua_rules = [r for r in ruleset.rules if _ua_only(r)]
    if ua_rules:
        # Join and group on a 64-bit hash of the user agent rather than the string (PERF-NOTES:
        # 3-5 times cheaper); the hash never leaves this plan, so its instability across Polars
        # versions does not matter.
        ua_map = classify_user_agents(requests.select(_UA).unique(), ruleset).with_columns(
            pl.col(_UA).hash().alias(_HASH)
        )
        pairs = (
            requests.select(schema.CLIENT_IP, pl.col(_UA).hash().alias(_HASH), schema.TS)
            .join(ua_map.select(_HASH).unique(), on=_HASH, how="semi")
            .group_by(schema.CLIENT_IP, _HASH)
            .agg(
                pl.len().cast(pl.Int64).alias(HITS),
                pl.col(schema.TS).min().alias(schema.FIRST_SEEN),
                pl.col(schema.TS).max().alias(schema.LAST_SEEN),
            )
        )
        parts.append(pairs.join(ua_map, on=_HASH, how="inner").select(out_cols))

    row_rules = [r for r in ruleset.rules if r.match.has_request]
    if row_rules:
        flag_names = [f"_r{i}" for i in range(len(row_rules))]
        needed = sorted(
            {schema.CLIENT_IP, _UA, schema.TS}
            | {
                c.column
                for r in row_rules
                for c in rule_conditions(r, columns)
                if c.column in columns
            }
        )
        ids = pl.concat_list(
            [
                pl.when(pl.col(f)).then(pl.lit(r.id))
                for f, r in zip(flag_names, row_rules, strict=True)
            ]
        ).list.drop_nulls()
        rows = (
            requests.select(needed)
            .with_columns(
                [rule_expr(r, columns).alias(f) for f, r in zip(flag_names, row_rules, strict=True)]
            )
            .filter(pl.any_horizontal(flag_names))
            .select(schema.CLIENT_IP, _UA, schema.TS, ids.alias(RULE_ID))
            .explode(RULE_ID)
            .group_by(schema.CLIENT_IP, _UA, RULE_ID)
            .agg(
                pl.len().cast(pl.Int64).alias(HITS),
                pl.col(schema.TS).min().alias(schema.FIRST_SEEN),
                pl.col(schema.TS).max().alias(schema.LAST_SEEN),
            )
            .join(_rules_frame(ruleset).drop(_RANK), on=RULE_ID, how="left")
            .with_columns(pl.lit(False).alias(PRIMARY))
        )
        parts.append(rows.select(out_cols))

    if not parts:
        return pl.LazyFrame(schema=MATCH_SCHEMA)
    frames = [p.with_columns([pl.col(c).cast(t) for c, t in MATCH_SCHEMA.items()]) for p in parts]
    return pl.concat(frames, how="vertical")


def primary_categories(matches: pl.LazyFrame) -> pl.LazyFrame:
    """The primary verdict per user agent from evaluate's output: user_agent, rule_id, category."""
    return matches.filter(pl.col(PRIMARY)).select(_UA, RULE_ID, schema.CATEGORY).unique()


# --------------------------------------------------------------------------------------------
# Explanations (for `rules test`)


@dataclass(frozen=True)
class ConditionResult:
    """How one condition of a rule fared on one request."""

    field: str
    expected: str
    value: str | None
    ok: bool | None  # None: the input does not carry this field


@dataclass(frozen=True)
class Match:
    """A rule and how each of its conditions fared; `detail` names the catch-all pattern."""

    rule: Rule
    conditions: tuple[ConditionResult, ...]
    primary: bool = False
    detail: str | None = None

    @property
    def matched(self) -> bool:
        return bool(self.conditions) and all(c.ok is True for c in self.conditions)

    @property
    def partial(self) -> bool:
        """Nothing failed, something matched, and some conditions need fields the input lacks."""
        oks = [c.ok for c in self.conditions]
        return not self.matched and False not in oks and True in oks and None in oks


def classify_user_agent(ua: str, ruleset: RuleSet) -> list[Match]:
    """The rules a bare user agent matches, most specific first, each condition explained."""
    return explain({_UA: ua}, ruleset, present={_UA})


def explain(
    request: Mapping[str, object],
    ruleset: RuleSet,
    *,
    present: Collection[str] | None = None,
    include_partial: bool = False,
) -> list[Match]:
    """Evaluate every rule on one request (a mapping of canonical column names to values).

    `present` names the fields the input really carries (default: the mapping's keys); conditions
    on other fields are reported as not evaluable. Returns the matching rules, most specific
    first, plus with `include_partial` the rules that would match if the missing fields agreed.
    """
    present_cols = set(request) if present is None else set(present)
    frame_schema: dict[str, pl.DataType] = dict(schema.REQUEST_SCHEMA)
    frame_schema[schema.ASN] = pl.Int64()
    row = {c: [request.get(c)] for c in frame_schema}
    frame = pl.DataFrame(row, schema=frame_schema, strict=False)
    columns = set(frame_schema)

    plans: list[tuple[Rule, list[Condition]]] = [
        (r, rule_conditions(r, columns)) for r in ruleset.curated
    ]
    exprs = [
        c.expr.alias(f"c{i}_{j}") for i, (_, conds) in enumerate(plans) for j, c in enumerate(conds)
    ]
    values = frame.select(exprs).row(0, named=True) if exprs else {}

    results: list[tuple[int, Match]] = []
    ua_matched = False
    for i, (rule, conds) in enumerate(plans):
        crs = tuple(
            ConditionResult(
                field=c.field,
                expected=c.expected,
                value=_shown(request.get(c.column)) if c.column else None,
                ok=bool(values[f"c{i}_{j}"]) if c.column in present_cols else None,
            )
            for j, c in enumerate(conds)
        )
        match = Match(rule=rule, conditions=crs)
        if match.matched or (include_partial and match.partial):
            results.append((rule_rank(rule, ruleset.rules.index(rule)), match))
            if match.matched and _ua_only(rule):
                ua_matched = True

    ua_value = request.get(_UA)
    if not ua_matched and isinstance(ua_value, str) and _UA in present_cols:
        lower = _lower_tier_match(ua_value, ruleset)
        if lower is not None:
            results.append((rule_rank(lower.rule, ruleset.rules.index(lower.rule)), lower))
    results.sort(key=lambda t: t[0])
    first_primary = next(
        (i for i, (_, m) in enumerate(results) if m.matched and _ua_only(m.rule)), None
    )
    return [
        Match(rule=m.rule, conditions=m.conditions, primary=(i == first_primary), detail=m.detail)
        for i, (_, m) in enumerate(results)
    ]


def _lower_tier_match(ua: str, ruleset: RuleSet) -> Match | None:
    """The catch-all's match for `ua`, else the first fallback rule's, else None."""
    catchall = ruleset.catchall
    regex = catchall.match.ua_regex if catchall is not None else None
    if catchall is not None and regex and pl.select(pl.lit(ua).str.contains(regex)).item():
        pattern = catchall_pattern_for(ua, catchall)
        if pattern is not None:
            tags = ", ".join(pattern.tags) or "none"
            return Match(
                rule=catchall,
                conditions=(ConditionResult("user_agent", pattern.pattern, ua, True),),
                detail=f"crawler-user-agents pattern {pattern.pattern!r} (tags: {tags})",
            )
    for rule in ruleset.fallback:
        regex = rule.match.ua_regex
        if regex and rule.match.user_agent and pl.select(pl.lit(ua).str.contains(regex)).item():
            return Match(
                rule=rule,
                conditions=(ConditionResult("user_agent", rule.match.user_agent, ua, True),),
            )
    return None


def catchall_pattern_for(ua: str, catchall: Rule) -> CatchallPattern | None:
    """The first crawler-user-agents pattern of the catch-all that matches `ua`, or None."""
    if not catchall.catchall:
        return None
    frame = pl.DataFrame({"p": [p.pattern for p in catchall.catchall]})
    hits = frame.select(
        pl.lit(ua).str.contains(pl.col("p"), strict=False).fill_null(False).alias("hit")
    )["hit"]
    for pattern, hit in zip(catchall.catchall, hits.to_list(), strict=True):
        if hit:
            return pattern
    return None


def _shown(value: object) -> str | None:
    return None if value is None else str(value)
