"""Caddy v2 JSON access logs (`log { format json }`), including older versions' fields."""

from __future__ import annotations

from typing import ClassVar, Final

import polars as pl
import polars.selectors as cs

from scraperwatch import schema as s
from scraperwatch.sources.base import SKIP, SKIP_FOREIGN, LogSource, basic_reasons
from scraperwatch.sources.fields import LINE, REASON, python_fixups, split_target

_HEADERS: Final = {
    "User-Agent": s.USER_AGENT,
    "Referer": s.REFERER,
    "Accept": s.ACCEPT,
    "Accept-Language": s.ACCEPT_LANGUAGE,
    "Sec-Fetch-Site": s.SEC_FETCH_SITE,
    "Sec-Fetch-Mode": s.SEC_FETCH_MODE,
    "Sec-Fetch-Dest": s.SEC_FETCH_DEST,
    "Sec-Ch-Ua": s.SEC_CH_UA,
    "X-Forwarded-For": s.X_FORWARDED_FOR,
}

# Only the fields read are declared; json_decode ignores the others (resp_headers and so on).
# `ts` and `duration` are read as text: numbers by default, strings when the admin set
# `time_format` or `duration_format` in the Caddyfile.
DTYPE: Final = pl.Struct(
    {
        "ts": pl.String(),
        "logger": pl.String(),
        "request": pl.Struct(
            {
                "remote_ip": pl.String(),
                "remote_addr": pl.String(),  # Caddy < 2.5: "ip:port"
                "client_ip": pl.String(),  # Caddy >= 2.7: the client after trusted_proxies
                "proto": pl.String(),
                "method": pl.String(),
                "host": pl.String(),
                "uri": pl.String(),
                "headers": pl.Struct({h: pl.List(pl.String()) for h in _HEADERS}),
            }
        ),
        "user_id": pl.String(),
        "duration": pl.String(),
        "size": pl.Int64(),
        "status": pl.Int64(),
    }
)

# `docker compose logs` writes "service  | " before each line (and a time with --timestamps).
DOCKER_PREFIX: Final = r"^[A-Za-z0-9_.-]+\s+\|\s(?:\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)\s)?"
# The client after Caddy's trusted_proxies (Caddy >= 2.7); the reader makes it client_ip.
CADDY_CLIENT: Final = "_caddy_client"
# Columns between decoding and `fields`: the decoded JSON, whether the line is a JSON object,
# and whether it is an access logger's.
DOC: Final = "_doc"
_REQUEST: Final = f"{DOC}_request"  # DOC's request and its headers, unnested (`fields`)
_HEADERS_COLUMN: Final = f"{_REQUEST}_headers"
IS_OBJECT: Final = "_object"
IS_ACCESS: Final = "_access"
# Set by the fast reader (caddyfast.py) on rows it cannot answer for exactly: rejected with
# UNSURE_REASON, which makes the reader read the file again with the line reader.
UNSURE: Final = "_unsure"
UNSURE_REASON: Final = (
    "a value the fast reader cannot read exactly (a number that is no plain integer where "
    "Caddy writes one, or an escape in ts or duration)"
)
# Caddy's access loggers are named http.log.access[.NAME]; every other logger is skipped.
ACCESS_LOGGER: Final = "http.log.access"
# Caddy's float seconds, read exactly, and the steps of reading `ts` (`_with_caddy_time`).
_SECONDS: Final = pl.Decimal(38, 18)
_TS_EXACT: Final = "_ts_exact"
_TS_NUMBER: Final = "_ts_number"


class CaddySource(LogSource):
    """Caddy's JSON access log; other loggers' lines in the same file are skipped and counted."""

    name: ClassVar[str] = "caddy"

    def parse(self, lines: pl.LazyFrame) -> pl.LazyFrame:
        return self.fields(self.decode(lines))

    def decode(self, lines: pl.LazyFrame) -> pl.LazyFrame:
        """Lines to DOC (the decoded JSON), IS_OBJECT and IS_ACCESS (see `fields`)."""
        line = pl.col(LINE)
        # The prefix regex and the strip only on lines that are not a bare JSON object: on
        # the others they would copy every line (a kilobyte each) for nothing.
        bare = line.str.starts_with("{") & line.str.ends_with("}")
        odd = pl.when(~bare).then(line).str.replace(DOCKER_PREFIX, "").str.strip_chars()
        raw = pl.coalesce(odd, line)
        frame = lines.with_columns(raw.alias("_raw"))
        raw = pl.col("_raw")
        is_object = raw.str.starts_with("{") & raw.str.ends_with("}")
        # Is it an access logger's line? (Caddy writes no spaces there: the literal test
        # answers for nearly every line, and the regex runs only where it fails.)
        exact = raw.str.contains('"logger":"http.log.access', literal=True)
        spaced = (
            pl.when(~exact)
            .then(raw)
            .str.contains(r'"logger"\s*:\s*"http\.log\.access', literal=False)
        )
        is_access = exact | spaced.fill_null(False)
        # The JSON is decoded once into a struct column (fields taken from an expression
        # would make Polars decode it once per field).
        frame = frame.with_columns(
            pl.when(is_object & is_access)
            .then(raw)
            .otherwise(pl.lit("{}"))
            .str.json_decode(DTYPE)
            .alias(DOC),
            is_object.alias(IS_OBJECT),
            is_access.alias(IS_ACCESS),
        ).drop("_raw")
        # The text test above could be fooled by a nested "logger" key: for a decoded line the
        # decoded field decides, as in the fast reader. (A line cut short keeps the text test:
        # an access-log line that lost its end is rejected, not skipped.)
        logger = pl.col(DOC).struct.field("logger").str.starts_with(ACCESS_LOGGER)
        access = pl.col(IS_ACCESS) & (~pl.col(IS_OBJECT) | logger.fill_null(False))
        return frame.with_columns(access.alias(IS_ACCESS))

    def fields(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The request columns and REASON from decoded lines: LINE, ROW, DOC (a struct of the
        `DTYPE` fields), IS_OBJECT (the line is a JSON object) and IS_ACCESS (of an access
        logger). Shared by the line reader above and the fast reader (caddyfast.py)."""
        # The decoded struct is unnested once into flat columns (`_doc_ts`,
        # `_doc_request_uri`, `_doc_request_headers_User-Agent`, ...): each `struct.field`
        # in an expression costs 6 to 15 ms a million rows, and the fields below take 26 of
        # them; unnesting all of them costs 17 ms (a tenth of a Caddy read's Polars time).
        frame = (
            frame.unnest(DOC, separator="_")
            .unnest(_REQUEST, separator="_")
            .unnest(_HEADERS_COLUMN, separator="_")
        )

        def doc(name: str) -> pl.Expr:
            return pl.col(f"{DOC}_{name}")

        def req(name: str) -> pl.Expr:
            return pl.col(f"{_REQUEST}_{name}")

        def hdr(name: str) -> pl.Expr:
            return pl.col(f"{_HEADERS_COLUMN}_{name}")

        duration_text = doc("duration")
        seconds = duration_text.cast(pl.Float64, strict=False)
        duration = pl.coalesce(
            seconds,
            # duration_format string: "1.5ms", "2s" ... Go's time.Duration text (the regex
            # only where the text is no number: a third of the cost on a default log)
            _go_duration(pl.when(seconds.is_null()).then(duration_text)),
        )
        client = req("client_ip")
        host = req("host")
        path, query = split_target(req("uri"))
        headers = {col: _join(hdr(name)) for name, col in _HEADERS.items()}
        frame = _with_caddy_time(frame, doc("ts"))
        frame = frame.with_columns(
            **{
                s.PEER_IP: pl.coalesce(req("remote_ip"), req("remote_addr")),
                CADDY_CLIENT: pl.when(client != "").then(client),
                s.METHOD: req("method"),
                s.HOST: pl.when(host.str.contains(":", literal=True))
                .then(host.str.replace(r":\d+$", ""))
                .otherwise(host),
                s.PATH: path,
                s.QUERY: query,
                s.PROTOCOL: req("proto"),
                s.STATUS: doc("status").cast(pl.Int16, strict=False),
                s.BYTES_SENT: doc("size"),
                s.REQUEST_TIME: duration,
                s.REMOTE_USER: _empty_is_null(doc("user_id")),
                **headers,
            }
        )
        # An empty header is null, as an absent one (a step of its own: inside the step
        # above, Polars would join each header twice).
        frame = frame.with_columns(_empty_is_null(pl.col(col)) for col in _HEADERS.values())
        frame = python_fixups(frame, text=(), addresses=(s.PEER_IP, CADDY_CLIENT), escaped=None)
        unsure = (
            [pl.when(pl.col(UNSURE)).then(pl.lit(UNSURE_REASON))]
            if UNSURE in frame.collect_schema().names()
            else []
        )
        return frame.with_columns(
            pl.coalesce(
                *unsure,
                basic_reasons(pl.col(LINE)),
                pl.when(~pl.col(IS_OBJECT) & pl.col(IS_ACCESS)).then(
                    pl.lit("an access-log entry that is not a whole JSON object (cut short?)")
                ),
                pl.when(~pl.col(IS_OBJECT)).then(pl.lit(SKIP_FOREIGN + "not a JSON object")),
                pl.when(~pl.col(IS_ACCESS)).then(pl.lit(SKIP + "not an access-log entry")),
                pl.when(pl.col(s.TS).is_null()).then(
                    pl.lit(
                        "no usable `ts` time (Caddy's time_format must be a number or "
                        "RFC 3339 with a zone)"
                    )
                ),
                pl.when(pl.col(s.PEER_IP).is_null()).then(
                    pl.lit("no usable remote_ip/remote_addr client address")
                ),
                pl.when(pl.col(s.STATUS).is_null()).then(pl.lit("no usable `status`")),
            ).alias(REASON)
        ).drop(cs.starts_with(f"{DOC}_"), IS_OBJECT, IS_ACCESS, *([UNSURE] if unsure else []))


def _empty_is_null(expr: pl.Expr) -> pl.Expr:
    # (Not `.replace("", None)`: that makes Polars' streaming engine hold every row in memory.)
    return pl.when(expr != "").then(expr)


def _join(values: pl.Expr) -> pl.Expr:
    """A header's values joined with ", " (as HTTP allows). Nearly every header is sent once:
    `list.join` only for the others, the first value for those (a third of the cost). (Not
    a Python function per batch: cheaper alone, it stalls the streaming engine.)"""
    several = pl.when(values.list.len() > 1).then(values).list.join(", ")
    return pl.coalesce(several, values.list.first())


def _with_caddy_time(frame: pl.LazyFrame, ts_text: pl.Expr) -> pl.LazyFrame:
    """Add TS from Caddy's `ts`: float seconds by default; other `time_format` settings give
    milli-, micro- or nanoseconds as numbers, or text (RFC 3339, ISO 8601).

    Each step is a column of its own: an expression used several times inside another is
    computed again each time (the float, in the `when` chain below, seven times).
    """
    # Seconds as decimal text are read exactly (no float rounding): "1716723772.6014807" as a
    # decimal, its first 7 decimals kept, rounded half up to the microsecond. (A decimal is
    # read 6 times faster than the text split into its digits, as this did before. It holds
    # 18 decimals, Caddy writes at most 9; text with more is rounded to 18 first.) Only text
    # of at most 10 integer digits is cast: the product of a larger number overflows the
    # decimal, which Polars 2.2 raises as an error for the whole read (2.1 gave null).
    plain = ts_text.str.contains(r"^\d{1,10}(?:\.\d+)?$")
    seconds = pl.when(plain).then(ts_text).cast(_SECONDS, strict=False)
    tenths_of_us = (seconds * 10_000_000).cast(pl.Int64, strict=False)
    frame = frame.with_columns(((tenths_of_us + 5) // 10).alias(_TS_EXACT))
    exact = pl.col(_TS_EXACT)
    # The rest only where that fails (both sides of a coalesce are computed for every row).
    frame = frame.with_columns(
        pl.when(exact.is_null()).then(ts_text).cast(pl.Float64, strict=False).alias(_TS_NUMBER)
    )
    num = pl.col(_TS_NUMBER)
    # Seconds since 1970 stay below 1e11 until the year 5138: larger numbers are finer units.
    scaled = (
        pl.when(num < 1e11)
        .then(num * 1_000_000)
        .when(num < 1e14)
        .then(num * 1_000)
        .when(num < 1e17)
        .then(num)
        .otherwise(num / 1_000)
    )
    micros = pl.coalesce(exact, scaled.round().cast(pl.Int64, strict=False))
    # Text times only for the rows that are no number: Polars infers a text format per batch,
    # which is slow on numbers.
    text = pl.when(exact.is_null() & num.is_null()).then(ts_text)
    ts = pl.coalesce(
        micros.cast(pl.Datetime("us", "UTC")),
        text.str.to_datetime(strict=False, time_unit="us", time_zone="UTC"),
    )
    return frame.with_columns(ts.alias(s.TS)).drop(_TS_EXACT, _TS_NUMBER)


def _go_duration(text: pl.Expr) -> pl.Expr:
    """Go duration text ("1.5ms", "2s", "1m3s") to seconds, for the common single-unit case."""
    m = text.str.extract_groups(r"^([0-9.]+)(ns|µs|us|ms|s|m|h)$")
    value = m.struct.field("1").cast(pl.Float64, strict=False)
    unit = m.struct.field("2")
    scale = (
        pl.when(unit == "ns")
        .then(1e-9)
        .when(unit.is_in(["µs", "us"]))
        .then(1e-6)
        .when(unit == "ms")
        .then(1e-3)
        .when(unit == "s")
        .then(1.0)
        .when(unit == "m")
        .then(60.0)
        .when(unit == "h")
        .then(3600.0)
    )
    return value * scale
