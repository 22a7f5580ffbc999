"""Caddy v2 JSON access logs (`log { format json }`), including older versions' fields."""

from __future__ import annotations

from typing import ClassVar, Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.sources.base import SKIP, LogSource, basic_reasons
from scraperwatch.sources.fields import LINE, REASON, normalize_ip, split_target

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
_DTYPE: Final = pl.Struct(
    {
        "ts": pl.String(),
        "logger": pl.String(),
        "msg": pl.String(),
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

# `docker compose logs` writes "service  | " before each line.
_DOCKER_PREFIX: Final = r"^[A-Za-z0-9_.-]+(?:-\d+)?\s+\|\s"


class CaddySource(LogSource):
    """Caddy's JSON access log; other loggers' lines in the same file are skipped and counted."""

    name: ClassVar[str] = "caddy"

    def parse(self, lines: pl.LazyFrame) -> pl.LazyFrame:
        raw = pl.col(LINE).str.replace(_DOCKER_PREFIX, "").str.strip_chars()
        is_object = raw.str.starts_with("{") & raw.str.ends_with("}")
        # Caddy's access loggers are named http.log.access[.NAME]; everything else is skipped.
        is_access = raw.str.contains(r'"logger"\s*:\s*"http\.log\.access', literal=False)
        doc = pl.when(is_object & is_access).then(raw).otherwise(pl.lit("{}")).str.json_decode(_DTYPE)
        req = doc.struct.field("request")
        hdr = req.struct.field("headers")
        ts_text = doc.struct.field("ts")
        ts_num = ts_text.cast(pl.Float64, strict=False)
        ts = pl.coalesce(
            (ts_num * 1_000_000).round().cast(pl.Int64).cast(pl.Datetime("us", "UTC")),
            ts_text.str.to_datetime(strict=False, time_unit="us", time_zone="UTC"),
        )
        duration_text = doc.struct.field("duration")
        duration = pl.coalesce(
            duration_text.cast(pl.Float64, strict=False),
            # duration_format string: "1.5ms", "2s" ... Go's time.Duration text
            _go_duration(duration_text),
        )
        remote = pl.coalesce(req.struct.field("remote_ip"), req.struct.field("remote_addr"))
        peer = normalize_ip(remote)
        client = normalize_ip(pl.when(req.struct.field("client_ip") != "").then(req.struct.field("client_ip")))
        path, query = split_target(req.struct.field("uri"))
        headers = {
            col: hdr.struct.field(name).list.join(", ").replace("", None) for name, col in _HEADERS.items()
        }
        return lines.with_columns(
            **{
                s.TS: ts,
                s.PEER_IP: peer,
                "_caddy_client": client,
                s.METHOD: req.struct.field("method"),
                s.HOST: req.struct.field("host").str.replace(r":\d+$", ""),
                s.PATH: path,
                s.QUERY: query,
                s.PROTOCOL: req.struct.field("proto"),
                s.STATUS: doc.struct.field("status").cast(pl.Int16, strict=False),
                s.BYTES_SENT: doc.struct.field("size"),
                s.REQUEST_TIME: duration,
                s.REMOTE_USER: doc.struct.field("user_id").replace("", None),
                **headers,
            }
        ).with_columns(
            pl.coalesce(
                basic_reasons(pl.col(LINE)),
                pl.when(~is_object).then(pl.lit(SKIP + "not a JSON object")),
                pl.when(~is_access).then(pl.lit(SKIP + "not an access-log entry")),
                pl.when(pl.col(s.TS).is_null()).then(pl.lit("no usable `ts` time")),
                pl.when(pl.col(s.PEER_IP).is_null()).then(
                    pl.lit("no usable remote_ip/remote_addr client address")
                ),
                pl.when(pl.col(s.STATUS).is_null()).then(pl.lit("no usable `status`")),
            ).alias(REASON)
        )


def _go_duration(text: pl.Expr) -> pl.Expr:
    """Go duration text ("1.5ms", "2s", "1m3s") to seconds, for the common single-unit case."""
    m = text.str.extract_groups(r"^([0-9.]+)(ns|µs|us|ms|s|m|h)$")
    value = m.struct.field("1").cast(pl.Float64, strict=False)
    unit = m.struct.field("2")
    scale = (
        pl.when(unit == "ns").then(1e-9)
        .when(unit.is_in(["µs", "us"])).then(1e-6)
        .when(unit == "ms").then(1e-3)
        .when(unit == "s").then(1.0)
        .when(unit == "m").then(60.0)
        .when(unit == "h").then(3600.0)
    )
    return value * scale
