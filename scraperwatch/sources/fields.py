"""Raw log fields to canonical columns: nginx variables, escapes, addresses, times, requests."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

import polars as pl

from scraperwatch import schema as s

REASON: Final = "_reason"  # set on rows that become rejected records
LINE: Final = "_line"  # the raw line, for the excerpt of a rejected record
ROW: Final = "_n"  # the 1-based line number

# nginx variable -> canonical column. Variables not listed become `var_<name>` columns.
VARIABLE_COLUMNS: Final[dict[str, str]] = {
    "remote_addr": s.PEER_IP,
    "realip_remote_addr": s.PEER_IP,
    "remote_user": s.REMOTE_USER,
    "request": s.REQUEST,
    "request_method": s.METHOD,
    "server_protocol": s.PROTOCOL,
    "uri": s.PATH,
    "args": s.QUERY,
    "query_string": s.QUERY,
    "status": s.STATUS,
    "body_bytes_sent": s.BYTES_SENT,
    "request_time": s.REQUEST_TIME,
    "http_referer": s.REFERER,
    "http_user_agent": s.USER_AGENT,
    "http_x_forwarded_for": s.X_FORWARDED_FOR,
    "http_accept": s.ACCEPT,
    "http_accept_language": s.ACCEPT_LANGUAGE,
    "http_sec_fetch_site": s.SEC_FETCH_SITE,
    "http_sec_fetch_mode": s.SEC_FETCH_MODE,
    "http_sec_fetch_dest": s.SEC_FETCH_DEST,
    "http_sec_ch_ua": s.SEC_CH_UA,
}
# Several variables can fill the host; the first present wins.
HOST_VARIABLES: Final = ("host", "http_host", "server_name")
TIME_VARIABLES: Final = ("time_local", "time_iso8601", "msec")
# Variables decoded of nginx's \xHH escapes (they may carry any byte a client sent).
_TEXT_COLUMNS: Final = (
    s.REQUEST,
    s.PATH,
    s.QUERY,
    s.REFERER,
    s.USER_AGENT,
    s.REMOTE_USER,
    s.HOST,
    s.X_FORWARDED_FOR,
    s.ACCEPT,
    s.ACCEPT_LANGUAGE,
    s.SEC_CH_UA,
)

_REQUEST_RX: Final = (
    r"^(?P<method>[A-Za-z][A-Za-z0-9_-]*) (?P<target>[^ ]+)(?: (?P<protocol>HTTP/[0-9.]+))?$"
)


def nullify_dash(expr: pl.Expr) -> pl.Expr:
    """nginx writes `-` for an empty variable: that is null here."""
    return pl.when(expr == "-").then(None).otherwise(expr)


def _unescape_nginx(value: str) -> str:
    if "\\x" not in value:
        return value
    out = bytearray()
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "\\" and i + 3 < n + 0 and value[i + 1] == "x":
            h = value[i + 2 : i + 4]
            try:
                out.append(int(h, 16))
                i += 4
                continue
            except ValueError:
                pass
        out += ch.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "replace")


def _unescape_batch(series: pl.Series) -> pl.Series:
    mask = series.str.contains("\\x", literal=True).fill_null(False)
    if not mask.any():
        return series
    values = series.to_list()
    for idx in mask.arg_true().to_list():
        values[idx] = _unescape_nginx(values[idx])
    return pl.Series(series.name, values, dtype=pl.String)


def unescape_nginx(expr: pl.Expr) -> pl.Expr:
    """Decode nginx's `\\xHH` escapes (`\\x22` is `"`); invalid UTF-8 becomes U+FFFD."""
    return expr.map_batches(_unescape_batch, return_dtype=pl.String, is_elementwise=True)


def _normalize_one(value: str) -> str | None:
    v = value.strip()
    if v.startswith("["):  # [2001:db8::1]:443
        v = v[1:].split("]", 1)[0]
    elif v.count(":") == 1:  # 192.0.2.1:443
        v = v.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(v.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


_V4 = r"^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"


def _normalize_batch(series: pl.Series) -> pl.Series:
    # Plain dotted-quad IPv4 needs no work; everything else goes through ipaddress once per value.
    valid_v4 = series.str.contains(_V4).fill_null(False)
    if valid_v4.all():
        return series
    other = series.filter(~valid_v4 & series.is_not_null()).unique()
    mapping = {v: _normalize_one(v) for v in other.to_list()}
    return _apply(series, valid_v4, mapping)


def _apply(series: pl.Series, keep: pl.Series, mapping: dict[str, str | None]) -> pl.Series:
    frame = pl.DataFrame({"v": series, "k": keep})
    out = frame.select(
        pl.when(pl.col("k"))
        .then(pl.col("v"))
        .otherwise(pl.col("v").replace_strict(mapping, default=None, return_dtype=pl.String))
    ).to_series()
    return out.alias(series.name)


def normalize_ip(expr: pl.Expr) -> pl.Expr:
    """Addresses in one form: ports and brackets stripped, IPv6 compressed, v4-mapped as v4.

    A value that is no address becomes null (the row is then rejected).
    """
    return expr.map_batches(_normalize_batch, return_dtype=pl.String, is_elementwise=True)


def parse_time(expr: pl.Expr, variable: str) -> pl.Expr:
    """One nginx time variable to a UTC timestamp (null when it does not parse)."""
    if variable == "time_local":
        parsed = expr.str.to_datetime("%d/%b/%Y:%H:%M:%S %z", strict=False, time_unit="us")
    elif variable == "time_iso8601":
        parsed = expr.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False, time_unit="us")
    else:  # msec: seconds since the epoch with a millisecond fraction
        parsed = (
            (expr.cast(pl.Float64, strict=False) * 1_000_000)
            .round()
            .cast(pl.Int64)
            .cast(pl.Datetime("us", "UTC"))
        )
    return parsed.dt.convert_time_zone("UTC")


def split_target(target: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A request target into path and query (null when there is no `?`)."""
    parts = target.str.splitn("?", 2)
    return parts.struct.field("field_0"), parts.struct.field("field_1")


def variables_to_columns(
    frame: pl.LazyFrame, variables: Sequence[str], *, unescape: bool
) -> pl.LazyFrame:
    """Map raw nginx variable columns to canonical ones; rows that cannot be mapped get a reason.

    `frame` holds one String column per variable (named after it), plus LINE, ROW, REASON.
    """
    present = list(dict.fromkeys(variables))
    cols: dict[str, pl.Expr] = {}
    for var in present:
        target = VARIABLE_COLUMNS.get(var)
        if target is not None and target not in cols:
            cols[target] = nullify_dash(pl.col(var))
    host_var = next((v for v in HOST_VARIABLES if v in present), None)
    if host_var:
        cols[s.HOST] = nullify_dash(pl.col(host_var)).str.replace(r":\d+$", "")
    extras = {
        f"{s.EXTRA_PREFIX}{v}": nullify_dash(pl.col(v))
        for v in present
        if v not in VARIABLE_COLUMNS and v not in HOST_VARIABLES and v not in TIME_VARIABLES
        and v not in ("request_uri", "binary_remote_addr")
    }
    time_var = next(v for v in TIME_VARIABLES if v in present)
    out = frame.with_columns(
        **{k: v for k, v in cols.items()},
        **extras,
        **{s.TS: parse_time(pl.col(time_var), time_var)},
    )
    if unescape:
        out = out.with_columns(
            unescape_nginx(pl.col(c)) for c in _TEXT_COLUMNS if c in cols or c == s.HOST and host_var
        )
    names = set(cols)
    # The request line gives method, path, query and protocol unless the format has them apart.
    if s.REQUEST in names:
        req = pl.col(s.REQUEST).str.extract_groups(_REQUEST_RX)
        path, query = split_target(req.struct.field("target"))
        fill: dict[str, pl.Expr] = {}
        if s.METHOD not in names:
            fill[s.METHOD] = req.struct.field("method")
        if s.PATH not in names:
            fill[s.PATH] = path
            if s.QUERY not in names:
                fill[s.QUERY] = query
        if s.PROTOCOL not in names:
            fill[s.PROTOCOL] = req.struct.field("protocol")
        out = out.with_columns(**fill)
    elif "request_uri" in present:
        path, query = split_target(nullify_dash(pl.col("request_uri")))
        uri: dict[str, pl.Expr] = {s.PATH: path}
        if s.QUERY not in names:
            uri[s.QUERY] = query
        out = out.with_columns(**uri)
        if unescape:
            out = out.with_columns(unescape_nginx(pl.col(s.PATH)), unescape_nginx(pl.col(s.QUERY)))
    out = out.with_columns(
        pl.col(s.STATUS).cast(pl.Int16, strict=False),
        pl.col(s.BYTES_SENT).cast(pl.Int64, strict=False) if s.BYTES_SENT in names else pl.lit(None, pl.Int64).alias(s.BYTES_SENT),
        pl.col(s.REQUEST_TIME).cast(pl.Float64, strict=False) if s.REQUEST_TIME in names else pl.lit(None, pl.Float64).alias(s.REQUEST_TIME),
    )
    if s.PEER_IP in names:
        out = out.with_columns(normalize_ip(pl.col(s.PEER_IP)))
    return out.with_columns(
        pl.coalesce(
            pl.col(REASON),
            pl.when(pl.col(s.TS).is_null()).then(pl.lit(f"the time (${time_var}) is not in nginx's format")),
            pl.when(pl.col(s.STATUS).is_null()).then(pl.lit("the status is not a number")),
        ).alias(REASON)
    )
