"""Behaviour heuristics: each a threshold over client features, kept as evidence with its figures.

A single behaviour signal proves little (a text browser fetches no assets, an office behind
one address browses fast), so a behaviour verdict needs `signals_needed` signals, or one of
the strong ones: a honeypot hit, a claimed crawler from outside its operator's ranges, or
disallowed paths fetched right after reading robots.txt.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.detect import features as f
from scraperwatch.detect import robots as r

SIGNALS: Final = "signals"  # list of evidence structs
STRONG: Final = "strong_signals"  # how many of them are strong


@dataclass(frozen=True)
class Thresholds:
    """Every number a heuristic judges by; each is a key of `[thresholds]` in the config."""

    peak_per_minute: int = 90  # requests other than assets in one minute
    peak_per_10s: int = 30  # requests other than assets in ten seconds
    peak_pages_per_minute: int = 20  # documents opened in one minute: nobody reads that fast
    sustained_per_hour: float = 300.0  # requests per active hour, over >= 3 hours
    no_assets_min_pages: int = 20  # pages before the asset share is judged
    no_assets_max_share: float = 0.05  # assets per page below this: not a browser
    breadth_min_paths: int = 150  # distinct paths ...
    breadth_unique_share: float = 0.85  # ... mostly requested once
    pagination_walk: int = 15  # paginated listing requests with max_id/min_id/since_id/page
    auth_errors: int = 20  # 401/403 responses ...
    rate_limited: int = 10  # 429 responses (Mastodon's rack-attack)
    error_share: float = 0.5  # ... making up at least this share of its requests
    not_found_burst: int = 20  # 404 responses making up error_share
    api_only: int = 10  # API requests by a browser UA that loads no page, no asset, no Referer
    ua_rotation_min: int = 8  # distinct user agents from one address ...
    ua_rotation_max_per_ua: float = 4.0  # ... each used for few requests
    robots_disallowed: int = 1  # disallowed requests after reading robots.txt
    robots_disallowed_unread: int = 10  # disallowed requests by a bot that never read it
    tool_min_requests: int = 5  # requests before a tool UA alone (curl, requests) is blocked
    prefix_min_clients: int = 6  # addresses of one /24 or /48 crawling together ...
    prefix_min_pages: int = 40  # ... fetching this many pages in all ...
    prefix_max_asset_share: float = 0.05  # ... with hardly any assets
    id_enumeration: int = 20  # consecutive object ids (…/41, …/42, …/43) walked one by one
    signals_needed: int = 2

    @classmethod
    def from_mapping(cls, values: dict[str, Any], *, where: str) -> Thresholds:
        from scraperwatch.errors import ConfigError

        known = {x.name: x.type for x in fields(cls)}
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"{where}: unknown threshold `{key}`; known: {', '.join(sorted(known))}"
                )
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"{where}: threshold `{key}` must be a number, not {value!r}")
            out[key] = value
        return cls(**out)


def _sig(ident: str, detail: pl.Expr, value: pl.Expr, threshold: float) -> pl.Expr:
    return pl.struct(
        pl.lit("heuristic").alias("source"),
        pl.lit(ident).alias("id"),
        detail.alias("detail"),
        value.cast(pl.Float64).alias("value"),
        pl.lit(float(threshold)).alias("threshold"),
    )


def _fmt(template: str, *cols: pl.Expr) -> pl.Expr:
    return pl.format(template, *cols)


# Signals whose single occurrence is enough for a verdict.
STRONG_IDS: Final = frozenset({"CANARY-HIT", "ROBOTS-DISALLOWED", "VERIFY-SPOOFED"})


def behaviour_signals(
    clients: pl.DataFrame, t: Thresholds, *, browser_like: pl.Expr
) -> pl.DataFrame:
    """Add SIGNALS (evidence structs of the heuristics that fired) to client features.

    `browser_like` is true for clients whose user agents claim a browser: the asset check
    applies only to them (a declared bot fetching no assets is no news).
    """
    c = pl.col
    share_assets = c(f.F_ASSETS) / pl.max_horizontal(c(f.F_PAGES), pl.lit(1))
    unique_share = c(f.F_URLS) / pl.max_horizontal(c(f.F_REQUESTS) - c(f.F_ASSETS), pl.lit(1))
    per_hour = c(f.F_REQUESTS) / pl.max_horizontal(c(f.F_HOURS), pl.lit(1))
    per_ua = c(f.F_REQUESTS) / pl.max_horizontal(c(f.F_UAS), pl.lit(1))
    errors = c(f.F_AUTH_ERRORS) + c(f.F_RATE_LIMITED)
    rules: list[tuple[pl.Expr, pl.Expr]] = [
        (
            c(f.F_PEAK_MINUTE) >= t.peak_per_minute,
            _sig(
                "RATE-PEAK-MINUTE",
                _fmt("{} requests in one minute", c(f.F_PEAK_MINUTE)),
                c(f.F_PEAK_MINUTE),
                t.peak_per_minute,
            ),
        ),
        (
            c(f.F_PEAK_PAGES_MINUTE) >= t.peak_pages_per_minute,
            _sig(
                "RATE-PAGES-MINUTE",
                _fmt("{} pages opened in one minute", c(f.F_PEAK_PAGES_MINUTE)),
                c(f.F_PEAK_PAGES_MINUTE),
                t.peak_pages_per_minute,
            ),
        ),
        (
            c(f.F_PEAK_10S) >= t.peak_per_10s,
            _sig(
                "RATE-PEAK-10S",
                _fmt("{} requests in ten seconds", c(f.F_PEAK_10S)),
                c(f.F_PEAK_10S),
                t.peak_per_10s,
            ),
        ),
        (
            (per_hour >= t.sustained_per_hour) & (c(f.F_HOURS) >= 3),
            _sig(
                "RATE-SUSTAINED",
                _fmt(
                    "{} requests an hour over {} hours",
                    per_hour.round(0).cast(pl.Int64),
                    c(f.F_HOURS),
                ),
                per_hour,
                t.sustained_per_hour,
            ),
        ),
        (
            browser_like
            & (c(f.F_PAGES) >= t.no_assets_min_pages)
            & (share_assets < t.no_assets_max_share),
            _sig(
                "BEHAV-NO-ASSETS",
                _fmt(
                    "{} pages with {} assets: a browser UA that loads no CSS, JS or images",
                    c(f.F_PAGES),
                    c(f.F_ASSETS),
                ),
                share_assets,
                t.no_assets_max_share,
            ),
        ),
        (
            (c(f.F_PATHS) >= t.breadth_min_paths) & (unique_share >= t.breadth_unique_share),
            _sig(
                "BEHAV-BREADTH",
                _fmt(
                    "{} distinct paths, {}% of URLs requested once",
                    c(f.F_PATHS),
                    (unique_share * 100).round(0).cast(pl.Int64),
                ),
                c(f.F_PATHS),
                t.breadth_min_paths,
            ),
        ),
        (
            c(f.F_PAGINATION) >= t.pagination_walk,
            _sig(
                "BEHAV-PAGINATION-WALK",
                _fmt(
                    "{} paginated listing requests (max_id/min_id/since_id/page)", c(f.F_PAGINATION)
                ),
                c(f.F_PAGINATION),
                t.pagination_walk,
            ),
        ),
        (
            # The web UI loads a page and its assets, and its API calls carry a Referer; web
            # clients on other origins (Elk, Phanpy) send their own origin as Referer.
            browser_like
            & (c(f.F_API) >= t.api_only)
            & (c(f.F_PAGES) + c(f.F_ASSETS) == 0)
            & (c(f.F_NO_REFERER) >= 0.9 * c(f.F_REQUESTS)),
            _sig(
                "BEHAV-API-ONLY",
                _fmt(
                    "a browser UA that made {} API requests without a Referer and loaded no page",
                    c(f.F_API),
                ),
                c(f.F_API),
                t.api_only,
            ),
        ),
        (
            ((c(f.F_AUTH_ERRORS) >= t.auth_errors) | (c(f.F_RATE_LIMITED) >= t.rate_limited))
            & (errors >= t.error_share * c(f.F_REQUESTS)),
            _sig(
                "ERR-AUTH-CLUSTER",
                _fmt(
                    "{} responses 401/403 and {} responses 429 of {} requests",
                    c(f.F_AUTH_ERRORS),
                    c(f.F_RATE_LIMITED),
                    c(f.F_REQUESTS),
                ),
                errors,
                t.auth_errors,
            ),
        ),
        (
            (c(f.F_NOT_FOUND) >= t.not_found_burst)
            & (c(f.F_NOT_FOUND) >= t.error_share * c(f.F_REQUESTS)),
            _sig(
                "ERR-404-BURST",
                _fmt("{} responses 404 of {} requests", c(f.F_NOT_FOUND), c(f.F_REQUESTS)),
                c(f.F_NOT_FOUND),
                t.not_found_burst,
            ),
        ),
        (
            (c(f.F_UAS) >= t.ua_rotation_min)
            & (per_ua <= t.ua_rotation_max_per_ua)
            & (share_assets < t.no_assets_max_share),
            _sig(
                "UA-ROTATION",
                _fmt(
                    "{} user agents from one address, {} requests each on average, no assets",
                    c(f.F_UAS),
                    per_ua.round(1),
                ),
                c(f.F_UAS),
                t.ua_rotation_min,
            ),
        ),
        (
            c(f.F_CANARY) > 0,
            _sig(
                "CANARY-HIT",
                _fmt("{} requests for a honeypot path linked nowhere", c(f.F_CANARY)),
                c(f.F_CANARY),
                1,
            ),
        ),
        (
            browser_like
            & (c(f.F_HEADERS_LOGGED) >= 10)
            & (c(f.F_SEC_FETCH) == 0)
            & (c(f.F_PAGES) >= t.no_assets_min_pages),
            _sig(
                "HDR-NO-SEC-FETCH",
                _fmt(
                    "a browser UA that sent no Sec-Fetch-* header in {} requests",
                    c(f.F_HEADERS_LOGGED),
                ),
                c(f.F_HEADERS_LOGGED),
                10,
            ),
        ),
    ]
    if f.F_ID_RUN in clients.columns:
        rules.append(
            (
                c(f.F_ID_RUN).fill_null(0) >= t.id_enumeration,
                _sig(
                    "BEHAV-ID-ENUMERATION",
                    _fmt(
                        "walked {} consecutive object ids ({} distinct ids in all)",
                        c(f.F_ID_RUN),
                        c(f.F_IDS),
                    ),
                    c(f.F_ID_RUN),
                    t.id_enumeration,
                ),
            )
        )
    if r.R_DISALLOWED in clients.columns:
        rules += [
            (
                c(r.R_DISALLOWED).fill_null(0) >= t.robots_disallowed,
                _sig(
                    "ROBOTS-DISALLOWED",
                    _fmt(
                        "read robots.txt, then fetched {} disallowed URLs (e.g. {})",
                        c(r.R_DISALLOWED),
                        c(r.R_SAMPLE),
                    ),
                    c(r.R_DISALLOWED),
                    t.robots_disallowed,
                ),
            ),
            (
                ~browser_like
                & (c(r.R_DISALLOWED_ANY).fill_null(0) >= t.robots_disallowed_unread)
                & (c(f.F_ROBOTS) == 0),
                _sig(
                    "ROBOTS-UNREAD",
                    _fmt(
                        "never read robots.txt; fetched {} disallowed URLs (e.g. {})",
                        c(r.R_DISALLOWED_ANY),
                        c(r.R_SAMPLE),
                    ),
                    c(r.R_DISALLOWED_ANY),
                    t.robots_disallowed_unread,
                ),
            ),
            (
                (c(r.R_CRAWL_DELAY).fill_null(0) > 0)
                & (c(f.F_ROBOTS) > 0)
                & (c(r.R_MEDIAN_GAP) < c(r.R_CRAWL_DELAY))
                & (c(f.F_REQUESTS) >= 10),
                _sig(
                    "ROBOTS-CRAWL-DELAY",
                    _fmt(
                        "robots.txt asks {} s between requests; its median gap was {} s",
                        c(r.R_CRAWL_DELAY),
                        c(r.R_MEDIAN_GAP).round(2),
                    ),
                    c(r.R_MEDIAN_GAP),
                    0,
                ),
            ),
        ]
    signal_list = pl.concat_list(
        [pl.when(cond.fill_null(False)).then(sig) for cond, sig in rules]
    ).list.drop_nulls()
    out = clients.with_columns(signal_list.alias(SIGNALS))
    return out.with_columns(
        pl.col(SIGNALS)
        .list.eval(pl.element().struct.field("id").is_in(list(STRONG_IDS)))
        .list.sum()
        .alias(STRONG)
    )


def distributed_crawls(
    prefixes: pl.DataFrame, t: Thresholds, *, min_pages_factor: int = 1
) -> pl.DataFrame:
    """Prefixes where many addresses, each under the radar, crawl pages without assets."""
    c = pl.col
    share = c(f.F_ASSETS) / pl.max_horizontal(c(f.F_PAGES), pl.lit(1))
    hit = (
        (c("clients") >= t.prefix_min_clients)
        & (c(f.F_PAGES) >= t.prefix_min_pages * min_pages_factor)
        & (share <= t.prefix_max_asset_share)
    )
    return prefixes.filter(hit).with_columns(
        pl.concat_list(
            [
                _sig(
                    "PREFIX-DISTRIBUTED",
                    _fmt(
                        "{} addresses of {} fetched {} pages with {} assets, at most {} a minute each",
                        c("clients"),
                        c(f.F_PREFIX),
                        c(f.F_PAGES),
                        c(f.F_ASSETS),
                        c(f.F_PEAK_MINUTE),
                    ),
                    c("clients"),
                    t.prefix_min_clients,
                )
            ]
        ).alias(SIGNALS)
    )


def evidence_struct(
    source: str, ident: str, detail: str, value: float | None = None, threshold: float | None = None
) -> dict[str, Any]:
    return {"source": source, "id": ident, "detail": detail, "value": value, "threshold": threshold}


__all__ = [
    "SIGNALS",
    "STRONG",
    "STRONG_IDS",
    "Thresholds",
    "behaviour_signals",
    "distributed_crawls",
    "evidence_struct",
    "s",
]
