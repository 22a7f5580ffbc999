"""The scan pipeline: logs -> requests -> features -> rules, verification, heuristics -> verdicts.

`run_scan` never prints: progress goes to the Reporter, results come back as a ScanResult.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from scraperwatch import schema as s
from scraperwatch.console import NullReporter, Reporter
from scraperwatch.detect import features as f
from scraperwatch.detect import heuristics as h
from scraperwatch.detect import robots as rb
from scraperwatch.detect import verdicts as v
from scraperwatch.detect.match import evaluate, ip_in_networks
from scraperwatch.detect.policy import Policy, load_policy
from scraperwatch.detect.rangefiles import Origin
from scraperwatch.detect.ranges import RangeSet, load_ranges
from scraperwatch.detect.rulefile import RuleSet, load_ruleset
from scraperwatch.enrich import Enricher
from scraperwatch.exporters.tokens import is_token
from scraperwatch.reader import FileReport, ReadOptions, open_logs
from scraperwatch.schema import Category
from scraperwatch.store import PARQUET_WRITE


@dataclass(frozen=True)
class ScanSettings:
    logs: tuple[str, ...] = ()
    read: ReadOptions = field(default_factory=ReadOptions)
    rules_dirs: tuple[Path, ...] = ()
    policy: str | None = None
    allow_private: bool = True
    allowlist: tuple[str, ...] = ()  # extra addresses/CIDRs that are never offenders
    ranges: tuple[Path, ...] = ()
    robots: Path | None = None
    canary: tuple[str, ...] = ()
    asn_db: Path | None = None
    geo_db: Path | None = None
    thresholds: h.Thresholds = field(default_factory=h.Thresholds)
    # A "spoofed" verdict from ranges older than this is watched, not blocked: the operator
    # may have added the address since (docs/ranges.md). Override files count as fresh.
    ranges_max_age_days: int = 30


@dataclass
class Context:
    """What judging needs, loaded once."""

    ruleset: RuleSet
    policy: Policy
    ranges: RangeSet
    robots: rb.Robots | None
    enricher: Enricher
    settings: ScanSettings

    @classmethod
    def load(cls, settings: ScanSettings) -> Context:
        return cls(
            ruleset=load_ruleset(settings.rules_dirs),
            policy=load_policy(
                settings.policy, allow_private=settings.allow_private, extra=settings.allowlist
            ),
            ranges=load_ranges(settings.ranges),
            robots=rb.Robots.load(settings.robots) if settings.robots else None,
            enricher=Enricher(settings.asn_db, settings.geo_db),
            settings=settings,
        )


@dataclass
class ScanResult:
    offenders: pl.DataFrame  # OFFENDER_SCHEMA, most harmful first
    summary: pl.DataFrame  # requests and bytes by category
    reports: list[FileReport] = field(default_factory=list)
    rejected: pl.DataFrame = field(default_factory=lambda: s.empty_rejected().collect())
    requests: int = 0
    ruleset_digest: str = ""
    agent_tokens: tuple[str, ...] = ()  # tokens of every blocked agent rule (for exports)
    # Networks no export may block, whatever a verdict says: the policy's allowlist and the
    # published ranges of crawlers the policy allows (search engines).
    never_block: tuple[str, ...] = ()


def rule_infos(ruleset: RuleSet) -> dict[str, v.RuleInfo]:
    out = {}
    for rule in ruleset.rules:
        out[rule.id] = v.RuleInfo(
            id=rule.id,
            title=rule.title,
            category=Category(rule.category),
            action=None if rule.action is None else s.Action(rule.action),
            token=getattr(rule, "token", None),
            operator=getattr(rule, "operator", None),
            clause=getattr(rule, "clause", None),
        )
    return out


def blocked_tokens(ruleset: RuleSet, policy: Policy) -> tuple[str, ...]:
    """Tokens of the declared-crawler rules whose category the policy blocks (UA blocks, robots.txt)."""
    tokens = set()
    for rule in ruleset.rules:
        token = getattr(rule, "token", None)
        if not token:
            continue
        cat = Category(rule.category)
        action = rule.action or policy.action_for(cat)
        # Only self-declared crawlers are blocked by user agent everywhere: a generic tool's
        # user agent (curl, python-requests) is also the admin's own monitoring and scripts.
        if s.Action(action) is s.Action.BLOCK and cat in v.DECLARED and is_token(token):
            tokens.add(token)
    return tuple(sorted(tokens, key=str.lower))


def never_block(ruleset: RuleSet, policy: Policy, ranges: RangeSet) -> tuple[str, ...]:
    """The policy's allowlist plus the published ranges of every crawler the policy allows."""
    allowed_ops = {
        rule.verify
        for rule in ruleset.rules
        if rule.verify
        and s.Action(rule.action or policy.action_for(Category(rule.category))) is s.Action.ALLOW
    }
    nets = set(policy.networks)
    for op in ranges:
        if op.operator in allowed_ops:
            nets.update(op.prefixes)
    return tuple(sorted(nets))


def judge(requests: pl.LazyFrame, ctx: Context, *, reporter: Reporter | None = None) -> ScanResult:
    """Judge a frame of canonical requests (a Parquet scan or the store) into offenders."""
    rep = reporter or NullReporter()
    st = ctx.settings
    t = st.thresholds
    rules = rule_infos(ctx.ruleset)
    clients, agents, hits = pl.collect_all(
        [
            f.client_features(requests, canary=st.canary),
            f.agent_pairs(requests),
            evaluate(requests, ctx.ruleset),
        ],
        engine="streaming",
    )
    # Per (client, UA): the most specific rule category; browsers are UAs no rule matched.
    pair_cat = _pair_categories(agents, hits, rules)
    if clients.is_empty():
        return ScanResult(
            offenders=s.empty_offenders(),
            summary=_summary(pair_cat, {}),
            ruleset_digest=ctx.ruleset.digest,
            agent_tokens=blocked_tokens(ctx.ruleset, ctx.policy),
            never_block=never_block(ctx.ruleset, ctx.policy, ctx.ranges),
        )
    rep.note(f"judging {clients.height} client addresses")
    browser_requests = (
        pair_cat.filter(pl.col("_cat").is_null() & pl.col(s.USER_AGENT).str.starts_with("Mozilla/"))
        .group_by(s.CLIENT_IP)
        .agg(pl.col(f.F_REQUESTS).sum().alias("_browser"))
    )
    clients = clients.join(browser_requests, on=s.CLIENT_IP, how="left").with_columns(
        pl.col("_browser").fill_null(0)
    )
    browser_like = pl.col("_browser") * 2 >= pl.col(f.F_REQUESTS)

    # Claimed operators (Googlebot, GPTBot ...) checked against their published ranges.
    verification = _verify(agents, ctx.ranges)

    # robots.txt compliance, for the clients that are not browsers or that read robots.txt,
    # leaving out those of an allowed kind only (federation, verified search engines ...):
    # their verdict does not depend on it, and they are most of the non-browser traffic.
    if ctx.robots is not None:
        allowed_only = (
            pair_cat.group_by(s.CLIENT_IP)
            .agg(pl.col("_cat").is_in([c.value for c in v.ALLOWED_KINDS]).all().alias("_ok"))
            .filter(pl.col("_ok"))[s.CLIENT_IP]
        )
        suspects = clients.filter(
            (~browser_like | (pl.col(f.F_ROBOTS) > 0))
            & ~pl.col(s.CLIENT_IP).is_in(allowed_only.implode())
        )[s.CLIENT_IP]
        rows = (
            requests.filter(pl.col(s.CLIENT_IP).is_in(suspects.implode()))
            .select(s.CLIENT_IP, s.USER_AGENT, s.TS, s.PATH, s.QUERY)
            .collect(engine="streaming")
        )
        comp = rb.compliance(rows, ctx.robots)
        per_client = comp.group_by(s.CLIENT_IP).agg(
            pl.col(rb.R_DISALLOWED).sum(),
            pl.col(rb.R_DISALLOWED_ANY).sum(),
            pl.col(rb.R_SAMPLE).drop_nulls().first(),
            pl.col(rb.R_CRAWL_DELAY).max(),
            pl.col(rb.R_MEDIAN_GAP).min(),
        )
        clients = clients.join(per_client, on=s.CLIENT_IP, how="left")

    # Sequential id walks, for the clients with enough object requests to make one.
    many = clients.filter(pl.col(f.F_REQUESTS) >= t.id_enumeration)[s.CLIENT_IP]
    if many.len():
        walks = f.id_enumeration(requests, many).collect(engine="streaming")
        clients = clients.join(walks, on=s.CLIENT_IP, how="left")
    clients = h.behaviour_signals(clients, t, browser_like=browser_like)
    rule_hits = hits.group_by(s.CLIENT_IP, "rule_id").agg(pl.col("hits").sum())
    facts = v.facts_frame_to_objects(clients, agents, rule_hits, verification)
    stale = stale_operators(ctx.ranges, st.ranges_max_age_days)
    rows_out: list[dict[str, Any]] = []
    for fact in facts:
        top_ua = fact.agents[0][0] if fact.agents else None
        if ctx.policy.is_allowlisted(fact.ip, top_ua):
            continue
        row = v.judge_client(fact, rules, policy=ctx.policy, thresholds=t, stale=stale)
        if row is not None:
            rows_out.append(row)

    # One behaviour spread over a prefix (its addresses judged alone or not); clients of an
    # allowed kind (federation, verified search engines ...) never count towards it.
    allowed_ips = set(
        pair_cat.filter(pl.col("_cat").is_in([c.value for c in v.ALLOWED_KINDS]))[s.CLIENT_IP]
    )
    pool = clients.filter(~pl.col(s.CLIENT_IP).is_in(list(allowed_ips)))
    pool = pool.filter(~ip_in_networks(s.CLIENT_IP, ctx.policy.networks))
    rows_out.extend(_distributed(pool, agents, ctx, browser_like))

    offenders = v.offenders_frame(rows_out)
    offenders = _top_paths(offenders, requests)
    offenders = _enrich(offenders, ctx.enricher)
    categories = {r[s.IP]: r[s.CATEGORY] for r in rows_out if r[s.SCOPE] == "address"}
    return ScanResult(
        offenders=offenders,
        summary=_summary(pair_cat, categories),
        requests=int(clients[f.F_REQUESTS].sum()),
        ruleset_digest=ctx.ruleset.digest,
        agent_tokens=blocked_tokens(ctx.ruleset, ctx.policy),
        never_block=never_block(ctx.ruleset, ctx.policy, ctx.ranges),
    )


def stale_operators(ranges: RangeSet, max_age_days: int) -> dict[str, str]:
    """Operators whose shipped or updated ranges are too old to call an address spoofed."""
    out = {}
    for r in ranges:
        if r.origin == Origin.OVERRIDE or not r.prefixes:
            continue
        age = r.age_days()
        if age is None or age > max_age_days:
            when = f"fetched {r.fetched}, {age} days ago" if age is not None else "never fetched"
            out[r.operator] = when
    return out


def _pair_categories(
    agents: pl.DataFrame, hits: pl.DataFrame, rules: dict[str, v.RuleInfo]
) -> pl.DataFrame:
    ranks = {rid: v.rank(info.category) for rid, info in rules.items()}
    cats = {rid: info.category.value for rid, info in rules.items()}
    best = (
        hits.select(s.CLIENT_IP, s.USER_AGENT, "rule_id")
        .with_columns(pl.col("rule_id").replace_strict(ranks, default=99).alias("_rank"))
        .sort("_rank")
        .group_by(s.CLIENT_IP, s.USER_AGENT)
        .agg(pl.col("rule_id").first())
        .with_columns(pl.col("rule_id").replace_strict(cats, default=None).alias("_cat"))
    )
    return agents.join(best, on=[s.CLIENT_IP, s.USER_AGENT], how="left", nulls_equal=True)


def _verify(agents: pl.DataFrame, ranges: RangeSet) -> pl.DataFrame:
    out_schema = {
        s.CLIENT_IP: pl.String,
        "operator": pl.String,
        "status": pl.String,
        "detail": pl.String,
    }
    uas = agents.select(s.USER_AGENT).unique().drop_nulls()
    if uas.is_empty():
        return pl.DataFrame(schema=out_schema)
    claimed = uas.with_columns(ranges.claimed_operator(uas[s.USER_AGENT]).alias(s.CLAIMED_OPERATOR))
    claims = (
        agents.join(claimed.drop_nulls(), on=s.USER_AGENT)
        .select(s.CLIENT_IP, s.CLAIMED_OPERATOR)
        .unique()
    )
    if claims.is_empty():
        return pl.DataFrame(schema=out_schema)
    checked = ranges.verify(claims)
    return checked.select(
        pl.col(s.CLIENT_IP),
        pl.col(s.CLAIMED_OPERATOR).alias("operator"),
        pl.col("verification").cast(pl.String).alias("status"),
        pl.col("verification_detail").alias("detail"),
    )


def _distributed(
    pool: pl.DataFrame, agents: pl.DataFrame, ctx: Context, browser_like: pl.Expr
) -> list[dict[str, Any]]:
    """Prefix offenders for one behaviour spread over many addresses.

    IPv6 is looked at by /64 first (one host's addresses), then by /48; IPv4 by /24. With an
    ASN database, addresses of one AS spread over several prefixes are looked at together, but
    only where they claim to be browsers (a declared bot does not hide): each prefix that
    holds such addresses becomes an offender, with the AS-wide figures as evidence.
    """
    t = ctx.settings.thresholds
    rows: list[dict[str, Any]] = []
    covered: set[str] = set()
    for v6_bits in (64, 48):
        found = h.distributed_crawls(
            f.prefix_features(
                pool.filter(~pl.col(s.CLIENT_IP).is_in(list(covered))), v6_bits=v6_bits
            ),
            t,
        )
        if v6_bits == 64:  # the /64 pass is for IPv6 only; IPv4 is judged by /24 below
            found = found.filter(pl.col(f.F_PREFIX).str.contains(":"))
        for pre in found.iter_rows(named=True):
            rows.append(_prefix_row(pre, agents, ctx.policy))
            covered.update(pre["members"])
    if ctx.enricher.has_asn:
        rest = pool.filter(~pl.col(s.CLIENT_IP).is_in(list(covered)) & browser_like)
        asns = ctx.enricher.asns(rest[s.CLIENT_IP].to_list())
        keyed = rest.with_columns(
            pl.col(s.CLIENT_IP)
            .replace_strict(asns, default=None, return_dtype=pl.Int64)
            .alias("_asn")
        )
        by_asn = h.distributed_crawls(
            f.prefix_features(keyed, key=pl.col("_asn")), t, min_pages_factor=2
        )
        for group in by_asn.iter_rows(named=True):
            members = group["members"]
            place = ctx.enricher.lookup(members[0])
            note = h.evidence_struct(
                "heuristic",
                "ASN-DISTRIBUTED",
                f"{group['clients']} addresses of AS{group[f.F_PREFIX]} ({place.as_org or '?'}) "
                f"with browser user agents fetched {group[f.F_PAGES]} pages and "
                f"{group[f.F_ASSETS]} assets",
                float(group["clients"]),
                float(t.prefix_min_clients),
            )
            parts = f.prefix_features(keyed.filter(pl.col(s.CLIENT_IP).is_in(members)))
            for pre in parts.iter_rows(named=True):
                row = _prefix_row({**pre, h.SIGNALS: [note]}, agents, ctx.policy)
                row[s.RULES] = ["ASN-DISTRIBUTED"]
                row[s.WHY] = (
                    f"Distributed crawl across AS{group[f.F_PREFIX]}: {pre['clients']} of its "
                    f"{group['clients']} addresses are in {pre[f.F_PREFIX]}."
                )
                rows.append(row)
    return rows


def _prefix_row(pre: dict[str, Any], agents: pl.DataFrame, policy: Policy) -> dict[str, Any]:
    members = pre["members"]
    uas = (
        agents.filter(pl.col(s.CLIENT_IP).is_in(members))
        .group_by(s.USER_AGENT)
        .agg(pl.col(f.F_REQUESTS).sum())
        .sort(f.F_REQUESTS, descending=True)
    )
    evidence = [
        *list(pre[h.SIGNALS]),
        h.evidence_struct(
            "heuristic",
            "PREFIX-MEMBERS",
            f"addresses: {', '.join(members[:20])}" + (" ..." if len(members) > 20 else ""),
            float(len(members)),
        ),
    ]
    return {
        s.IP: pre[f.F_PREFIX],
        s.SCOPE: "prefix",
        s.CATEGORY: Category.SCRAPER.value,
        s.ACTION: s.Action(policy.action_for(Category.SCRAPER)).value,
        s.CONFIDENCE: 0.8,
        s.RULES: ["PREFIX-DISTRIBUTED"],
        s.TOKENS: [],
        s.REQUESTS: pre[f.F_REQUESTS],
        s.BYTES: pre[f.F_BYTES] or 0,
        s.FIRST_SEEN: pre[f.F_FIRST],
        s.LAST_SEEN: pre[f.F_LAST],
        s.USER_AGENTS: [u or "" for u in uas[s.USER_AGENT].head(v.TOP_N).to_list()],
        s.PATHS: [],
        s.EVIDENCE: evidence,
        s.WHY: (
            f"Distributed crawl: {pre['clients']} addresses of {pre[f.F_PREFIX]} fetched "
            f"{pre[f.F_PAGES]} pages and no assets, each under the per-address limits."
        ),
        s.CLAUSE: policy.clause_for(Category.SCRAPER),
        s.ASN: None,
        s.AS_ORG: None,
        s.COUNTRY: None,
    }


def _top_paths(offenders: pl.DataFrame, requests: pl.LazyFrame) -> pl.DataFrame:
    """The most requested paths of each address offender (prefix offenders: of its members)."""
    addrs = offenders.filter(pl.col(s.SCOPE) == "address")[s.IP]
    if addrs.is_empty():
        return offenders
    top = (
        requests.filter(pl.col(s.CLIENT_IP).is_in(addrs.implode()))
        .group_by(s.CLIENT_IP, s.PATH)
        .len()
        .sort(["len", s.PATH], descending=[True, False])
        .group_by(s.CLIENT_IP)
        .agg(pl.col(s.PATH).head(v.TOP_N).alias("_paths"))
        .collect(engine="streaming")
    )
    return (
        offenders.join(top, left_on=s.IP, right_on=s.CLIENT_IP, how="left", maintain_order="left")
        .with_columns(pl.coalesce(pl.col("_paths"), pl.col(s.PATHS)).alias(s.PATHS))
        .drop("_paths")
    )


def _enrich(offenders: pl.DataFrame, enricher: Enricher) -> pl.DataFrame:
    if not enricher.active or offenders.is_empty():
        return offenders
    places = enricher.lookup_many(offenders[s.IP].to_list())
    return offenders.with_columns(
        pl.Series(s.ASN, [places[i].asn for i in offenders[s.IP]], dtype=pl.Int64),
        pl.Series(s.AS_ORG, [places[i].as_org for i in offenders[s.IP]], dtype=pl.String),
        pl.Series(s.COUNTRY, [places[i].country for i in offenders[s.IP]], dtype=pl.String),
    )


def _summary(pairs: pl.DataFrame, offender_categories: dict[str, str]) -> pl.DataFrame:
    """Requests and bytes by category: an offender's verdict, else its rule, else browser/other.

    `pairs` is the (client, user agent) frame with its rule category (`_pair_categories`).
    """
    cat = pl.coalesce(
        pl.col(s.CLIENT_IP).replace_strict(
            offender_categories, default=None, return_dtype=pl.String
        ),
        pl.col("_cat"),
        pl.when(pl.col(s.USER_AGENT).str.starts_with("Mozilla/")).then(pl.lit("browser")),
        pl.lit("unclassified"),
    )
    return (
        pairs.with_columns(cat.alias(s.CATEGORY))
        .group_by(s.CATEGORY)
        .agg(
            pl.col(f.F_REQUESTS).sum().alias("requests"),
            pl.col(s.BYTES_SENT).sum().alias("bytes"),
            pl.col(s.CLIENT_IP).n_unique().alias("clients"),
        )
        .sort("requests", descending=True)
    )


def run_scan(
    settings: ScanSettings,
    *,
    reporter: Reporter | None = None,
    extra_work: Callable[[pl.LazyFrame], Sequence[pl.LazyFrame]] | None = None,
) -> ScanResult:
    """Read the logs once into a temporary Parquet file, then judge it."""
    rep = reporter or NullReporter()
    ctx = Context.load(settings)
    logs = open_logs(settings.logs, settings.read, reporter=rep)
    tmpdir = Path(tempfile.mkdtemp(prefix="scraperwatch-scan-"))
    try:
        part = tmpdir / "requests.parquet"

        def work(requests: pl.LazyFrame) -> list[pl.LazyFrame]:
            plans = [requests.sink_parquet(part, lazy=True, **PARQUET_WRITE)]
            if extra_work:
                plans.extend(extra_work(requests))
            return plans

        _, rejected = logs.run(work, reporter=rep)
        result = judge(pl.scan_parquet(part, glob=False), ctx, reporter=rep)
        result.reports = logs.reports
        result.rejected = rejected
        return result
    finally:
        logs.cleanup()
        ctx.enricher.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
