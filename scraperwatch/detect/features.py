"""Per-client and per-prefix aggregates over the scanned window: rates, page/asset mix, errors."""

from __future__ import annotations

from typing import Final

import polars as pl

from scraperwatch import schema as s

# Feature columns (one row per client address).
F_REQUESTS: Final = "requests"
F_BYTES: Final = "bytes"
F_FIRST: Final = "first_seen"
F_LAST: Final = "last_seen"
F_PATHS: Final = "distinct_paths"
F_URLS: Final = "distinct_urls"
F_UAS: Final = "distinct_uas"
F_PAGES: Final = "pages"
F_ASSETS: Final = "assets"
F_API: Final = "api_requests"
F_FEDERATION: Final = "federation_requests"
F_AUTH_ERRORS: Final = "auth_errors"  # 401 and 403
F_RATE_LIMITED: Final = "rate_limited"  # 429: Mastodon's rack-attack
F_NOT_FOUND: Final = "not_found"
F_ROBOTS: Final = "robots_fetches"
F_ROBOTS_FIRST: Final = "robots_first"
F_HOURS: Final = "hours_active"
F_PAGINATION: Final = "pagination_requests"
F_CANARY: Final = "canary_hits"
F_HEADERS_LOGGED: Final = "headers_logged"  # rows whose log carries request headers (Caddy)
F_SEC_FETCH: Final = "sec_fetch_rows"
F_NO_REFERER: Final = "no_referer"  # requests without a Referer
F_PEAK_MINUTE: Final = "peak_per_minute"
F_PEAK_10S: Final = "peak_per_10s"
F_PEAK_PAGES_MINUTE: Final = "peak_pages_per_minute"
F_PREFIX: Final = "prefix"

_ASSET_RX: Final = (
    r"(?i)\.(?:css|js|mjs|map|png|jpe?g|gif|svg|webp|avif|ico|bmp|woff2?|ttf|otf|eot|"
    r"mp4|webm|m4a|mp3|ogg|opus|wav)$|^/(?:packs|assets|static|emoji|system|media|avatars|headers)/"
)
# Federation and discovery endpoints (ActivityPub, WebFinger, NodeInfo).
_FEDERATION_RX: Final = (
    r"^/(?:\.well-known/|nodeinfo/|inbox$|actor$|users/[^/]+(?:/(?:inbox|outbox|followers|"
    r"following|collections/[^/]+|statuses/\d+(?:/activity)?))?$)"
)
# Mastodon's paginated listings: the endpoints a harvester walks with max_id/min_id/since_id.
_PAGINATED_RX: Final = (
    r"^/(?:api/v1/timelines/|api/v1/accounts/[^/]+/statuses|api/v1/accounts/[^/]+/followers|"
    r"api/v1/accounts/[^/]+/following|api/v2/search|users/[^/]+/outbox|users/[^/]+/followers|"
    r"users/[^/]+/following|@[^/]+/?$|tags/)"
)
_PAGE_PARAM_RX: Final = r"(?:^|&)(?:max_id|min_id|since_id|page|offset)="


def is_asset(path: pl.Expr) -> pl.Expr:
    return path.str.contains(_ASSET_RX).fill_null(False)


def is_federation(path: pl.Expr) -> pl.Expr:
    return path.str.contains(_FEDERATION_RX).fill_null(False)


def is_api(path: pl.Expr) -> pl.Expr:
    return path.str.starts_with("/api/").fill_null(False)


def is_page(path: pl.Expr, method: pl.Expr) -> pl.Expr:
    """A document a person would open: a GET that is no asset, API, federation or robots.txt."""
    return (
        (method == "GET").fill_null(False)
        & ~is_asset(path)
        & ~is_api(path)
        & ~is_federation(path)
        & (path != "/robots.txt").fill_null(True)
    )


def prefix_of(ip: pl.Expr, *, v4_bits: int = 24, v6_bits: int = 48) -> pl.Expr:
    """The /24 (IPv4) or /48 (IPv6) that holds an address, as CIDR text."""
    return ip.map_batches(
        lambda batch: _prefix_batch(batch, v4_bits, v6_bits),
        return_dtype=pl.String,
        is_elementwise=True,
    )


def _prefix_batch(batch: pl.Series, v4_bits: int, v6_bits: int) -> pl.Series:
    import ipaddress

    out: list[str | None] = []
    cache: dict[str, str | None] = {}
    for value in batch.to_list():
        if value is None:
            out.append(None)
            continue
        if value not in cache:
            try:
                addr = ipaddress.ip_address(value)
            except ValueError:
                cache[value] = None
            else:
                bits = v4_bits if addr.version == 4 else v6_bits
                cache[value] = str(ipaddress.ip_network(f"{value}/{bits}", strict=False))
        out.append(cache[value])
    return pl.Series(batch.name, out, dtype=pl.String)


def client_features(requests: pl.LazyFrame, *, canary: tuple[str, ...] = ()) -> pl.LazyFrame:
    """One row per client address with the counts the heuristics judge."""
    path = pl.col(s.PATH)
    status = pl.col(s.STATUS)
    canary_hit = (
        pl.any_horizontal([path.str.starts_with(c) for c in canary]).fill_null(False)
        if canary
        else pl.lit(False)
    )
    url = pl.concat_str([path, pl.col(s.QUERY)], separator="?", ignore_nulls=True)
    base = requests.group_by(s.CLIENT_IP).agg(
        pl.len().alias(F_REQUESTS),
        pl.col(s.BYTES_SENT).sum().alias(F_BYTES),
        pl.col(s.TS).min().alias(F_FIRST),
        pl.col(s.TS).max().alias(F_LAST),
        # Breadth counts documents and API calls, not assets: a person scrolling a timeline
        # loads hundreds of distinct images.
        path.filter(~is_asset(path)).n_unique().alias(F_PATHS),
        url.filter(~is_asset(path)).n_unique().alias(F_URLS),
        pl.col(s.USER_AGENT).n_unique().alias(F_UAS),
        is_page(path, pl.col(s.METHOD)).sum().alias(F_PAGES),
        is_asset(path).sum().alias(F_ASSETS),
        is_api(path).sum().alias(F_API),
        is_federation(path).sum().alias(F_FEDERATION),
        status.is_in([401, 403]).sum().alias(F_AUTH_ERRORS),
        (status == 429).sum().alias(F_RATE_LIMITED),
        (status == 404).sum().alias(F_NOT_FOUND),
        (path == "/robots.txt").sum().alias(F_ROBOTS),
        pl.col(s.TS).filter(path == "/robots.txt").min().alias(F_ROBOTS_FIRST),
        pl.col(s.TS).dt.truncate("1h").n_unique().alias(F_HOURS),
        (
            path.str.contains(_PAGINATED_RX).fill_null(False)
            & pl.col(s.QUERY).str.contains(_PAGE_PARAM_RX).fill_null(False)
        )
        .sum()
        .alias(F_PAGINATION),
        canary_hit.sum().alias(F_CANARY),
        pl.col(s.REFERER).is_null().sum().alias(F_NO_REFERER),
        pl.col(s.ACCEPT).is_not_null().sum().alias(F_HEADERS_LOGGED),
        pl.col(s.SEC_FETCH_MODE).is_not_null().sum().alias(F_SEC_FETCH),
    )
    # Rates count what a person would not fetch in bulk: assets arrive by the dozen with each
    # page a browser opens, so they are left out of the peaks.
    not_asset = ~is_asset(path)
    per_minute = (
        requests.group_by(s.CLIENT_IP, pl.col(s.TS).dt.truncate("1m").alias("_m"))
        .agg(not_asset.sum().alias("_n"), is_page(path, pl.col(s.METHOD)).sum().alias("_p"))
        .group_by(s.CLIENT_IP)
        .agg(pl.col("_n").max().alias(F_PEAK_MINUTE), pl.col("_p").max().alias(F_PEAK_PAGES_MINUTE))
    )
    per_10s = (
        requests.group_by(s.CLIENT_IP, pl.col(s.TS).dt.truncate("10s").alias("_t"))
        .agg(not_asset.sum().alias("_n"))
        .group_by(s.CLIENT_IP)
        .agg(pl.col("_n").max().alias(F_PEAK_10S))
    )
    return base.join(per_minute, on=s.CLIENT_IP, how="left").join(
        per_10s, on=s.CLIENT_IP, how="left"
    )


def agent_pairs(requests: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (client, user agent): requests, bytes, first and last seen, page/asset mix."""
    path = pl.col(s.PATH)
    return requests.group_by(s.CLIENT_IP, s.USER_AGENT).agg(
        pl.len().alias(F_REQUESTS),
        pl.col(s.BYTES_SENT).sum(),
        pl.col(s.TS).min().alias(F_FIRST),
        pl.col(s.TS).max().alias(F_LAST),
        is_page(path, pl.col(s.METHOD)).sum().alias(F_PAGES),
        is_asset(path).sum().alias(F_ASSETS),
    )


def prefix_features(
    clients: pl.DataFrame, *, v4_bits: int = 24, v6_bits: int = 48, key: pl.Expr | None = None
) -> pl.DataFrame:
    """Per-group sums over client features, to find one behaviour spread over many addresses.

    Groups are the /24 (IPv4) and /48 or /64 (IPv6) prefixes, or any `key` (an ASN column).
    """
    group = (
        key if key is not None else prefix_of(pl.col(s.CLIENT_IP), v4_bits=v4_bits, v6_bits=v6_bits)
    )
    return (
        clients.with_columns(group.alias(F_PREFIX))
        .filter(pl.col(F_PREFIX).is_not_null())
        .group_by(F_PREFIX)
        .agg(
            pl.len().alias("clients"),
            pl.col(F_REQUESTS).sum(),
            pl.col(F_BYTES).sum(),
            pl.col(F_PAGES).sum(),
            pl.col(F_ASSETS).sum(),
            pl.col(F_PATHS).sum(),
            pl.col(F_URLS).sum(),
            pl.col(F_FIRST).min(),
            pl.col(F_LAST).max(),
            pl.col(F_PEAK_MINUTE).max(),
            pl.col(s.CLIENT_IP).sort().alias("members"),
        )
        .sort(F_PREFIX)
    )


F_IDS: Final = "distinct_ids"  # distinct numeric object ids requested
F_ID_RUN: Final = "id_run"  # the longest run of consecutive ids among them

# The id in a path to one object: /api/v1/accounts/123, /api/v1/statuses/123, /@user/123,
# /users/user/statuses/123, /notice/123 ... (its last all-digit segment).
_OBJECT_ID_RX: Final = r"/(\d{1,20})(?:/[a-z_]+)?/?$"


def id_enumeration(requests: pl.LazyFrame, clients: pl.Series) -> pl.LazyFrame:
    """Per client: distinct object ids requested, and the longest run of consecutive ones.

    Mastodon's status ids are snowflakes (time-based, never consecutive), but account ids on
    many instances, and other software's ids, are counters: walking them one by one is how a
    harvester enumerates what is not linked anywhere.
    """
    ids = (
        requests.filter(pl.col(s.CLIENT_IP).is_in(clients.implode()))
        .select(
            s.CLIENT_IP,
            pl.col(s.PATH).str.extract(_OBJECT_ID_RX, 1).cast(pl.Int64, strict=False).alias("_id"),
        )
        .drop_nulls("_id")
        .unique()
        .sort(s.CLIENT_IP, "_id")
    )
    step = (pl.col("_id").diff().over(s.CLIENT_IP) != 1).fill_null(True)
    return (
        ids.with_columns(step.cum_sum().over(s.CLIENT_IP).alias("_run"))
        .group_by(s.CLIENT_IP, "_run")
        .agg(pl.len().alias("_len"))
        .group_by(s.CLIENT_IP)
        .agg(pl.col("_len").sum().alias(F_IDS), pl.col("_len").max().alias(F_ID_RUN))
    )
