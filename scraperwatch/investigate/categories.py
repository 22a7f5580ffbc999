"""Investigation stage: verdicts over a window, and the category of every client and agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.console import Reporter
from scraperwatch.investigate.source import QueryError
from scraperwatch.schema import Category

if TYPE_CHECKING:
    from scraperwatch.detect.rulefile import RuleSet
    from scraperwatch.pipeline import Context, ScanResult


AGENT: Final = "agent"  # the token (or title) of the user-agent rule that names a client
RULE_ID: Final = "rule_id"
RULE_CATEGORY: Final = "rule_category"
# The category of requests no rule and no verdict names, and that claim no browser.
UNCLASSIFIED: Final = "unclassified"
CATEGORY_CHOICES: Final = (*(c.value for c in Category), UNCLASSIFIED)

# --------------------------------------------------------------------------------------------
# Verdicts and categories over the window


@dataclass
class Judged:
    """The scan's verdicts over a window, and the category of every (client, user agent) pair."""

    result: ScanResult
    # CLIENT_IP, USER_AGENT, REQUESTS, BYTES, RULE_ID, AGENT, RULE_CATEGORY, CATEGORY
    pairs: pl.DataFrame


def rule_pairs(frame: pl.LazyFrame, ruleset: RuleSet) -> pl.DataFrame:
    """Per (client, user agent): requests, bytes, and the rule that names it.

    The rule is the user agent's primary (most specific) user-agent rule, else the worst
    request-level rule that matched; AGENT is the primary rule's token or title.
    """
    from scraperwatch.detect import match
    from scraperwatch.detect.verdicts import rank

    pairs_plan = frame.group_by(s.CLIENT_IP, s.USER_AGENT).agg(
        pl.len().cast(pl.Int64).alias(s.REQUESTS),
        pl.col(s.BYTES_SENT).sum().cast(pl.Int64).alias(s.BYTES),
    )
    pairs, hits = pl.collect_all([pairs_plan, match.evaluate(frame, ruleset)], engine="streaming")
    worst = {c.value: rank(c) for c in Category}
    labels = {r.id: r.token or r.title for r in ruleset.rules}
    best = (
        hits.with_columns(pl.col(s.CATEGORY).replace_strict(worst, default=99).alias("_rank"))
        .sort(["_rank", match.RULE_ID])
        .sort(match.PRIMARY, descending=True, maintain_order=True)
        .group_by(s.CLIENT_IP, s.USER_AGENT, maintain_order=True)
        .agg(
            pl.col(match.RULE_ID).first().alias(RULE_ID),
            pl.col(s.CATEGORY).first().alias(RULE_CATEGORY),
            pl.col(match.PRIMARY).first().alias("_primary"),
        )
    )
    return (
        pairs.join(best, on=[s.CLIENT_IP, s.USER_AGENT], how="left", nulls_equal=True)
        .with_columns(
            pl.when(pl.col("_primary"))
            .then(pl.col(RULE_ID).replace_strict(labels, default=None, return_dtype=pl.String))
            .alias(AGENT)
        )
        .drop("_primary")
    )


def verdict_categories(pairs: pl.DataFrame, offenders: pl.DataFrame) -> pl.DataFrame:
    """Add CATEGORY: the client's verdict, else the pair's rule, else browser or unclassified."""
    from scraperwatch.detect.match import ip_in_networks

    verdict: pl.Expr = pl.lit(None, pl.String)
    by_address = offenders.filter(pl.col(s.SCOPE) == "address")
    if by_address.height:
        mapping = dict(zip(by_address[s.IP], by_address[s.CATEGORY], strict=True))
        verdict = pl.col(s.CLIENT_IP).replace_strict(mapping, default=None, return_dtype=pl.String)
    for row in offenders.filter(pl.col(s.SCOPE) != "address").iter_rows(named=True):
        if "/" in row[s.IP]:
            inside = ip_in_networks(s.CLIENT_IP, [row[s.IP]])
            verdict = pl.coalesce(verdict, pl.when(inside).then(pl.lit(row[s.CATEGORY])))
    category = pl.coalesce(
        verdict,
        pl.col(RULE_CATEGORY),
        pl.when(pl.col(s.USER_AGENT).str.starts_with("Mozilla/")).then(
            pl.lit(Category.BROWSER.value)
        ),
        pl.lit(UNCLASSIFIED),
    )
    return pairs.with_columns(category.alias(s.CATEGORY))


def judge_window(frame: pl.LazyFrame, ctx: Context, *, reporter: Reporter | None = None) -> Judged:
    """Run the scan's judge over the frame, and categorise every (client, user agent) pair."""
    from scraperwatch.pipeline import judge

    result = judge(frame, ctx, reporter=reporter)
    pairs = verdict_categories(rule_pairs(frame, ctx.ruleset), result.offenders)
    return Judged(result, pairs)


def check_category(category: str) -> str:
    if category not in CATEGORY_CHOICES:
        raise QueryError(
            f"--category {category!r} is no category; use one of {', '.join(CATEGORY_CHOICES)}"
        )
    return category


def in_category(frame: pl.LazyFrame, pairs: pl.DataFrame, category: str) -> pl.LazyFrame:
    """The requests whose (client, user agent) pair falls in the category."""
    keep = pairs.filter(pl.col(s.CATEGORY) == check_category(category)).select(
        s.CLIENT_IP, s.USER_AGENT
    )
    return frame.join(keep.lazy(), on=[s.CLIENT_IP, s.USER_AGENT], how="semi", nulls_equal=True)


def with_category(frame: pl.LazyFrame, pairs: pl.DataFrame) -> pl.LazyFrame:
    """Each request with its pair's CATEGORY (and AGENT)."""
    return frame.join(
        pairs.lazy().select(s.CLIENT_IP, s.USER_AGENT, s.CATEGORY, AGENT),
        on=[s.CLIENT_IP, s.USER_AGENT],
        how="left",
        nulls_equal=True,
    ).with_columns(pl.col(s.CATEGORY).fill_null(UNCLASSIFIED))
