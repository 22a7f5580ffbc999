"""Raw log fields to canonical columns: nginx variables, escapes, addresses, times, requests."""

from __future__ import annotations

import codecs
import functools
import ipaddress
import re
from collections.abc import Callable, Collection, Sequence
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
# `$proxy_add_x_forwarded_for` is X-Forwarded-For with $remote_addr appended ("a, b, peer").
PROXY_ADD_XFF: Final = "proxy_add_x_forwarded_for"
# Variables that give no column of their own (they fill path/query, or are binary).
_NO_COLUMN: Final = frozenset({"request_uri", "binary_remote_addr", PROXY_ADD_XFF})
# Canonical columns decoded of nginx's \xHH escapes (they may carry any byte a client sent).
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
    s.SEC_FETCH_SITE,
    s.SEC_FETCH_MODE,
    s.SEC_FETCH_DEST,
    s.SEC_CH_UA,
)

# The request line: METHOD TARGET [PROTOCOL], i.e. the regex
#     ^[A-Za-z][A-Za-z0-9_-]* [^ ]+(?: HTTP/[0-9.]+)?$
# Anything else (binary probes, TLS handshakes sent to a plain-HTTP port) keeps only the raw
# `request` column. The line is split on its first two spaces and the parts are checked (the
# method and protocol by regexes of their own, the target for being non-empty): the same
# verdict as that regex (tests/sources/test_fields_and_files.py), at half the cost, as the
# regex engine no longer runs over the target, the longest part.
_METHOD_RX: Final = r"^[A-Za-z][A-Za-z0-9_-]*$"
_PROTOCOL_RX: Final = r"^HTTP/[0-9.]+$"
_ESCAPE: Final = re.compile(r"\\x([0-9A-Fa-f]{2})")


def _nginx_replace(err: UnicodeError) -> tuple[str, int]:
    # Bytes that are not UTF-8 stay written as nginx wrote them (`\xE9`), so nothing is lost.
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return "".join(f"\\x{b:02X}" for b in bad), err.end


codecs.register_error("scraperwatch-nginx", _nginx_replace)


def nullify_dash(expr: pl.Expr) -> pl.Expr:
    """nginx writes `-` for an empty variable: that is null here."""
    return pl.when(expr == "-").then(None).otherwise(expr)


def decode_nginx(value: str) -> str:
    """Decode nginx's `\\xHH` escapes (`\\x22` is `"`).

    The bytes are decoded as UTF-8; a byte that is not part of valid UTF-8 stays written as
    `\\xHH` (upper-case hex, as nginx writes it) instead of becoming U+FFFD, so that binary
    probes stay distinct and nothing a client sent is lost.
    """
    if "\\x" not in value:
        return value
    pieces = _ESCAPE.split(value)  # text, hex, text, hex, ..., text
    if len(pieces) == 1:
        return value
    out = bytearray()
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(int(piece, 16))
        else:
            out += piece.encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "scraperwatch-nginx")


def _normalize_one(value: str) -> str | None:
    v = value.strip()
    if v == "unix:":  # nginx's $remote_addr for a connection on a unix socket
        return v
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


def normalize_address(value: str | None) -> str | None:
    """One address in the canonical form (ports and brackets stripped, IPv6 compressed)."""
    return None if value is None else _normalize_one(value)


# A dotted-quad IPv4 address in canonical form needs no work (the common case: no Python).
_V4: Final = r"^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"


_V4_RX: Final = re.compile(_V4)


def _canonical_v6() -> str:
    """IPv6 that is surely in the canonical (compressed, lower-case) form.

    Hex groups without leading zeros and no zero group written out, either eight of them or
    k + m <= 6 of them around one `::` (which then stands for at least two zero groups, the
    only zero run). Go and nginx write addresses so; anything else (upper case, leading
    zeros, a single `0` group, `::ffff:` mapped IPv4, zones, ports) goes to Python.
    """
    g = "[1-9a-f][0-9a-f]{0,3}"

    def groups(n_min: int, n_max: int) -> str:
        if n_max == 0:
            return ""
        rest = f"(?::{g}){{{max(n_min - 1, 0)},{n_max - 1}}}"
        return f"{g}{rest}" if n_min else f"(?:{g}{rest})?"

    forms = [f"{g}(?::{g}){{7}}"]
    forms += [f"{groups(k, k)}::{groups(0, 6 - k)}" for k in range(7)]
    return "|".join(forms)


# One regex for both families: a second and third pass over the text would cost as much again.
_CANONICAL: Final = f"^(?:{_V4[1:-1]}|{_canonical_v6()})$"


def canonical_address(expr: pl.Expr) -> pl.Expr:
    """True where an address is surely canonical already (false may still be canonical)."""
    return (expr.str.contains(_CANONICAL) & ~expr.str.starts_with("::ffff:")).fill_null(False)


_WORK_TEXT: Final = "_work_text"  # null unless the line holds an nginx escape
_WORK_ADDR: Final = "_work_addr"  # null unless an address is not a canonical IPv4


_Fix = Callable[[str], str | None]


@functools.lru_cache(maxsize=64)
def _positions(n: int) -> pl.Series:
    """0 .. n-1, for the positions of the marked rows of a batch of n (batches come in a few
    sizes)."""
    return pl.Series("_i", range(n), dtype=pl.UInt32)


def _fix_batch(batch: pl.Series, text: Collection[str], addresses: Collection[str]) -> pl.Series:
    """Decode escapes and normalise addresses in the rows of a batch that need it.

    Polars marked those rows (in parallel); a batch without any goes back untouched. Only
    the marked rows go through Python, and only a column with a value that changed is
    written back: a line with an escape has it in one field, seldom in all six.

    The streaming engine waits for this function, which holds the GIL, on every batch, so
    it calls only Series methods that run at once in this thread (`filter`, `scatter`,
    `to_list`): a Polars expression here (`gather`, `arg_true`, `with_columns`) queues on
    the thread pool that the engine keeps busy. That, and rebuilding every text column of a
    batch with one escaped line, made this function 0.75 s of the 5 s of 5M nginx lines.
    """
    columns = {series.name: series for series in batch.struct.unnest().get_columns()}
    jobs: tuple[tuple[str, Collection[str], _Fix], ...] = (
        (_WORK_TEXT, text, decode_nginx),
        (_WORK_ADDR, addresses, _normalize_cached),
    )
    changed = False
    for mark, cols, fix in jobs:
        marked = columns.get(mark)
        if not cols or marked is None or marked.null_count() == len(marked):
            continue
        rows: list[int] | None = None
        for col in cols:
            values = columns[col].filter(marked).to_list()
            fixed = [None if v is None else fix(v) for v in values]
            diff = [i for i, (old, new) in enumerate(zip(values, fixed, strict=True)) if old != new]
            if not diff:
                continue
            if rows is None:
                rows = _positions(len(marked)).filter(marked).to_list()
            where = [rows[i] for i in diff]
            new_values = pl.Series(col, [fixed[i] for i in diff], dtype=pl.String)
            columns[col] = columns[col].clone().scatter(where, new_values)
            changed = True
    if not changed:
        return batch
    return pl.DataFrame(list(columns.values())).to_struct(batch.name)


@functools.lru_cache(maxsize=65536)
def _normalize_cached(value: str) -> str | None:
    return value if _V4_RX.match(value) else _normalize_one(value)


def python_fixups(
    frame: pl.LazyFrame, *, text: Sequence[str], addresses: Sequence[str], escaped: pl.Expr | None
) -> pl.LazyFrame:
    """Decode nginx escapes in `text` columns and normalise `addresses` columns.

    Both need Python, so they run in one batch function over the rows that need it: Polars
    marks them (the line holds `\\x`; an address is not a canonical IPv4), and a batch
    without such rows passes through at no cost. One function for all columns, not one per
    column, keeps the streaming engine fast (../shared/PERF-NOTES.md).
    """
    text = list(text) if escaped is not None else []
    addresses = list(addresses)
    if not text and not addresses:
        return frame
    cols = [*text, *addresses]
    marks: dict[str, pl.Expr] = {}
    if addresses:
        odd = pl.any_horizontal(
            [~canonical_address(pl.col(a)) & pl.col(a).is_not_null() for a in addresses]
        )
        marks[_WORK_ADDR] = pl.when(odd).then(pl.lit(True))
    if escaped is not None and text:
        marks[_WORK_TEXT] = pl.when(escaped.fill_null(False)).then(pl.lit(True))
    dtype = pl.Struct({**{c: pl.String() for c in cols}, **dict.fromkeys(marks, pl.Boolean())})
    # The marks are computed before, apart: the streaming engine runs an expression that
    # holds a Python function on a blocking thread, with everything inside it.
    frame = frame.with_columns(**marks)
    fixed = pl.struct([*cols, *marks])
    fixed = fixed.map_batches(
        functools.partial(_fix_batch, text=frozenset(text), addresses=frozenset(addresses)),
        return_dtype=dtype,
        is_elementwise=True,
    )
    return frame.with_columns(fixed.alias("_fixed")).drop(cols).unnest("_fixed").drop(*marks)


def normalize_ip(expr: pl.Expr) -> pl.Expr:
    """Addresses in one form: ports and brackets stripped, IPv6 compressed, v4-mapped as v4.

    A value that is no address becomes null (the row is then rejected); `unix:` stays.
    """
    return expr.map_elements(_normalize_cached, return_dtype=pl.String, skip_nulls=True)


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
            .cast(pl.Int64, strict=False)
            .cast(pl.Datetime("us", "UTC"))
        )
    return parsed.dt.convert_time_zone("UTC")


def split_target(target: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A request target into path and query (null when there is no `?`)."""
    parts = target.str.splitn("?", 2)
    return parts.struct.field("field_0"), parts.struct.field("field_1")


def last_hop(chain: pl.Expr) -> pl.Expr:
    """The rightmost address of an X-Forwarded-For list."""
    return chain.str.split(",").list.last().str.strip_chars()


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
    if PROXY_ADD_XFF in present:
        chain = nullify_dash(pl.col(PROXY_ADD_XFF))
        if s.PEER_IP not in cols:
            cols[s.PEER_IP] = last_hop(chain)
        if s.X_FORWARDED_FOR not in cols:
            # Everything before the last comma: the header as the client's proxies sent it.
            before = chain.str.replace(r"\s*,?\s*[^,]*$", "")
            cols[s.X_FORWARDED_FOR] = pl.when(before != "").then(before)
    extras = {
        f"{s.EXTRA_PREFIX}{v}": nullify_dash(pl.col(v))
        for v in present
        if v not in VARIABLE_COLUMNS
        and v not in HOST_VARIABLES
        and v not in TIME_VARIABLES
        and v not in _NO_COLUMN
    }
    time_var = next(v for v in TIME_VARIABLES if v in present)
    out = frame.with_columns(
        **cols,
        **extras,
        **{s.TS: parse_time(pl.col(time_var), time_var)},
    )
    names = set(cols)
    # The request line gives method, path, query and protocol unless the format has them apart.
    # It is split before decoding: nginx never escapes the space and `?` that split it.
    if s.REQUEST in names:
        request = pl.col(s.REQUEST)
        out = out.with_columns(request.str.splitn(" ", 3).alias("_req"))
        req = pl.col("_req")
        method, request_target, protocol = (req.struct.field(f"field_{k}") for k in range(3))
        splits = (
            method.str.contains(_METHOD_RX)
            & (request_target != "")
            & (protocol.is_null() | protocol.str.contains(_PROTOCOL_RX))
        ).fill_null(False)
        out = out.with_columns(splits.alias("_splits"))
        splits = pl.col("_splits")
        if not {s.METHOD, s.PATH, s.QUERY, s.PROTOCOL} & names:
            # A request line that splits is kept in method, path, query and protocol: the
            # column keeps only those that do not (binary probes, TLS handshakes), which
            # saves a fifth of the Parquet written (docs/schema.md).
            out = out.with_columns(pl.when(~splits).then(request).alias(s.REQUEST))
        fill: dict[str, pl.Expr] = {}
        if s.METHOD not in names:
            fill[s.METHOD] = pl.when(splits).then(method)
        if s.PATH not in names:
            fill["_target"] = pl.when(splits).then(request_target).str.splitn("?", 2)
        if s.PROTOCOL not in names:
            fill[s.PROTOCOL] = pl.when(splits).then(protocol)
        out = out.with_columns(**fill).drop("_splits")
        if "_target" in fill:
            path, query = split_target_fields(pl.col("_target"))
            out = out.with_columns(
                path.alias(s.PATH), *([query.alias(s.QUERY)] if s.QUERY not in names else [])
            ).drop("_target")
            names |= {s.PATH, s.QUERY}
        out = out.drop("_req")
        names |= set(fill) - {"_target"}
    elif "request_uri" in present:
        path, query = split_target(nullify_dash(pl.col("request_uri")))
        out = out.with_columns(path.alias(s.PATH), query.alias(s.QUERY))
        names |= {s.PATH, s.QUERY}
    out = out.with_columns(
        pl.col(s.STATUS).cast(pl.Int16, strict=False),
        pl.col(s.BYTES_SENT).cast(pl.Int64, strict=False)
        if s.BYTES_SENT in names
        else pl.lit(None, pl.Int64).alias(s.BYTES_SENT),
        pl.col(s.REQUEST_TIME).cast(pl.Float64, strict=False)
        if s.REQUEST_TIME in names
        else pl.lit(None, pl.Float64).alias(s.REQUEST_TIME),
    )
    text = [c for c in _TEXT_COLUMNS if c in names] + sorted(extras)
    addresses = [s.PEER_IP] if s.PEER_IP in names else []
    escaped = pl.col(LINE).str.contains("\\x", literal=True) if unescape else None
    out = python_fixups(out, text=text, addresses=addresses, escaped=escaped)
    checks = [
        pl.when(pl.col(s.TS).is_null()).then(
            pl.lit(f"the time (${time_var}) is not in nginx's format")
        ),
        pl.when(pl.col(s.STATUS).is_null()).then(pl.lit("the status is not a number")),
    ]
    if s.PEER_IP in names:
        checks.append(
            pl.when(pl.col(s.PEER_IP).is_null()).then(
                pl.lit("the client address is not an IP address")
            )
        )
    return out.with_columns(pl.coalesce(pl.col(REASON), *checks).alias(REASON))


def split_target_fields(parts: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Path and query from a `splitn("?", 2)` struct."""
    return parts.struct.field("field_0"), parts.struct.field("field_1")
