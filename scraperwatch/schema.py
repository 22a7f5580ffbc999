"""The canonical schemas: requests (what every source produces), rejected lines, and offenders.

Every column is named once here, as a constant; other modules use the constants, never the
bare strings. docs/schema.md documents the same columns for users of the Parquet store.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import polars as pl

from scraperwatch.errors import SchemaError

UTC_TS: Final = pl.Datetime("us", "UTC")

# --- requests: one row per parsed log line -------------------------------------------------
TS: Final = "ts"  # request time, UTC
CLIENT_IP: Final = (
    "client_ip"  # the client: peer address, or from X-Forwarded-For via --trusted-proxy
)
PEER_IP: Final = "peer_ip"  # the TCP peer as logged ($remote_addr, Caddy remote_ip)
REMOTE_USER: Final = "remote_user"  # HTTP authentication user, when any
METHOD: Final = "method"
PATH: Final = "path"  # decoded of nginx's \xHH escapes, without the query string
QUERY: Final = "query"  # the part after '?', null when there is none
PROTOCOL: Final = "protocol"  # HTTP/1.1, HTTP/2.0 ...
REQUEST: Final = "request"  # the raw request line as logged (nginx); kept for malformed requests
STATUS: Final = "status"
BYTES_SENT: Final = "bytes_sent"  # body bytes sent to the client
REQUEST_TIME: Final = "request_time"  # seconds
REFERER: Final = "referer"
USER_AGENT: Final = "user_agent"
HOST: Final = "host"  # Host header or server name, without the port
X_FORWARDED_FOR: Final = "x_forwarded_for"
ACCEPT: Final = "accept"
ACCEPT_LANGUAGE: Final = "accept_language"
SEC_FETCH_SITE: Final = "sec_fetch_site"
SEC_FETCH_MODE: Final = "sec_fetch_mode"
SEC_FETCH_DEST: Final = "sec_fetch_dest"
SEC_CH_UA: Final = "sec_ch_ua"
SOURCE_FILE: Final = "source_file"
SOURCE_FORMAT: Final = "source_format"  # the reader that parsed the line, e.g. "nginx-combined"
LINE_NO: Final = "line_no"  # 1-based line number in the (decompressed) file

REQUEST_SCHEMA: Final[dict[str, pl.DataType]] = {
    TS: UTC_TS,
    CLIENT_IP: pl.String(),
    PEER_IP: pl.String(),
    REMOTE_USER: pl.String(),
    METHOD: pl.String(),
    PATH: pl.String(),
    QUERY: pl.String(),
    PROTOCOL: pl.String(),
    REQUEST: pl.String(),
    STATUS: pl.Int16(),
    BYTES_SENT: pl.Int64(),
    REQUEST_TIME: pl.Float64(),
    REFERER: pl.String(),
    USER_AGENT: pl.String(),
    HOST: pl.String(),
    X_FORWARDED_FOR: pl.String(),
    ACCEPT: pl.String(),
    ACCEPT_LANGUAGE: pl.String(),
    SEC_FETCH_SITE: pl.String(),
    SEC_FETCH_MODE: pl.String(),
    SEC_FETCH_DEST: pl.String(),
    SEC_CH_UA: pl.String(),
    SOURCE_FILE: pl.String(),
    SOURCE_FORMAT: pl.String(),
    LINE_NO: pl.Int64(),
}

# Columns a source must fill; the others may be null when the log does not carry them.
REQUIRED: Final = (TS, CLIENT_IP, STATUS, SOURCE_FILE, SOURCE_FORMAT, LINE_NO)

# Extra columns (nginx variables the schema does not know) are kept as String columns named
# after the variable with this prefix, e.g. `$upstream_addr` -> `var_upstream_addr`.
EXTRA_PREFIX: Final = "var_"


def conform(frame: pl.LazyFrame, *, keep_extra: bool = True) -> pl.LazyFrame:
    """Select, cast and order the canonical columns; missing optional ones become null.

    Raises SchemaError when a required column is missing: that is a bug in a source.
    """
    names = frame.collect_schema().names()
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise SchemaError(f"a log source produced no {', '.join(missing)} column: this is a bug")
    exprs = [
        (pl.col(c) if c in names else pl.lit(None)).cast(dtype).alias(c)
        for c, dtype in REQUEST_SCHEMA.items()
    ]
    if keep_extra:
        exprs += [pl.col(c).cast(pl.String) for c in sorted(names) if c.startswith(EXTRA_PREFIX)]
    return frame.select(exprs)


# --- rejected lines ----------------------------------------------------------------------
REASON: Final = "reason"
EXCERPT: Final = "excerpt"  # the first bytes of the line, for the message
REJECTED_SCHEMA: Final[dict[str, pl.DataType]] = {
    SOURCE_FILE: pl.String(),
    LINE_NO: pl.Int64(),
    REASON: pl.String(),
    EXCERPT: pl.String(),
}
EXCERPT_CHARS: Final = 120


def empty_rejected() -> pl.LazyFrame:
    return pl.LazyFrame(schema=REJECTED_SCHEMA)


# --- closed sets -------------------------------------------------------------------------
class Category(StrEnum):
    """What a client is. Policies map each category to an Action."""

    AI_TRAINING = "ai-training"  # crawls to train models or build data sets (GPTBot, CCBot)
    AI_SEARCH = "ai-search"  # indexes for an AI search or answer engine (OAI-SearchBot)
    AI_USER = "ai-user"  # fetches a page for a user's prompt (ChatGPT-User)
    SCRAPER = "scraper"  # scraping shown by behaviour, whatever it claims to be
    SCRAPING_TOOL = "scraping-tool"  # HTTP libraries, scraping frameworks, headless browsers
    FAKE_BROWSER = "fake-browser"  # impossible, obsolete or empty user agent
    SPOOFED_CRAWLER = (
        "spoofed-crawler"  # claims a search engine or AI crawler from outside its ranges
    )
    SEO_CRAWLER = "seo-crawler"  # commercial crawlers mining links and content (Ahrefs, Semrush)
    ARCHIVER = "archiver"  # archival and offline copies (ia_archiver, HTTrack, wget mirror)
    OTHER_BOT = "other-bot"  # some other self-declared bot
    SEARCH_ENGINE = "search-engine"  # standard search engines, verified by address
    FEDERATION = "federation"  # fediverse servers talking to this one
    LINK_PREVIEW = "link-preview"  # a link posted somewhere is being previewed
    MONITORING = "monitoring"  # uptime checks, the admin's own tools, fediverse statistics
    FEED_READER = "feed-reader"  # RSS and Atom readers
    BROWSER = "browser"  # people


class Action(StrEnum):
    BLOCK = "block"
    WATCH = "watch"
    ALLOW = "allow"


# --- verification of claimed crawlers against published ranges (detect/ranges.py) --------
OPERATOR: Final = "operator"  # a range operator: the stem of its rules/ranges/*.json snapshot
CLAIMED_OPERATOR: Final = "claimed_operator"  # the operator a client claims to be (rule `verify`)
VERIFICATION: Final = "verification"  # a Verification value
VERIFICATION_DETAIL: Final = "verification_detail"  # the evidence, one line a person can read


class Verification(StrEnum):
    """Whether a client that claims a crawler operator comes from that operator's addresses."""

    VERIFIED = "verified"  # inside the published ranges, or forward-confirmed reverse DNS
    SPOOFED = "spoofed"  # outside the published ranges (or reverse DNS proves otherwise)
    UNVERIFIABLE = "unverifiable"  # the operator publishes nothing we can check against


# --- offenders: one row per verdict (an address, or a prefix for a distributed crawl) -----
IP: Final = "ip"  # an address, or a CIDR for a prefix offender
SCOPE: Final = "scope"  # "address" | "prefix" | "asn"
CATEGORY: Final = "category"
ACTION: Final = "action"
CONFIDENCE: Final = "confidence"  # 0..1
RULES: Final = "rules"  # ids of the rules and heuristics that matched
TOKENS: Final = "tokens"  # user-agent product tokens of the matched rules (for UA blocks)
REQUESTS: Final = "requests"
BYTES: Final = "bytes"
FIRST_SEEN: Final = "first_seen"
LAST_SEEN: Final = "last_seen"
USER_AGENTS: Final = "user_agents"  # the most frequent user agents, most frequent first
PATHS: Final = "paths"  # the most requested paths
EVIDENCE: Final = "evidence"  # list of {source, id, detail, value, threshold}
WHY: Final = "why"  # one line a person can read
CLAUSE: Final = "clause"  # the terms clause the verdict cites
ASN: Final = "asn"
AS_ORG: Final = "as_org"
COUNTRY: Final = "country"

EVIDENCE_DTYPE: Final = pl.Struct(
    {
        "source": pl.String(),  # "rule" | "heuristic" | "verification" | "policy"
        "id": pl.String(),
        "detail": pl.String(),
        "value": pl.Float64(),
        "threshold": pl.Float64(),
    }
)

OFFENDER_SCHEMA: Final[dict[str, pl.DataType]] = {
    IP: pl.String(),
    SCOPE: pl.String(),
    CATEGORY: pl.String(),
    ACTION: pl.String(),
    CONFIDENCE: pl.Float64(),
    RULES: pl.List(pl.String()),
    TOKENS: pl.List(pl.String()),
    REQUESTS: pl.Int64(),
    BYTES: pl.Int64(),
    FIRST_SEEN: UTC_TS,
    LAST_SEEN: UTC_TS,
    USER_AGENTS: pl.List(pl.String()),
    PATHS: pl.List(pl.String()),
    EVIDENCE: pl.List(EVIDENCE_DTYPE),
    WHY: pl.String(),
    CLAUSE: pl.String(),
    ASN: pl.Int64(),
    AS_ORG: pl.String(),
    COUNTRY: pl.String(),
}


def empty_offenders() -> pl.DataFrame:
    return pl.DataFrame(schema=OFFENDER_SCHEMA)
